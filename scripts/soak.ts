/**
 * `npm run soak -- --minutes N --seed S [--clients C]`: the chaos soak
 * (test/soak/soak.ts, issue 22). Defaults: 3 minutes, a random seed (printed),
 * 6 clients. Prints the summary; `--out <file>` also writes it there. Exits 1
 * on any violation; the last line is
 * `soak: <uploads> uploads, <bytes> bytes, <faults> faults, <violations> violations`.
 */
import { writeFile } from "node:fs/promises";

// Node runs TypeScript only with explicit `.ts` paths, which the type checker takes from test/soak's
// configuration (allowImportingTsExtensions); loaded by URL as bench/run.ts loads its helpers.
const { runSoak } = (await import(new URL("../test/soak/soak.ts", import.meta.url).href)) as typeof import("../test/soak/soak.ts");

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const at = args.findIndex((arg) => arg === `--${name}`);
  if (at >= 0) return args[at + 1];
  return args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const minutes = Number(option("minutes") ?? "3");
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, not ${option("minutes")}`);
const seed = option("seed") ?? Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, "0");
const clients = Number(option("clients") ?? "6");
const out = option("out");

console.log(`soak: seed ${seed} (replay: npm run soak -- --minutes ${minutes} --seed ${seed})`);
let code = 1;
try {
  const result = await runSoak({ minutes, seed, clients });
  console.log(`\n${result.summary}\n`);
  if (out) await writeFile(out, `${result.summary}\n\n${result.lastLine}\n`);
  code = result.violations.length > 0 ? 1 : 0;
  console.log(result.lastLine);
} catch (error) {
  console.error(`soak: could not run (seed ${seed}):`, error);
  console.log(`soak: 0 uploads, 0 bytes, 0 faults, 1 violations`);
}
process.exit(code);
