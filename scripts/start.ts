/**
 * `npm start`: checks the configuration (scripts/config-check.ts), then runs
 * `wrangler dev` with the arguments given (`npm start -- --port 9000`) and
 * stops it, every process of it, on Ctrl-C or SIGTERM. The page is built
 * before (`prestart`). The npm script runs this with `exec`, so that the
 * signal npm forwards reaches this process rather than a shell.
 */
import { checkConfiguration } from "./config-check.ts";
import { runAsGroup } from "./process-group.ts";

const args = process.argv.slice(2);
if (!(await checkConfiguration(args, "local"))) {
  console.error("Not starting: fix the configuration above.");
  process.exit(1);
}
process.exitCode = await runAsGroup("wrangler", ["dev", ...args], { ...process.env, WRANGLER_SEND_METRICS: "false" });
