import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_CONFIG, parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/parse";
import { Logger, MetricsWriter, toDataPoint } from "../../src/observability";
import { describeError } from "../../src/observability/telemetry";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("LOG_LEVEL", () => {
  it("is info by default and takes error, warn, info or debug", () => {
    expect(DEFAULT_CONFIG.logLevel).toBe("info");
    for (const level of ["error", "warn", "info", "debug"]) expect(parseConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it("stops on anything else, naming the levels", () => {
    expect(() => parseConfig({ LOG_LEVEL: "verbose" })).toThrow(ConfigError);
    expect(() => parseConfig({ LOG_LEVEL: "verbose" })).toThrow(/LOG_LEVEL must be one of error, warn, info, debug, got "verbose"/);
  });
});

describe("Logger", () => {
  function capture() {
    const written: string[] = [];
    for (const method of ["log", "warn", "error"] as const) {
      vi.spyOn(console, method).mockImplementation((line: string) => void written.push(`${method} ${line}`));
    }
    return written;
  }

  it("writes one JSON object per line, through the console method of its level, leaving out undefined fields", () => {
    const written = capture();
    const logger = new Logger("debug");
    logger.write("error", "A", { n: 1 });
    logger.write("warn", "B", { s: "x", gone: undefined });
    logger.write("info", "C", {});
    logger.write("debug", "D", { ok: true });
    expect(written).toEqual([
      'error {"level":"error","event":"A","n":1}',
      'warn {"level":"warn","event":"B","s":"x"}',
      'log {"level":"info","event":"C"}',
      'log {"level":"debug","event":"D","ok":true}',
    ]);
  });

  it.each([
    ["error", ["error"]],
    ["warn", ["error", "warn"]],
    ["info", ["error", "warn", "info"]],
    ["debug", ["error", "warn", "info", "debug"]],
  ] as const)("at %s writes %j", (level, expected) => {
    const written = capture();
    const logger = new Logger(level);
    for (const each of ["error", "warn", "info", "debug"] as const) logger.write(each, each, {});
    expect(written.map((line) => (JSON.parse(line.slice(line.indexOf(" ") + 1)) as { level: string }).level)).toEqual(expected);
  });
});

describe("data points", () => {
  it("put each field at its documented position", () => {
    const point = toDataPoint({
      event: "ResponseOutgoing",
      method: "PATCH",
      status: "409",
      errorCode: "offset-mismatch",
      dialect: "tus",
      uploadId: "id",
      subject: "alice",
      bytes: 10,
      durationMs: 3,
      offset: 5,
      attempt: 0,
    });
    expect(point).toEqual({
      blobs: ["ResponseOutgoing", "PATCH", "409", "offset-mismatch", "tus", "id", "alice"],
      doubles: [10, 3, 5, 0],
      indexes: ["alice"],
    });
  });

  it("index anonymous callers as anonymous, and cut a subject to the index's 96 bytes on a character boundary", () => {
    expect(toDataPoint({ event: "UploadCreated" }).indexes).toEqual(["anonymous"]);
    expect(toDataPoint({ event: "UploadCreated" }).blobs).toEqual(["UploadCreated", "", "", "", "", "", ""]);
    const long = "é".repeat(60); // 120 bytes
    const [index] = toDataPoint({ event: "UploadCreated", subject: long }).indexes as string[];
    expect(index).toBe("é".repeat(48));
  });

  it("are not written without a dataset, and a failing dataset never throws", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(() => new MetricsWriter(undefined).write({ event: "UploadCreated" })).not.toThrow();
    const failing = {
      writeDataPoint() {
        throw new Error("too many data points");
      },
    };
    expect(() => new MetricsWriter(failing).write({ event: "UploadCreated" })).not.toThrow();
  });
});

describe("describeError", () => {
  it("cuts URLs out of an error's message, since a webhook URL may carry a secret", () => {
    const text = describeError(new TypeError("fetch to https://hooks.example/in?key=s3cret failed"));
    expect(text).toBe("TypeError: fetch to <url> failed");
  });
});
