import { describe, expect, it } from "vitest";
import { TusError } from "../../src/errors";
import { decodeMetadataValue, versionOf } from "../../src/upload/index-record";
import { DEFAULT_LIMIT, encodeCursor, MAX_LIMIT, parseListQuery } from "../../src/listing/list-query";

const parse = (query: string, admin = false) => parseListQuery(new URLSearchParams(query), admin);

function refusal(query: string, admin = false): TusError {
  try {
    parse(query, admin);
  } catch (error) {
    if (error instanceof TusError) return error;
    throw error;
  }
  throw new Error(`${query} was accepted`);
}

describe("parseListQuery", () => {
  it("defaults to the first page of 50 without filters", () => {
    expect(parse("")).toEqual({
      limit: DEFAULT_LIMIT,
      cursor: undefined,
      state: undefined,
      filename: undefined,
      subject: undefined,
      createdBefore: undefined,
      createdAfter: undefined,
      minSize: undefined,
    });
  });

  it("reads limit, state, filename and a cursor it gave out", () => {
    const cursor = encodeCursor({ createdAt: 1_796_190_000_000, id: "p0GXl3qAfH1C9c3HMPlC5w" });
    expect(parse(`limit=${MAX_LIMIT}&state=unfinished&filename=video.mp4&cursor=${cursor}&access_token=x`)).toMatchObject({
      limit: MAX_LIMIT,
      state: "unfinished",
      filename: "video.mp4",
      cursor: { createdAt: 1_796_190_000_000, id: "p0GXl3qAfH1C9c3HMPlC5w" },
    });
  });

  it("reads the administrator's filters, times as ISO 8601 or milliseconds", () => {
    expect(parse("subject=alice&created_after=2026-12-01T00:00:00Z&created_before=1796190000000&min_size=1048576", true)).toMatchObject({
      subject: "alice",
      createdAfter: Date.parse("2026-12-01T00:00:00Z"),
      createdBefore: 1_796_190_000_000,
      minSize: 1_048_576,
    });
  });

  it.each([
    ["limit=0", /\?limit= must be a whole number from 1 to 200/],
    ["limit=201", /\?limit= must be a whole number from 1 to 200/],
    ["limit=1.5", /\?limit=/],
    ["state=done", /\?state= must be one of unfinished, finished, terminated, expired, failed/],
    ["cursor=abc", /not a cursor this server gave out/],
    ["subject=alice", /\?subject= is for administrators/],
    ["sort=asc", /unknown query parameter \?sort=/],
  ])("refuses %s with 400 saying why", (query, message) => {
    const error = refusal(query);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
  });

  it("refuses a creation time that is no time", () => {
    expect(refusal("created_after=yesterday", true).message).toMatch(/\?created_after= must be an ISO 8601 time/);
  });
});

describe("index record versions", () => {
  it("order an upload's records: offsets grow while unfinished, then finished, then ended, whatever the offsets", () => {
    const fiveTiB = 5 * 1024 ** 4;
    expect(versionOf("unfinished", 10)).toBeGreaterThan(versionOf("unfinished", 9));
    expect(versionOf("finished", 0)).toBeGreaterThan(versionOf("unfinished", fiveTiB));
    expect(versionOf("terminated", 0)).toBeGreaterThan(versionOf("finished", fiveTiB));
    expect(versionOf("expired", 0)).toBe(versionOf("terminated", 0));
    expect(Number.isSafeInteger(versionOf("failed", fiveTiB))).toBe(true);
  });
});

describe("decodeMetadataValue", () => {
  it("decodes Base64 of UTF-8 text and leaves anything else as sent", () => {
    expect(decodeMetadataValue(btoa(String.fromCharCode(...new TextEncoder().encode("vidéo.mp4"))))).toBe("vidéo.mp4");
    expect(decodeMetadataValue("//79")).toBe("//79");
    expect(decodeMetadataValue("not base64!")).toBe("not base64!");
  });
});
