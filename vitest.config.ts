import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Test-only JWT keys (test/fixtures): the access-control project runs the gateway with AUTH_MODE=jwt. */
const testKeys = JSON.parse(readFileSync(new URL("./test/fixtures/jwt-test-keys.json", import.meta.url), "utf8")) as {
  hs256Secret: string;
  jwks: unknown;
};

/**
 * Kinds of test, one `npm test`:
 *  - unit: pure functions (parsing, part planning) in Node;
 *  - runtime: the gateway inside workerd with real Durable Object and R2
 *    bindings (@cloudflare/vitest-plugin), default configuration;
 *  - runtime-auth: the same with access control, limits and key templates on;
 *  - runtime-quotas: quotas per subject (SUBJECT_MAX_*, token claims) with access control on;
 *  - runtime-library: a Worker of its own mounting the gateway through the
 *    library API (createTusGateway with options and callbacks);
 *  - e2e: a real local server (wrangler dev) driven by real tus clients.
 *  - browser: the upload page (page/) in a real Chromium against a real local server.
 *  - readme: the documentation's client snippets (the README's first upload and
 *    docs/clients.md: curl in both dialects, tus-js-client in Node and in Chromium,
 *    Uppy, tuspy), read from those files and run against a real local server.
 *  - faults: cut, stalled and racing requests, restarts, expiry races and
 *    failing R2 against real local servers (test/faults);
 *  - soak: a one-minute seeded chaos soak, every client under every fault at once (test/soak);
 *  - faults-load: 200 and 20 concurrent uploads and a 10,000-request fuzz run;
 *    not part of `npm test` (`npm run test:faults` runs both fault projects).
 *
 * How they share the machine: every project is in one group, and vitest runs
 * up to WORKERS test files at a time across all of them. Most files spend
 * their time waiting on another process (workerd, wrangler dev, Chromium) or
 * on the clock (expiry, retry delays), so three at a time keep a 2-core
 * machine busy where one at a time left it mostly idle. Each end-to-end file
 * starts its own servers on free ports, so files do not see each other's
 * uploads. VITEST_MAX_WORKERS overrides the number (1 runs them one by one).
 */
const WORKERS = 3;

/** The upload index's schema (migrations/), applied before each test file by test/runtime-listing/apply-migrations.ts. */
const indexMigrations = await readD1Migrations(new URL("./migrations", import.meta.url).pathname);

/** Access control as runtime-auth has it (test/fixtures keys, audience, issuer). */
const jwtBindings = {
  AUTH_MODE: "jwt",
  JWT_SECRET: testKeys.hs256Secret,
  JWT_JWKS: JSON.stringify(testKeys.jwks),
  JWT_AUDIENCE: "tus-edge-tests",
  JWT_ISSUER: "https://issuer.test",
};

/**
 * The Node-side projects reuse their worker processes from file to file
 * (`isolate: false`): their helpers keep no state between files, and loading
 * vitest, tus-js-client and playwright once per worker instead of once per
 * file saves a second or two each time.
 */
const nodeSide = { isolate: false } as const;

/**
 * Which files start first. Vitest's own order takes projects by name
 * (browser, e2e, faults …), so the longest file of all (faults' cuts) started
 * last and ran alone at the end. Here: the longest first across projects, by
 * each file's duration in the previous run (vitest keeps them in
 * node_modules/.vite); files it has not timed yet first, by project in
 * COLD_ORDER, the projects with long scenarios ahead.
 */
const COLD_ORDER = ["faults", "soak", "e2e", "runtime-small-buffers", "runtime", "runtime-listing", "runtime-quotas", "browser", "readme", "runtime-library", "runtime-auth", "unit"];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const duration = (spec: TestSpecification) => this.ctx.cache.getTestSpecificationResult(spec)?.duration;
    const rank = (spec: TestSpecification) => {
      const at = COLD_ORDER.indexOf(spec.project.name);
      return at < 0 ? COLD_ORDER.length : at;
    };
    return [...files].sort((a, b) => {
      const byGroup = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
      if (byGroup !== 0) return byGroup;
      const [durationA, durationB] = [duration(a), duration(b)];
      if (durationA !== undefined && durationB !== undefined) return durationB - durationA;
      if (durationA !== undefined || durationB !== undefined) return durationA === undefined ? -1 : 1;
      return rank(a) - rank(b);
    });
  }
}

