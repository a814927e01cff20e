/** The runtime-quotas project's bindings beyond test/runtime/env.d.ts (vitest.config.ts, root wrangler.toml). */
declare namespace Cloudflare {
  interface Env {
    SUBJECTS: DurableObjectNamespace<import("../../src/subjects/subject-index").SubjectIndex>;
  }
}
