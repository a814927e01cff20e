import { describe, expect, it } from "vitest";
import { attributeCpuProfile, bundleFrameSide, type CpuProfile } from "../../bench/cpu-attribution";

/**
 * A bundle laid out as esbuild lays out wrangler dev's (0-based lines):
 * a Worker-side protocol module, the upload writer and the UploadObject
 * class (Durable Object modules), the gateway, then the bench Worker with
 * its UploadObject subclass and its default fetch handler, then a subclass
 * declared inside a function, as the gateway's configured class is.
 */
const bundle = [
  "// ../src/protocol/tus/methods/patch.ts", // 0
  "async function handlePatch(request, uploads) {", // 1
  "}", // 2
  "// ../src/upload/writing/upload-writer.ts", // 3
  "var UploadWriter = class {", // 4
  "  async write(body) {", // 5
  "  }", // 6
  "};", // 7
  "// ../src/upload/upload-object.ts", // 8
  "var UploadObject = class extends DurableObject {", // 9
  "  async fetch(request) {", // 10
  "  }", // 11
  "};", // 12
  "// ../src/gateway.ts", // 13
  "function createTusGateway(options) {", // 14
  "}", // 15
  "// worker.ts", // 16
  "var UploadObject2 = class extends gateway.UploadObject {", // 17
  "  async alarm() {", // 18
  "  }", // 19
  "};", // 20
  "var worker_default = {", // 21
  "  async fetch(request, env) {", // 22
  "  }", // 23
  "};", // 24
  "function configuredGateway() {", // 25
  "  class ConfiguredUploadObject extends UploadObject {", // 26
  "    configure(env) {", // 27
  "    }", // 28
  "  }", // 29
  "  return ConfiguredUploadObject;", // 30
  "}", // 31
].join("\n");

const side = bundleFrameSide(bundle, "worker.js");

const frame = (functionName: string, url = "", lineNumber = -1) => ({ functionName, url, lineNumber });

/**
 * (root)
 * ├─ fetch (Worker, line 22) ─ handlePatch (line 1) ─ fetch (UploadObject, line 10) ─ write (line 5)
 * ├─ handlePatch alone, resumed after an await (line 1)
 * ├─ write alone, resumed after an await (line 5): the Durable Object's, with no entry point above it
 * │  └─ a native write (no script), called by it
 * ├─ alarm (bench subclass, line 18)
 * ├─ a builtin with no script (e.g. a stream callback run from the event loop)
 * ├─ (program) · (garbage collector) · (idle)
 */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 6, 7, 8, 9, 10, 11, 12] },
    { id: 2, callFrame: frame("fetch", "worker.js", 22), children: [3] },
    { id: 3, callFrame: frame("handlePatch", "worker.js", 1), children: [4] },
    { id: 4, callFrame: frame("fetch", "worker.js", 10), children: [5] },
    { id: 5, callFrame: frame("write", "worker.js", 5) },
    { id: 6, callFrame: frame("handlePatch", "worker.js", 1) },
    { id: 7, callFrame: frame("write", "worker.js", 5), children: [13] },
    { id: 8, callFrame: frame("alarm", "worker.js", 18) },
    { id: 9, callFrame: frame("") },
    { id: 10, callFrame: frame("(program)") },
    { id: 11, callFrame: frame("(garbage collector)") },
    { id: 12, callFrame: frame("(idle)") },
    { id: 13, callFrame: frame("write") },
  ],
  // Each delta (µs) is the time up to that sample; distinct powers of two make every sum unique.
  samples: [2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 4, 13],
  timeDeltas: [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 512000, 1024000, 2048000],
};

describe("splitting the bench isolate's CPU profile between the Worker and the Durable Object", () => {
  it("bills a sample to the Durable Object when a frame of its stack is defined in the object's code, to the Worker otherwise", () => {
    expect(attributeCpuProfile(profile, side)).toEqual({
      // fetch → handlePatch → UploadObject.fetch → write (4 ms), write resumed alone (16 ms), the subclass's alarm (32 ms),
      // UploadObject.fetch (1,024 ms), the native write under the resumed write (2,048 ms)
      durableObject: 4 + 16 + 32 + 1024 + 2048,
      // the Worker's fetch (1 ms), fetch → handlePatch (2 ms), handlePatch resumed alone (8 ms)
      worker: 1 + 2 + 8,
      unattributed: 64,
      unattributedSamples: 1,
      program: 128,
      garbageCollector: 256,
      idle: 512,
    });
  });

  it("places frames by the module comment above their line, not by their name", () => {
    expect(side("worker.js", 10)).toBe("durableObject"); // UploadObject.fetch
    expect(side("worker.js", 22)).toBe("worker"); // the Worker's fetch
    expect(side("worker.js", 14)).toBe("worker"); // the gateway
    expect(side("worker.js", 18)).toBe("durableObject"); // the bench subclass's method
    expect(side("worker.js", 21)).toBe("worker"); // the line after the subclass's closing brace
    expect(side("worker.js", 27)).toBe("durableObject"); // a method of the subclass declared in a function
    expect(side("worker.js", 30)).toBe("worker"); // the function's own code after that subclass
  });

  it("gives Miniflare's Durable Object wrapper to the object, other scripts to the Worker, and frames with no script to neither", () => {
    expect(side("__mf_do_wrapper.js", 3)).toBe("durableObject");
    expect(side("node-internal:internal_inspect", 3)).toBe("worker");
    expect(side("", -1)).toBeUndefined();
  });

  it("counts nothing for the Durable Object when the bundle has none of its modules", () => {
    const time = attributeCpuProfile(profile, bundleFrameSide("// ../src/gateway.ts\nfunction f() {}", "worker.js"));
    expect(time.durableObject).toBe(0);
    expect(time.worker).toBe(1 + 2 + 4 + 8 + 16 + 32 + 1024 + 2048);
  });
});
