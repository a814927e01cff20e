/** The runtime-listing project's extra bindings (vitest.config.ts, test/runtime-listing/wrangler.toml). */
declare namespace Cloudflare {
  interface Env {
    INDEX: D1Database;
    INDEX_MIGRATIONS: import("cloudflare:test").D1Migration[];
    SUBJECTS: DurableObjectNamespace<import("../../src/subjects/subject-index").SubjectIndex>;
  }
}
