/// <reference types="vite/client" />
/**
 * The documentation holds together: every relative link of README.md and
 * docs/*.md reaches a file of the repository, and every `#anchor` a heading of
 * the page it names, with anchors made from headings as GitHub makes them; and
 * docs/configuration.md's table lists exactly the variables the parser reads
 * (knownVariables, found by letting parseConfig read a recording object).
 *
 * The files come through Vite's import.meta.glob, so this stays a unit test
 * without Node's file system: the pages' text eagerly, and the repository's
 * other paths only as names (their loaders are never called).
 */
import { describe, expect, it } from "vitest";
import { knownVariables } from "../../src/config/variables";

const PAGES = import.meta.glob(["../../README.md", "../../docs/*.md"], { query: "?raw", import: "default", eager: true }) as Record<string, string>;
/** Pages the documentation links into by anchor without being part of it: the bench's report. */
const LINKED = import.meta.glob(["../../bench/results/latest.md"], { query: "?raw", import: "default", eager: true }) as Record<string, string>;
const REPOSITORY = Object.keys(
  import.meta.glob(["../../**/*", "!**/node_modules/**", "!**/.wrangler/**", "!**/.git/**", "!**/.tmp/**", "!**/dist/**", "!**/public/**"]),
);

/** A glob's key, relative to this file (`../../docs/clients.md`, `../faults/README.md`), from the repository's root. */
const fromRoot = (key: string): string => resolve("test/unit/documentation.test.ts", key);
const pages = new Map(Object.entries(PAGES).map(([key, text]) => [fromRoot(key), text]));
const anchorTargets = new Map(Object.entries({ ...LINKED, ...PAGES }).map(([key, text]) => [fromRoot(key), text]));
const files = new Set([...REPOSITORY.map(fromRoot), ...anchorTargets.keys()]);

/** The lines of a page outside fenced code blocks (fences may be indented, inside list items). */
function proseLines(text: string): { line: string; number: number }[] {
  const lines: { line: string; number: number }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, index) => {
    const opening = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence === undefined && opening) fence = opening[1];
    else if (fence !== undefined && line.trim() === fence) fence = undefined;
    else if (fence === undefined) lines.push({ line, number: index + 1 });
  });
  return lines;
}

/**
 * A heading's anchor as GitHub makes it: the text without its markdown
 * (code spans, emphasis, links), lower-cased, with every character that is
 * not a letter, digit, mark, underscore, space or hyphen removed, and spaces
 * turned into hyphens.
 */
function anchorOf(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[`*]/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor of a page; a heading repeated gets `-1`, `-2` … as on GitHub. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6} +(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const anchor = anchorOf(heading);
    const count = seen.get(anchor) ?? 0;
    seen.set(anchor, count + 1);
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`);
  }
  return anchors;
}

/** Relative links of a page's prose (not in code spans): `[text](target)`. */
function linksOf(text: string): { target: string; line: number }[] {
  return proseLines(text).flatMap(({ line, number }) =>
    [...line.replace(/`[^`]*`/g, "").matchAll(/\]\(([^)\s]+)\)/g)]
      .map((match) => match[1]!)
      .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
      .map((target) => ({ target, line: number })),
  );
}

/** `docs/` + `../bench/results/latest.md` → `bench/results/latest.md` */
function resolve(from: string, target: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const part of target.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return parts.join("/");
}

describe("GitHub's heading anchors", () => {
  it.for([
    ["Resumable Uploads for HTTP (IETF draft)", "resumable-uploads-for-http-ietf-draft"],
    ["Access control, limits and where files land", "access-control-limits-and-where-files-land"],
    ["tus-js-client (Node)", "tus-js-client-node"],
    ["Using `createTusGateway`", "using-createtusgateway"],
    ["One writer at a time, with take-over", "one-writer-at-a-time-with-take-over"],
  ])("%s → #%s", ([heading, anchor]) => {
    expect(anchorOf(heading!)).toBe(anchor);
  });
});

describe("the documentation's links", () => {
  it("reads the README and the pages of docs/", () => {
    expect([...pages.keys()]).toContain("README.md");
    expect([...pages.keys()]).toContain("docs/configuration.md");
  });

  it.for([...pages.keys()])("%s: every relative link reaches a file, and every anchor a heading of its page", (page) => {
    const broken: string[] = [];
    for (const { target, line } of linksOf(pages.get(page)!)) {
      const [path, anchor] = target.split("#") as [string, string | undefined];
      const file = path === "" ? page : resolve(page, path);
      const exists = files.has(file) || [...files].some((candidate) => candidate.startsWith(`${file.replace(/\/$/, "")}/`));
      if (!exists) {
        broken.push(`${page}:${line}: ${target} — no file ${file}`);
        continue;
      }
      if (anchor === undefined) continue;
      const text = anchorTargets.get(file);
      if (text === undefined) broken.push(`${page}:${line}: ${target} — an anchor into ${file}, whose headings this test does not read (add it to LINKED)`);
      else if (!anchorsOf(text).has(anchor)) broken.push(`${page}:${line}: ${target} — ${file} has no heading #${anchor}`);
    }
    expect(broken).toEqual([]);
  });
});

describe("docs/configuration.md", () => {
  it("lists every variable the parser reads, and no other, in its table", () => {
    const text = pages.get("docs/configuration.md")!;
    const listed = [...text.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]!);
    expect(new Set(listed).size, "each variable once").toBe(listed.length);
    expect(listed.sort()).toEqual([...knownVariables()].sort());
  });
});
