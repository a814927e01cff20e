/**
 * Signatures of the gateway's hook requests (event webhook and pre-create
 * hook): `Tus-Edge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 * The expected header below was computed outside the code under test:
 *   printf '%s' '1700000000.{"id":"evt-1","type":"finished"}' \
 *     | openssl dgst -sha256 -hmac 'tus-edge-unit-test-secret' -hex
 */
import { describe, expect, it } from "vitest";
import { SIGNATURE_TOLERANCE_SECONDS, signatureHeader, verifySignature } from "../../src/hooks/signature";

const SECRET = "tus-edge-unit-test-secret";
const BODY = '{"id":"evt-1","type":"finished"}';
const SIGNED_AT = 1_700_000_000;
const EXPECTED_HEADER = "t=1700000000,v1=3c7e994309748c6a854719ec369acc0d5abe865ddc1b7dea1b3ef2f8fd4501b2";

describe("signatureHeader", () => {
  it("signs the timestamp and the body: t=<seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>", async () => {
    expect(await signatureHeader(SECRET, BODY, SIGNED_AT)).toBe(EXPECTED_HEADER);
  });

  it("gives another signature for another time, so an old header cannot be moved to a new timestamp", async () => {
    const later = await signatureHeader(SECRET, BODY, SIGNED_AT + 1);
    expect(later).toMatch(/^t=1700000001,v1=[0-9a-f]{64}$/);
    expect(later.split("v1=")[1]).not.toBe(EXPECTED_HEADER.split("v1=")[1]);
  });

  it("signs the UTF-8 bytes of bodies with any characters", async () => {
    const body = JSON.stringify({ filename: "résumé ✓.pdf", note: "line\nbreak" });
    const header = await signatureHeader(SECRET, body, SIGNED_AT);
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${SIGNED_AT}.${body}`)));
    expect(header).toBe(`t=${SIGNED_AT},v1=${[...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`);
  });
});

describe("verifySignature (the receiver's recipe)", () => {
  const at = (seconds: number) => ({ nowSeconds: seconds });

  it("accepts the header it was signed with, within the tolerance either way", async () => {
    expect(await verifySignature(EXPECTED_HEADER, BODY, SECRET, at(SIGNED_AT))).toBe(true);
    expect(await verifySignature(EXPECTED_HEADER, BODY, SECRET, at(SIGNED_AT + SIGNATURE_TOLERANCE_SECONDS))).toBe(true);
    expect(await verifySignature(EXPECTED_HEADER, BODY, SECRET, at(SIGNED_AT - SIGNATURE_TOLERANCE_SECONDS))).toBe(true);
  });

  it("refuses a replay: the same request later than the tolerance", async () => {
    expect(SIGNATURE_TOLERANCE_SECONDS).toBe(300);
    expect(await verifySignature(EXPECTED_HEADER, BODY, SECRET, at(SIGNED_AT + SIGNATURE_TOLERANCE_SECONDS + 1))).toBe(false);
    expect(await verifySignature(EXPECTED_HEADER, BODY, SECRET, { nowSeconds: SIGNED_AT + 60, toleranceSeconds: 30 })).toBe(false);
  });

  it("refuses another body, another secret, and a timestamp changed to look fresh", async () => {
    expect(await verifySignature(EXPECTED_HEADER, BODY.replace("finished", "expired"), SECRET, at(SIGNED_AT))).toBe(false);
    expect(await verifySignature(EXPECTED_HEADER, BODY, "another-secret", at(SIGNED_AT))).toBe(false);
    const moved = EXPECTED_HEADER.replace("t=1700000000", "t=1700009999");
    expect(await verifySignature(moved, BODY, SECRET, at(1_700_009_999))).toBe(false);
  });

  it("accepts any of several v1 signatures (a receiver rotating secrets sees one per secret)", async () => {
    const other = "v1=" + "0".repeat(64);
    expect(await verifySignature(`t=${SIGNED_AT},${other},${EXPECTED_HEADER.split(",")[1]}`, BODY, SECRET, at(SIGNED_AT))).toBe(true);
  });

  it.each([
    ["no header", undefined],
    ["the old body-only form", `sha256=${EXPECTED_HEADER.split("v1=")[1]}`],
    ["no timestamp", `v1=${EXPECTED_HEADER.split("v1=")[1]}`],
    ["no signature", "t=1700000000"],
    ["a timestamp that is not a number", `t=soon,v1=${EXPECTED_HEADER.split("v1=")[1]}`],
    ["a signature that is not 64 hex digits", "t=1700000000,v1=3c7e99"],
  ])("refuses %s", async (_name, header) => {
    expect(await verifySignature(header, BODY, SECRET, at(SIGNED_AT))).toBe(false);
  });
});
