import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * Three kinds of test, one `npm test`:
 *  - unit: pure functions (parsing, part planning) in Node;
 *  - runtime: the gateway inside workerd with real Durable Object and R2
 *    bindings (@cloudflare/vitest-plugin);
 *  - e2e: a real local server (wrangler dev) driven by real tus clients.
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: { name: "runtime", include: ["test/runtime/**/*.test.ts"], testTimeout: 60_000 },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
