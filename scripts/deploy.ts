/**
 * `npm run deploy`: checks the configuration the deployed Worker will get
 * (wrangler.toml `[vars]` and `--var`; secrets are in Cloudflare), then runs
 * `wrangler deploy` with the arguments given (`npm run deploy -- --dry-run
 * --outdir dist`). The page is built from scratch before (`predeploy`), so a
 * missing or stale public/ is never deployed.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { checkConfiguration } from "./config-check.ts";

const args = process.argv.slice(2);
if (!(await checkConfiguration(args, "deployed"))) {
  console.error("Not deploying: fix the configuration above.");
  process.exit(1);
}
// In the terminal's process group, with its stdin: wrangler may ask questions (login, confirmations).
const wrangler = spawn("wrangler", ["deploy", ...args], { stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => wrangler.kill(signal));
const [code, signal] = (await once(wrangler, "exit")) as [number | null, NodeJS.Signals | null];
process.exitCode = code ?? (signal ? 1 : 0);
