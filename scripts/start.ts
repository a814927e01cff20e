/**
 * `npm start`: checks the configuration (scripts/config-check.ts), then runs
 * the upload index's D1 migrations locally when wrangler.toml binds it, then
 * `wrangler dev` with the arguments given (`npm start -- --port 9000`) and
 * stops it, every process of it, on Ctrl-C or SIGTERM. The page is built
 * before (`prestart`). The npm script runs this with `exec`, so that the
 * signal npm forwards reaches this process rather than a shell.
 */
import { checkConfiguration } from "./config-check.ts";
import { unstable_readConfig } from "wrangler";
import { runAsGroup } from "./process-group.ts";

const args = process.argv.slice(2);
if (!(await checkConfiguration(args, "local"))) {
  console.error("Not starting: fix the configuration above.");
  process.exit(1);
}
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
// With the upload index bound (README, "Listing and administration"), its schema (migrations/)
// in the local D1 database that wrangler dev uses: the same --config, --env and --persist-to.
if (declaresIndex(args)) {
  const migrated = await runAsGroup("wrangler", ["d1", "migrations", "apply", "INDEX", "--local", ...stateArgs(args)], env);
  if (migrated !== 0) {
    console.error("Not starting: the upload index's migrations (migrations/) could not be applied to the local D1 database.");
    process.exit(migrated);
  }
}
process.exitCode = await runAsGroup("wrangler", ["dev", ...args], env);

/** Whether the configuration wrangler dev will read binds a D1 database as INDEX. */
function declaresIndex(all: string[]): boolean {
  const valueOf = (long: string, short: string) => {
    const at = all.findIndex((arg) => arg === long || arg === short);
    return at >= 0 ? all[at + 1] : all.find((arg) => arg.startsWith(`${long}=`))?.slice(long.length + 1);
  };
  const config = unstable_readConfig({ config: valueOf("--config", "-c"), env: valueOf("--env", "-e") }, { hideWarnings: true }) as {
    d1_databases?: Array<{ binding: string }>;
  };
  return (config.d1_databases ?? []).some((database) => database.binding === "INDEX");
}

/** The arguments the migration shares with wrangler dev: which configuration, environment and state directory. */
function stateArgs(all: string[]): string[] {
  const picked: string[] = [];
  all.forEach((arg, at) => {
    if (/^(--config|-c|--env|-e|--persist-to)$/.test(arg)) picked.push(arg, all[at + 1] ?? "");
    else if (/^--(config|env|persist-to)=/.test(arg)) picked.push(arg);
  });
  return picked;
}
