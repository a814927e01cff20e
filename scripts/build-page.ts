/**
 * Builds the browser upload page (page/) into public/, the directory that
 * wrangler.toml's [assets] serves. Runs before `npm start`, `npm test` and
 * `npm run deploy`; public/ is generated and not committed.
 *
 *   node scripts/build-page.ts            one build
 *   node scripts/build-page.ts --watch    rebuild on every change to page/
 *
 * Source maps would be served (and deployed) as public files beside the page,
 * so they are written only when asked for: PAGE_SOURCEMAPS=1, and in --watch
 * mode, which is for local development.
 */
import { build, context, type BuildOptions } from "esbuild";
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
const source = join(root, "page");
const out = join(root, "public");

/** Files served as they are. */
const STATIC_FILES = ["index.html", "favicon.svg"];

const watch = process.argv.includes("--watch");
const sourcemaps = watch || process.env.PAGE_SOURCEMAPS === "1";

const options: BuildOptions = {
  entryPoints: [
    { in: join(source, "main.ts"), out: "page" },
    { in: join(source, "style.css"), out: "page" },
    { in: join(source, "sha256-worker.ts"), out: "sha256-worker" },
  ],
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: sourcemaps ? "linked" : false,
  format: "iife",
  platform: "browser",
  // Browsers of the last few years: every one of them has what the page uses.
  target: ["chrome109", "edge109", "firefox115", "safari15.6"],
  logLevel: "warning",
};

// From scratch, so that no file of an earlier build is served.
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
for (const file of STATIC_FILES) await copyFile(join(source, file), join(out, file));

if (watch) {
  const watcher = await context(options);
  await watcher.watch();
  console.log(`Watching page/ → ${out}`);
} else {
  await build(options);
  const files = (await readdir(out)).filter((name) => !name.endsWith(".map"));
  console.log(`Built the upload page: public/{${files.sort().join(",")}}${sourcemaps ? " with source maps" : ""}`);
}
