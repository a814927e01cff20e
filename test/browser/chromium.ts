/**
 * Which Chromium the browser and README tests drive. playwright's own browser
 * downloads need the internet, so it is one of, in this order:
 *  1. `CHROMIUM_PATH`, when set;
 *  2. Debian's `chromium` package (`/usr/bin/chromium`), when installed;
 *  3. the Chromium inside the `@sparticuz/chromium` npm package (a
 *     devDependency), so that `npm install && npm test` needs nothing else.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../e2e/server";

export const DEBIAN_CHROMIUM = "/usr/bin/chromium";

export interface ChromiumChoice {
  executablePath: string;
  /** Flags for this build, before the tests' own. */
  args: string[];
  /** Where it came from, for error messages. */
  source: string;
}

/**
 * Of the package's recommended flags (made for AWS Lambda), the ones left out:
 * two would switch off what the tests check (the pages upload cross-origin, so
 * CORS must be enforced), and `--single-process` makes closing one browser
 * context end the whole browser, while the tests open a context per test.
 */
const LEFT_OUT_FLAGS = new Set(["--disable-web-security", "--allow-running-insecure-content", "--single-process"]);

export async function chooseChromium(): Promise<ChromiumChoice> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return { executablePath: fromEnv, args: [], source: "CHROMIUM_PATH" };
  if (existsSync(DEBIAN_CHROMIUM)) return { executablePath: DEBIAN_CHROMIUM, args: [], source: "Debian's chromium package" };
  const { default: packaged } = await import("@sparticuz/chromium");
  const args = packaged.args.filter((flag) => !LEFT_OUT_FLAGS.has(flag));
  // Its flags carry --no-sandbox already (its builds run as root on Lambda); say it here too, so that
  // a later release dropping it from its list still starts as root.
  if (process.getuid?.() === 0 && !args.includes("--no-sandbox")) args.push("--no-sandbox");
  return { executablePath: await inflatePackagedChromium(), args, source: "the @sparticuz/chromium npm package" };
}

/**
 * The package ships Chromium brotli-compressed; `executablePath()` inflates it
 * into `os.tmpdir()` and trusts whatever it finds there next time. Two test
 * workers starting at once (the browser and readme projects run side by side)
 * could then launch a half-written binary, and a run killed mid-inflate would
 * leave one behind. So it inflates in a child process whose TMPDIR is a fresh
 * staging folder, and the folder is renamed into place whole: a cache folder
 * that exists is complete. The cache lives in node_modules, like the package.
 */
async function inflatePackagedChromium(): Promise<string> {
  const packageJson = join(ROOT, "node_modules", "@sparticuz", "chromium", "package.json");
  const { version } = JSON.parse(readFileSync(packageJson, "utf8")) as { version: string };
  const cacheRoot = join(ROOT, "node_modules", ".cache");
  const cache = join(cacheRoot, `sparticuz-chromium-${version}`);
  const executable = join(cache, "chromium");
  if (existsSync(executable)) return executable;

  await mkdir(cacheRoot, { recursive: true });
  const staging = await mkdtemp(join(cacheRoot, `sparticuz-chromium-${version}-staging-`));
  try {
    const script = 'const { default: chromium } = await import("@sparticuz/chromium"); console.log(await chromium.executablePath());';
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: staging },
      timeout: 120_000,
    });
    if (stdout.trim() !== join(staging, "chromium")) throw new Error(`@sparticuz/chromium inflated to ${stdout.trim()}, expected ${staging}/chromium`);
    await rename(staging, cache).catch((error: NodeJS.ErrnoException) => {
      // Another worker renamed its complete copy into place first: use that one.
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return executable;
}
