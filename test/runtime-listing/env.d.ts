/** The runtime-listing project's extra bindings (vitest.config.ts). */
declare namespace Cloudflare {
  interface Env {
    INDEX: D1Database;
    INDEX_MIGRATIONS: import("cloudflare:test").D1Migration[];
  }
}