export default defineConfig({
  test: {
    maxWorkers: WORKERS,
    sequence: { sequencer: LongestFirst },
    // After vitest's summary, the reason of every test that skipped itself (e.g. tuspy not installed).
    reporters: ["default", "./test/reporters/skip-notes.ts"],
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], ...nodeSide } },
      {
        // AUTH_MODE stated: the tests' host (http://tus.test) is not loopback, where an unset one is refused.
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { AUTH_MODE: "open" } } })],
        test: { name: "runtime", include: ["test/runtime/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                AUTH_MODE: "jwt",
                JWT_SECRET: testKeys.hs256Secret,
                JWT_JWKS: JSON.stringify(testKeys.jwks),
                JWT_AUDIENCE: "tus-edge-tests",
                JWT_ISSUER: "https://issuer.test",
                MAX_UPLOAD_SIZE: String(64 * 1024 * 1024),
                MAX_METADATA_BYTES: "512",
                MAX_METADATA_KEYS: "4",
                ALLOWED_FILETYPES: "image/png,video/*,application/octet-stream",
                OBJECT_KEY_TEMPLATE: "{subject}/{filename}",
              },
            },
          }),
        ],
        test: { name: "runtime-auth", include: ["test/runtime-auth/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        // The upload tests again, with no buffer budget: every PATCH gets small
        // buffers and stores its bytes in SQLite as they fill (the path a busy
        // isolate takes), and every upload must still arrive intact.
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { AUTH_MODE: "open", ISOLATE_BUFFER_BUDGET: "0" } } })],
        test: {
          name: "runtime-small-buffers",
          include: [
            "test/runtime-small-buffers/**/*.test.ts",
            "test/runtime/uploads.test.ts",
            "test/runtime/durability.test.ts",
            "test/runtime/extensions/checksum.test.ts",
          ],
          testTimeout: 60_000,
        },
      },
      {
        // Listing and administration: the root configuration (each subject's index, SUBJECTS) with
        // administration's D1 copy bound as well (INDEX, test/runtime-listing/wrangler.toml), its
        // migrations applied, and access control on.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./test/runtime-listing/wrangler.toml" },
            miniflare: { bindings: { ...jwtBindings, INDEX_MIGRATIONS: indexMigrations } },
          }),
        ],
        test: {
          name: "runtime-listing",
          include: ["test/runtime-listing/**/*.test.ts"],
          setupFiles: ["./test/runtime-listing/apply-migrations.ts"],
          testTimeout: 60_000,
        },
      },
      {
        // Quotas per subject: the root configuration (SUBJECTS bound) with access control, small
        // server quotas, and a pre-finish hook the tests answer themselves (test/runtime-quotas/hook-network.ts).
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ...jwtBindings,
                SUBJECT_MAX_ACTIVE_UPLOADS: "3",
                SUBJECT_MAX_ACTIVE_BYTES: String(40 * 1024 * 1024),
                SUBJECT_MAX_STORED_BYTES: String(64 * 1024 * 1024),
                // Finished uploads expire too (an hour after finishing), so that expiry's release of stored bytes is tested.
                EXPIRE_FINISHED_AFTER_SECONDS: "3600",
                PRE_FINISH_HOOK_URL: "http://hooks.test/pre-finish",
              },
            },
          }),
        ],
        test: {
          name: "runtime-quotas",
          include: ["test/runtime-quotas/**/*.test.ts"],
          setupFiles: ["./test/runtime-quotas/hook-network.ts"],
          testTimeout: 60_000,
        },
      },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./test/runtime-library/wrangler.toml" } })],
        test: { name: "runtime-library", include: ["test/runtime-library/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          ...nodeSide,
        },
      },
      {
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 90_000,
          ...nodeSide,
        },
      },
      {
        test: {
          name: "readme",
          include: ["test/readme/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 90_000,
          ...nodeSide,
        },
      },
      {
        test: {
          name: "faults",
          // The fault scenarios that fit CI's time: part of `npm test`.
          include: [
            "test/faults/stalls.test.ts",
            "test/faults/races.test.ts",
            "test/faults/restarts.test.ts",
            "test/faults/expiry-races.test.ts",
            "test/faults/r2-faults.test.ts",
            "test/faults/cuts.test.ts",
            "test/faults/rufh.test.ts",
          ],
          testTimeout: 300_000,
          hookTimeout: 90_000,
          ...nodeSide,
        },
      },
      {
        test: {
          // The chaos soak (test/soak): one minute of every client under every fault at once, seeded, then the checks.
          name: "soak",
          include: ["test/soak/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 90_000,
          ...nodeSide,
        },
      },
      {
        test: {
          name: "faults-load",
          // Minutes of load and a 10,000-request fuzz run: only when asked for (`npm run test:faults`),
          // after the other fault scenarios, each file alone.
          include: ["test/faults/load.test.ts", "test/faults/fuzz.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 90_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
