import { describe, expect, it } from "vitest";
import { createLocalLogFilter } from "../../scripts/local-log-lines";

/** What wrangler dev prints for a Worker's console.warn / console.error: esbuild's box, coloured, then an empty line. */
const warned = '\u001b[33m▲ \u001b[43;33m[\u001b[43;30mWARNING\u001b[43;33m]\u001b[0m \u001b[1m{"level":"warn","event":"HookInvocationError","attempt":1}\u001b[0m';
const errored = '\u001b[31m✘ \u001b[41;31m[\u001b[41;97mERROR\u001b[41;31m]\u001b[0m \u001b[1m{"level":"error","event":"ResponseOutgoing","status":500}\u001b[0m';

describe("npm start's line filter (scripts/local-log-lines.ts)", () => {
  it("takes the box off a warning's or an error's JSON line, sends it to stdout, and drops the empty line after it", () => {
    const filter = createLocalLogFilter();
    expect([warned, "", errored, "", "next"].map(filter)).toEqual([
      { text: '{"level":"warn","event":"HookInvocationError","attempt":1}', toStdout: true },
      undefined,
      { text: '{"level":"error","event":"ResponseOutgoing","status":500}', toStdout: true },
      undefined,
      { text: "next" },
    ]);
  });

  it("drops wrangler's own request lines and keeps everything else as it is", () => {
    const filter = createLocalLogFilter();
    expect(filter("[wrangler:info] POST /files/ 201 Created (102ms)")).toBeUndefined();
    expect(filter("[wrangler:info] Ready on http://127.0.0.1:8787")).toEqual({ text: "[wrangler:info] Ready on http://127.0.0.1:8787" });
    expect(filter("▲ [WARNING] not JSON at all")).toEqual({ text: "▲ [WARNING] not JSON at all" });
    expect(filter("")).toEqual({ text: "" });
    expect(filter('{"level":"info","event":"UploadCreated"}')).toEqual({ text: '{"level":"info","event":"UploadCreated"}', toStdout: true });
  });
});
