/**
 * The documentation's snippets as the tests run them: each is a fenced code
 * block right after a `<!-- snippet: NAME -->` marker in README.md or a page
 * of docs/, read from the file itself, so the text a reader copies is the
 * text that was checked. Plus the tools to run them: work folders, child
 * processes with deadlines, and a static file server for the browser
 * snippets' pages.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { readFileSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { delimiter, extname, join, normalize, sep } from "node:path";
import { ROOT } from "../e2e/server";

export const README = join(ROOT, "README.md");

/** README.md and every page of docs/, as paths relative to the repository (`docs/clients.md`). */
export function documentationFiles(): string[] {
  const pages = readdirSync(join(ROOT, "docs")).filter((name) => name.endsWith(".md")).sort();
  return ["README.md", ...pages.map((name) => `docs/${name}`)];
}

/** The text of a documentation file, by its path relative to the repository. */
export function readDoc(file: string): string {
  return readFileSync(join(ROOT, file), "utf8");
}

/** The endpoint every snippet is written for: the gateway of `npm start`. */
export const README_ORIGIN = "http://127.0.0.1:8787";

export interface Snippet {
  name: string;
  /** The fence's info string: js, html, sh, python … */
  lang: string;
  code: string;
  /** Where it is written: `README.md`, `docs/clients.md` … */
  file: string;
}

const MARKER = /^<!-- snippet: ([a-z0-9-]+) -->$/;

/** Every marked snippet of one file's text, in order. Throws on a marker that is not followed by a fenced block. */
export function parseSnippets(text: string, file: string): Snippet[] {
  const lines = text.split("\n");
  const snippets: Snippet[] = [];
  lines.forEach((line, index) => {
    const name = MARKER.exec(line.trim())?.[1];
    if (name === undefined) return;
    const fence = /^(`{3,})([A-Za-z0-9_-]*)\s*$/.exec(lines[index + 1] ?? "");
    if (!fence) throw new Error(`${file} line ${index + 1}: the snippet marker "${name}" must be followed by a fenced code block`);
    const end = lines.findIndex((candidate, at) => at > index + 1 && candidate.trimEnd() === fence[1]);
    if (end < 0) throw new Error(`${file} line ${index + 2}: the code block of snippet "${name}" is not closed`);
    snippets.push({ name, lang: fence[2]!, code: lines.slice(index + 2, end).join("\n") + "\n", file });
  });
  return snippets;
}

/** Every marked snippet of the README and of docs/, file by file. */
export function documentationSnippets(): Snippet[] {
  return documentationFiles().flatMap((file) => parseSnippets(readDoc(file), file));
}

/** One snippet by name, wherever it is written; there must be exactly one. */
export function snippet(name: string): Snippet {
  const found = documentationSnippets().filter((candidate) => candidate.name === name);
  if (found.length !== 1) throw new Error(`README.md and docs/ have ${found.length} snippets named "${name}", expected one`);
  return found[0]!;
}

export interface CodeBlock {
  /** The line of its opening fence, counted from 1. */
  line: number;
  /** The fence's info string. */
  lang: string;
  /** Its lines, without the fences (and without the indentation of a block inside a list item). */
  lines: string[];
  /** The snippet marker on the line before, if there is one. */
  marker?: string;
}

/**
 * The fenced code blocks of a documentation file, or of one of its sections
 * when `heading` is given (the heading's line as written, e.g. `## A first
 * upload`, up to the next heading of the same or a higher level), each with
 * the marker line before it if there is one.
 */
export function codeBlocks(file: string, heading?: string): CodeBlock[] {
  const lines = readDoc(file).split("\n");
  const start = heading === undefined ? -1 : lines.indexOf(heading);
  if (start < 0 && heading !== undefined) throw new Error(`${file} has no line "${heading}"`);
  const level = heading === undefined ? 0 : /^#+/.exec(heading)![0].length;
  const blocks: CodeBlock[] = [];
  for (let at = start + 1; at < lines.length; at++) {
    const line = lines[at]!;
    const ends = /^(#+) /.exec(line);
    if (ends && ends[1]!.length <= level) break;
    const opening = /^(\s*)(`{3,})(\S*)/.exec(line);
    if (!opening) continue;
    const [, indent, fence, lang] = opening;
    const end = lines.findIndex((candidate, index) => index > at && candidate.trim() === fence);
    if (end < 0) throw new Error(`${file} line ${at + 1}: a code block that is not closed`);
    blocks.push({
      line: at + 1,
      lang: lang!,
      lines: lines.slice(at + 1, end).map((inner) => (inner.startsWith(indent!) ? inner.slice(indent!.length) : inner)),
      marker: MARKER.exec((lines[at - 1] ?? "").trim())?.[1],
    });
    at = end;
  }
  return blocks;
}

/** The snippet's code for a test server: the README's endpoint origin replaced by `origin` (which it must contain). */
export function forServer(code: string, origin: string): string {
  if (!code.includes(README_ORIGIN)) throw new Error(`the snippet does not use ${README_ORIGIN}:\n${code}`);
  return code.replaceAll(README_ORIGIN, origin);
}

/** The folder for work folders: inside the repository, so that snippets' bare imports resolve from its node_modules. */
const WORK = join(ROOT, "test", "readme", ".tmp");

/** A fresh work folder under test/readme/.tmp (gitignored); `remove()` deletes it. */
export async function workDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  await mkdir(WORK, { recursive: true });
  const path = await mkdtemp(join(WORK, `${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command started by `start()`: its output so far, and its end. */
export interface Running {
  readonly stdout: string;
  readonly stderr: string;
  /** SIGKILLs its whole process group: a crash, with no chance to clean up. */
  kill(): void;
  /** Resolves when it exits; rejects with what it printed if it outlives `timeoutMs` (it is killed then). */
  readonly done: Promise<Ran>;
}

/**
 * Starts `command` in `cwd` in a process group of its own (bash starts curl,
 * npx starts esbuild) and collects its output.
 */
export function start(command: string, args: string[], options: { cwd: string; timeoutMs: number; env?: Record<string, string> }): Running {
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      // The repository's Node 24 and tools first, as under `npm test`.
      PATH: `${join(ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}`,
      NO_COLOR: "1",
      ...options.env,
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const done = new Promise<Ran>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${options.timeoutMs} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    kill,
    done,
  };
}

/** Runs `command` to its end (see `start`) and returns what it printed. */
export function run(command: string, args: string[], options: { cwd: string; timeoutMs: number; env?: Record<string, string> }): Promise<Ran> {
  return start(command, args, options).done;
}

/** A run's output for assertion messages. */
export function describeRun(ran: Ran): string {
  return `exit ${ran.code ?? ran.signal}\n--- stdout ---\n${ran.stdout}\n--- stderr ---\n${ran.stderr}`;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/**
 * Serves the files of `dir` on a free loopback port, like any static server a
 * reader would use for the browser snippets' pages: another origin than the
 * gateway's, so uploads from the page are cross-origin, as in a deployment.
 */
export async function serveDirectory(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname)));
    const file = path.endsWith(sep) ? join(path, "index.html") : path;
    if (!file.startsWith(dir + sep)) {
      response.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" }).end(body),
      () => response.writeHead(404).end("not found"),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
