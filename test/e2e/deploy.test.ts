/**
 * The documented deploy command on a fresh copy of the repository (no public/,
 * no .dev.vars), with `-- --dry-run --outdir <dir>` appended: wrangler
 * bundles everything a deployment would upload and stops before uploading.
 * The command is read out of docs/deploying.md, so the documentation and
 * the test cannot drift apart.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { codeBlocks, describeRun, run, type Ran } from "../readme/snippets";
import { cleanCopy, type CleanCopy } from "./clean-copy";

const PAGE = "docs/deploying.md";

/** The code blocks of docs/deploying.md: their language and lines. */
function deployingBlocks(): { lang: string; lines: string[] }[] {
  return codeBlocks(PAGE);
}

/** The first command of the page that deploys (a `deploy` word, not a comment), without its trailing comment. */
function deployCommand(): string {
  for (const block of deployingBlocks()) {
    if (block.lang !== "sh") continue;
    for (const line of block.lines) {
      const command = line.replace(/\s+#.*$/, "").trim();
      if (command && !command.startsWith("#") && /(^|\s)deploy(\s|$)/.test(command)) return command;
    }
  }
  throw new Error(`${PAGE} has no deploy command in a sh block`);
}

/** The page's example `[vars]` block for a public deployment (a toml block). */
function publicVars(): string {
  const block = deployingBlocks().find((candidate) => candidate.lang === "toml" && candidate.lines[0]?.trim() === "[vars]");
  if (!block) throw new Error(`${PAGE} has no toml block starting with [vars]`);
  return block.lines.slice(1).join("\n");
}

let copy: CleanCopy;
let outputs: string;
let wranglerToml: string;

beforeAll(async () => {
  copy = await cleanCopy("deploy");
  outputs = await mkdtemp(join(tmpdir(), "tus-edge-deploy-out-"));
  wranglerToml = readFileSync(join(copy.dir, "wrangler.toml"), "utf8");
}, 60_000);

afterEach(async () => {
  await writeFile(join(copy.dir, "wrangler.toml"), wranglerToml);
});

afterAll(async () => {
  await Promise.all([copy?.remove(), outputs && rm(outputs, { recursive: true, force: true })]);
});

/** The documented deploy command with extra arguments for npm's script, in the copy. */
async function deploy(extra: string[]): Promise<{ ran: Ran; outdir: string; output: string }> {
  const outdir = await mkdtemp(join(outputs, "bundle-"));
  const command = `${deployCommand()} -- --dry-run --outdir ${outdir} ${extra.join(" ")}`;
  const ran = await run("bash", ["-c", command], { cwd: copy.dir, timeoutMs: 90_000, env: { WRANGLER_SEND_METRICS: "false" } });
  return { ran, outdir, output: `${ran.stdout}\n${ran.stderr}` };
}

/** Adds lines to the copy's wrangler.toml `[vars]`. */
async function setVars(lines: string): Promise<void> {
  expect(wranglerToml).toMatch(/^\[vars\]$/m);
  await writeFile(join(copy.dir, "wrangler.toml"), wranglerToml.replace(/^\[vars\]$/m, `[vars]\n${lines}`));
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

describe("the deploy command of docs/deploying.md", () => {
  it("builds the page from scratch and bundles the Worker, with no source map among the public files", async () => {
    expect(deployCommand()).toBe("npm run deploy");
    expect(existsSync(join(copy.dir, "public")), "a fresh copy has no built page").toBe(false);
    // The one setting a deployment must make (the next test shows the refusal without it).
    await setVars('AUTH_MODE = "open"');
    const startedAt = Date.now();

    const { ran, outdir, output } = await deploy([]);

    expect(ran.code, describeRun(ran)).toBe(0);
    expect(output).toMatch(/--dry-run: exiting now/);
    expect(existsSync(join(outdir, "index.js")), "the Worker bundle").toBe(true);
    const assets = await filesUnder(join(copy.dir, "public"));
    expect(assets).toEqual(expect.arrayContaining(["index.html", "page.js", "page.css", "sha256-worker.js"]));
    expect(assets.filter((name) => name.endsWith(".map"))).toEqual([]);
    // wrangler read exactly the files that are there now, so it deployed no others.
    expect(output).toContain(`Read ${assets.length} files from the assets directory`);
    expect(statSync(join(copy.dir, "public", "page.js")).mtimeMs).toBeGreaterThanOrEqual(startedAt - 1000);
  }, 120_000);

  it("stops when AUTH_MODE is not set, naming both choices", async () => {
    const { ran, outdir, output } = await deploy([]);

    expect(ran.code, describeRun(ran)).not.toBe(0);
    expect(output).toMatch(/AUTH_MODE is not set: a deployed gateway refuses every request \(500\) until it is\. In wrangler\.toml \[vars\], set AUTH_MODE = "jwt"/);
    expect(output).toMatch(/or AUTH_MODE = "open"/);
    expect(output).toMatch(/Not deploying/);
    expect(await filesUnder(outdir), "wrangler did not run").toEqual([]);
  }, 120_000);

  it("accepts the documented [vars] for a public deployment, reminds of the JWT secret, and replaces a stale page", async () => {
    await setVars(publicVars());
    await mkdir(join(copy.dir, "public"), { recursive: true });
    await writeFile(join(copy.dir, "public", "stale.js"), "an earlier build's file\n");

    const { ran, outdir, output } = await deploy([]);

    expect(ran.code, describeRun(ran)).toBe(0);
    expect(existsSync(join(outdir, "index.js"))).toBe(true);
    expect(existsSync(join(copy.dir, "public", "stale.js")), "public/ is rebuilt from scratch").toBe(false);
    expect(output).toMatch(/AUTH_MODE is jwt .*npx wrangler secret put JWT_SECRET/);
    expect(output).toMatch(/env\.AUTH_MODE \("jwt"\)/);
  }, 120_000);

  it("stops on a bad [vars] value, naming it, and warns about a misspelt name", async () => {
    await setVars('MAX_UPLOAD_SIZE = "10GB"\nPARTSIZE = 16777216');

    const { ran, outdir, output } = await deploy([]);

    expect(ran.code, describeRun(ran)).not.toBe(0);
    expect(output).toMatch(/MAX_UPLOAD_SIZE must be a whole number of bytes, got "10GB" .* — set in wrangler.toml \[vars\]/);
    expect(output).toMatch(/PARTSIZE \(wrangler.toml \[vars\]\) is not a tus-edge variable and is ignored: did you mean PART_SIZE\?/);
    expect(output).toMatch(/Not deploying/);
    expect(await filesUnder(outdir), "wrangler did not run").toEqual([]);
  }, 120_000);

  it("stops on a bad --var value and on a secret given as --var", async () => {
    const { ran, outdir, output } = await deploy(["--var", "UPLOAD_PAGE:yes", "--var", "WEBHOOK_SECRET:hunter2"]);

    expect(ran.code, describeRun(ran)).not.toBe(0);
    expect(output).toMatch(/UPLOAD_PAGE must be "auto" .*"on" or "off", got "yes" .* — set in --var/);
    expect(output).toMatch(/WEBHOOK_SECRET is a secret: --var would deploy it as a plain-text variable; set it with `npx wrangler secret put WEBHOOK_SECRET`/);
    expect(await filesUnder(outdir)).toEqual([]);
  }, 120_000);
});
