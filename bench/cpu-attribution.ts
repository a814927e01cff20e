/**
 * Splits a V8 CPU profile of the bench isolate between the Worker and the
 * upload's Durable Object. Locally workerd runs both in one isolate; on
 * Cloudflare only the Worker's CPU is billed as Workers CPU (a Durable
 * Object is billed by its duration instead), so the cost phase bills only
 * the Worker's share (bench/cost.ts).
 *
 * Pure (no I/O), unit-tested in test/unit/bench-cpu-attribution.test.ts.
 *
 * A sample belongs to the Durable Object when any frame of its stack is a
 * function defined in code only the Durable Object runs: the modules in
 * `DURABLE_OBJECT_MODULES` (the UploadObject class and what only it
 * imports) and the subclasses of UploadObject (the gateway's configured
 * one, the bench Worker's). The
 * stack must be searched by definition site, not only for the class's
 * entry points (`fetch`, `alarm`, `create` …): after an `await`, V8 resumes
 * an async function with nothing above it, so the part writer's loop shows
 * up as `write` alone, not under `UploadObject.fetch`.
 *
 * Any other sample with at least one frame in the bundled script is the
 * Worker's (the gateway's fetch handler, routing, auth, header parsing, the
 * stub calls). Samples whose stack holds no script frame at all (native
 * builtins run from the event loop, e.g. stream callbacks), `(program)`,
 * `(garbage collector)` and `(idle)` are not attributed.
 */

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Milliseconds of sampled time, by who spent it. */
export interface CpuTime {
  /** Samples with a frame in code only the Durable Object runs. */
  durableObject: number;
  /** Other samples with a frame in the bundled script. */
  worker: number;
  /** JavaScript-state samples with no frame in the script (native builtins, callbacks): neither side can be told. */
  unattributed: number;
  /** How many samples `unattributed` adds up (each carries the gap since the sample before it). */
  unattributedSamples: number;
  garbageCollector: number;
  /** V8's `(program)`: native work outside JavaScript, and time between events the embedder does not mark idle. */
  program: number;
  idle: number;
}

/** Modules only the Durable Object runs (the Worker reaches it through a stub, never through these). */
export const DURABLE_OBJECT_MODULES = [
  "src/upload/upload-object.ts",
  "src/upload/access.ts",
  "src/upload/writing/append.ts",
  "src/upload/writing/upload-writer.ts",
  "src/upload/writing/streaming-part.ts",
  "src/upload/writing/write-buffers.ts",
  "src/upload/writing/write-lock.ts",
  "src/upload/storage/upload-store.ts",
  "src/upload/storage/schema.ts",
  "src/upload/storage/upload-row.ts",
  "src/upload/storage/byte-ledger.ts",
  "src/upload/storage/outbox.ts",
  "src/upload/lifecycle/alarm-clock.ts",
  "src/upload/lifecycle/alarm-work.ts",
  "src/upload/lifecycle/assembly.ts",
  "src/upload/lifecycle/background.ts",
  "src/upload/lifecycle/completion.ts",
  "src/upload/lifecycle/concat-assembler.ts",
  "src/upload/lifecycle/concatenation.ts",
  "src/upload/lifecycle/creation.ts",
  "src/upload/lifecycle/finish-confirmation.ts",
  "src/upload/lifecycle/idle-clock.ts",
  "src/upload/lifecycle/lifecycle.ts",
  "src/upload/lifecycle/object-completion.ts",
  "src/upload/lifecycle/peers.ts",
  "src/upload/lifecycle/pre-finish-gate.ts",
  "src/upload/lifecycle/termination.ts",
  "src/hooks/pre-finish.ts",
];

/** Decides from a frame's script and 0-based line whether the function defined there is the Durable Object's. */
export type FrameSide = (url: string, line: number) => "durableObject" | "worker" | undefined;

/**
 * Reads the bundle wrangler dev runs (esbuild's output, one script): each
 * module begins with a `// <path>` comment line, and a subclass of
 * UploadObject is `class … extends …UploadObject {` up to the closing
 * brace at its indentation. Frames of `scriptUrl` (the name the
 * profile gives the bundle) are placed by line; frames of Miniflare's
 * Durable Object wrapper are the object's, of other scripts (wrangler's
 * wrappers) the Worker's; frames with no script are neither.
 */
export function bundleFrameSide(bundle: string, scriptUrl: string): FrameSide {
  const lines = bundle.split("\n");
  const durableRanges: [number, number][] = [];
  let moduleStart: number | undefined;
  const closeModule = (end: number) => {
    if (moduleStart !== undefined) durableRanges.push([moduleStart, end]);
    moduleStart = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const header = /^\/\/ (?:\.\.\/)*(\S+\.[cm]?[jt]s)$/.exec(lines[i]!);
    if (!header) continue;
    closeModule(i);
    if (DURABLE_OBJECT_MODULES.some((module) => header[1]!.endsWith(module))) moduleStart = i;
  }
  closeModule(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const subclass = /^(\s*)(?:var \w+ = )?class(?: \w+)? extends [\w.]*UploadObject\w* \{$/.exec(lines[i]!);
    if (!subclass) continue;
    const close = new RegExp(`^${subclass[1]}\\}`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end]!)) end++;
    durableRanges.push([i, end + 1]);
  }
  return (url, line) => {
    if (!url) return undefined;
    // Miniflare's wrapper around every Durable Object class: only the object's calls pass through it.
    if (url.includes("__mf_do_wrapper")) return "durableObject";
    if (url !== scriptUrl) return "worker";
    return durableRanges.some(([start, end]) => line >= start && line < end) ? "durableObject" : "worker";
  };
}

export function attributeCpuProfile(profile: CpuProfile, side: FrameSide): CpuTime {
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  type Share = Exclude<keyof CpuTime, "unattributedSamples">;
  const sideOfNode = new Map<number, Share>();
  const classify = (id: number): Share => {
    const known = sideOfNode.get(id);
    if (known) return known;
    const name = byId.get(id)?.callFrame.functionName;
    let found: Share;
    if (name === "(idle)") found = "idle";
    else if (name === "(program)") found = "program";
    else if (name === "(garbage collector)") found = "garbageCollector";
    else {
      let inScript = false;
      let durable = false;
      for (let at: number | undefined = id; at !== undefined && !durable; at = parents.get(at)) {
        const frame = byId.get(at)?.callFrame;
        const frameSide = frame && side(frame.url, frame.lineNumber);
        if (frameSide) inScript = true;
        if (frameSide === "durableObject") durable = true;
      }
      found = durable ? "durableObject" : inScript ? "worker" : "unattributed";
    }
    sideOfNode.set(id, found);
    return found;
  };
  const time: CpuTime = { durableObject: 0, worker: 0, unattributed: 0, unattributedSamples: 0, garbageCollector: 0, program: 0, idle: 0 };
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const share = classify(samples[i]!);
    time[share] += Math.max(0, deltas[i] ?? 0) / 1000;
    if (share === "unattributed") time.unattributedSamples++;
  }
  return time;
}
