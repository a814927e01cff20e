/** The bindings wrangler.toml gives the Worker, as `env` from `cloudflare:test` sees them. */
declare namespace Cloudflare {
  interface Env {
    UPLOADS: DurableObjectNamespace<import("../../src/upload/upload-object").UploadObject>;
    BUCKET: R2Bucket;
  }
}
