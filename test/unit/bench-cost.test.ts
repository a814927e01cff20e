import { describe, expect, it } from "vitest";
import { costPerTerabyte, PRICES, r2Class, type BilledCounts } from "../../bench/cost";

/** A 1 GB upload (1,000 of them make a terabyte) in 120 parts, with round counts. */
const upload: BilledCounts = {
  bytes: 1e9,
  r2ClassA: 122,
  r2ClassB: 1,
  workerRequests: 121,
  workerCpuMs: 100,
  durableObjectRequests: 121,
  durableObjectActiveSeconds: 10,
  rowsRead: 500,
  rowsWritten: 600,
  parts: 120,
};

const dollars = (item: string) => costPerTerabyte(upload).lines.find((line) => line.item === item)!.dollars;

describe("cost per terabyte", () => {
  it("scales each count to a terabyte and prices it per million", () => {
    expect(dollars("R2 Class A")).toBeCloseTo(0.549, 9); // 122,000 × $4.50 / million
    expect(dollars("R2 Class B")).toBeCloseTo(0.00036, 9); // 1,000 × $0.36 / million
    expect(dollars("Worker requests")).toBeCloseTo(0.0363, 9); // 121,000 × $0.30 / million
    expect(dollars("Worker CPU ms")).toBeCloseTo(0.002, 9); // 100,000 ms × $0.02 / million
    expect(dollars("Durable Object requests")).toBeCloseTo(0.01815, 9); // 121,000 × $0.15 / million
    expect(dollars("Durable Object GB-s")).toBeCloseTo(0.016, 9); // 10 s × 0.128 GB × 1,000 = 1,280 GB-s × $12.50 / million
    expect(dollars("SQLite rows read")).toBeCloseTo(0.0005, 9); // 500,000 × $0.001 / million
    expect(dollars("SQLite rows written")).toBeCloseTo(0.6, 9); // 600,000 × $1.00 / million
  });

  it("adds the lines up and compares them with the parts' own R2 operations", () => {
    const cost = costPerTerabyte(upload);
    expect(cost.total).toBeCloseTo(1.22231, 9);
    expect(cost.floor).toBeCloseTo(0.549, 9); // (120 parts + create + complete) × 1,000 × $4.50 / million
    expect(cost.ratio).toBeCloseTo(1.22231 / 0.549, 9);
  });

  it("is exactly the floor when an upload makes nothing but its parts' R2 writes", () => {
    const bare: BilledCounts = { ...upload, r2ClassB: 0, workerRequests: 0, workerCpuMs: 0, durableObjectRequests: 0, durableObjectActiveSeconds: 0, rowsRead: 0, rowsWritten: 0 };
    expect(costPerTerabyte(bare).ratio).toBe(1);
  });

  it("takes other prices", () => {
    expect(costPerTerabyte(upload, { ...PRICES, sqliteRowsWrittenPerMillion: 0 }).total).toBeCloseTo(0.62231, 9);
  });

  it("refuses an empty upload, which cannot be scaled", () => {
    expect(() => costPerTerabyte({ ...upload, bytes: 0 })).toThrow(/0 bytes/);
  });

  it("classes R2 calls as R2 bills them", () => {
    expect(["put", "createMultipartUpload", "uploadPart", "complete", "list"].map(r2Class)).toEqual(["A", "A", "A", "A", "A"]);
    expect(["head", "get"].map(r2Class)).toEqual(["B", "B"]);
    expect(["delete", "abort", "resumeMultipartUpload"].map(r2Class)).toEqual(["free", "free", "free"]);
    expect(() => r2Class("copy")).toThrow(/does not know/);
  });
});
