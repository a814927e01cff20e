/**
 * `npm start`: checks the configuration (scripts/config-check.ts), then runs
 * the upload index's D1 migrations locally when wrangler.toml binds it, then
 * `wrangler dev` with the arguments given (`npm start -- --port 9000`) and
 * stops it, every process of it, on Ctrl-C or SIGTERM. The page is built
 * before (`prestart`). The npm script runs this with `exec`, so that the
 * signal npm forwards reaches this process rather than a shell.
 *
 * Before wrangler starts, the port it will serve must be free: an `npm
 * start` killed with SIGKILL (or a crashed terminal) cannot stop its group,
 * and the wrangler and workerd it leaves behind keep the port, so the next
 * start would fail with wrangler's bare "Address already in use". What holds
 * the port is found (scripts/port-holder.ts) and said, with what to do. A
 * leftover of this checkout's own `npm start` (its wrangler or workerd,
 * working in this checkout, with no `npm start` above it any more) is ended
 * here instead: nobody can reach it to stop it (no terminal, no parent), it
 * serves whatever this checkout was when it started, and starting this
 * checkout on that port is exactly what was asked for. A live `npm start`
 * (another terminal) and anyone else's process are never touched.
 *
 * wrangler's output is passed through scripts/local-log-lines.ts, so that
 * every gateway log line is a plain JSON line and each request is logged
 * once.
 */
import { checkConfiguration } from "./config-check.ts";
import { unstable_readConfig } from "wrangler";
import { createLocalLogFilter } from "./local-log-lines.ts";
import { ancestors, portHolders, portIsFree, type PortHolder } from "./port-holder.ts";
import { runAsGroup, stopGroup } from "./process-group.ts";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const CHECKOUT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

const args = process.argv.slice(2);
if (!(await checkConfiguration(args, "local"))) {
  console.error("Not starting: fix the configuration above.");
  process.exit(1);
}
const config = readConfig(args);
if (!(await freeTheAddress(config))) process.exit(1);
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
// With the upload index bound (README, "Listing and administration"), its schema (migrations/)
// in the local D1 database that wrangler dev uses: the same --config, --env and --persist-to.
if ((config.d1_databases ?? []).some((database) => database.binding === "INDEX")) {
  const migrated = await runAsGroup("wrangler", ["d1", "migrations", "apply", "INDEX", "--local", ...stateArgs(args)], env);
  if (migrated !== 0) {
    console.error("Not starting: the upload index's migrations (migrations/) could not be applied to the local D1 database.");
    process.exit(migrated);
  }
}
process.exitCode = await runAsGroup("wrangler", ["dev", ...args], env, createLocalLogFilter);

interface DevConfig {
  d1_databases?: Array<{ binding: string }>;
  dev?: { ip?: string; port?: number };
}

/** The configuration wrangler dev will read: the same --config and --env. */
function readConfig(all: string[]): DevConfig {
  return unstable_readConfig({ config: valueOf(all, "--config", "-c"), env: valueOf(all, "--env", "-e") }, { hideWarnings: true }) as DevConfig;
}

function valueOf(all: string[], long: string, short?: string): string | undefined {
  const at = all.findIndex((arg) => arg === long || arg === short);
  return at >= 0 ? all[at + 1] : all.find((arg) => arg.startsWith(`${long}=`))?.slice(long.length + 1);
}

/**
 * True when wrangler dev can bind its address: it was free, or what held it
 * was this checkout's own leftover and is gone now. Otherwise says what holds
 * it and what to do.
 */
async function freeTheAddress(dev: DevConfig): Promise<boolean> {
  // wrangler dev's own defaults: localhost, 8787.
  const ip = valueOf(args, "--ip") ?? dev.dev?.ip ?? "localhost";
  const port = Number(valueOf(args, "--port") ?? dev.dev?.port ?? 8787);
  if (!Number.isInteger(port) || port === 0 || (await portIsFree(port, ip))) return true;
  const holders = portHolders(port);
  const other = `or start on another port: npm start -- --port ${port + 1}`;
  if (holders.length === 0) {
    console.error(`✘ Not starting: port ${port} (${ip}) is in use by a process this user cannot see. Find it with \`ss -ltnp 'sport = :${port}'\` or \`lsof -i :${port}\` and end it, ${other}.`);
    return false;
  }
  const leftovers = holders.filter(isOwnLeftover);
  if (leftovers.length === holders.length) {
    const groups = [...new Set(leftovers.map((holder) => holder.pgid))];
    console.warn(
      `▲ tus-edge: port ${port} is held by a wrangler dev that an earlier \`npm start\` of this checkout left running (pids ${leftovers.map((h) => h.pid).join(", ")}; it was killed without stopping them). Ending it.`,
    );
    for (const group of groups) await stopGroup(group, "SIGTERM");
    if (await portIsFree(port, ip)) return true;
  }
  // SIGTERM to a running npm start's scripts/start.ts stops its whole group.
  const running = holders.map((holder) => startScriptAbove(holder.pid)).find((pid) => pid !== undefined);
  console.error(`✘ Not starting: port ${port} is in use by:`);
  for (const holder of holders) console.error(`    pid ${holder.pid}: ${holder.command}${holder.cwd ? `  (in ${holder.cwd})` : ""}`);
  console.error(
    running
      ? `  That is another \`npm start\`, still running: stop it (Ctrl-C in its terminal, or \`kill ${running}\`), ${other}.`
      : `  End it (\`kill ${holders.map((holder) => holder.pid).join(" ")}\`), ${other}.`,
  );
  return false;
}

/** wrangler or workerd working in this checkout, with no `npm start` (scripts/start.ts) above it any more. */
function isOwnLeftover(holder: PortHolder): boolean {
  const inCheckout = holder.cwd !== undefined && (holder.cwd === CHECKOUT || holder.cwd.startsWith(`${CHECKOUT}/`));
  return inCheckout && /\b(workerd|wrangler)\b/.test(holder.command) && startScriptAbove(holder.pid) === undefined;
}

/** The pid of the `npm start` (scripts/start.ts) that `pid` runs under, if any. */
function startScriptAbove(pid: number): number | undefined {
  return ancestors(pid).find((ancestor) => /\bscripts\/start\.ts\b/.test(ancestor.command))?.pid;
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
