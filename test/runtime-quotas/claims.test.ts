/**
 * A token's quota claims (`max_active_uploads`, `max_active_bytes`,
 * `max_stored_bytes`; an app's plan, say) set its subject's quotas in place
 * of the server's SUBJECT_MAX_*, each claim only its own quota; the subject's
 * use is one, whichever token created its uploads. A malformed claim refuses
 * the token.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, expectNoServerErrors } from "../runtime/helpers";
import {
  ACTIVE_BYTES,
  ACTIVE_UPLOADS,
  create,
  entriesOf,
  expectRefusal,
  MAX_ACTIVE_BYTES,
  MiB,
  post,
  STORED_BYTES,
  TIMEOUT,
  tokenFor,
  uniqueSubject,
  usageOf,
} from "./helpers";

afterEach(() => expectNoServerErrors());

describe("quota claims", () => {
  it("a free plan's token (max_active_uploads: 1) gets one upload at a time, below the server's 3", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("free");
    const token = await tokenFor(subject, { max_active_uploads: 1 });
    await create(token, { length: 10 });
    await expectRefusal(await post(token, { length: 10 }), { ...ACTIVE_UPLOADS, limit: 1, used: 1 });
  });

  it("a pro plan's token (max_active_uploads: 5) gets five, above the server's 3, in a parallel burst too", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("pro");
    const token = await tokenFor(subject, { max_active_uploads: 5 });
    const answers = await Promise.all(Array.from({ length: 9 }, () => post(token, { length: 10 })));
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(5);
    for (const answer of answers.filter((one) => one.status !== 201)) await expectRefusal(answer, { ...ACTIVE_UPLOADS, limit: 5, used: 5 });
    expect(await usageOf(subject)).toMatchObject({ activeUploads: 5 });
  });

  it("a claim sets only its own quota: the server's other quotas still hold", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("pro-bytes");
    const token = await tokenFor(subject, { max_active_uploads: 5 });
    await expectRefusal(await post(token, { length: MAX_ACTIVE_BYTES + 1 }), { ...ACTIVE_BYTES, limit: MAX_ACTIVE_BYTES, used: 0 });
    const bigger = await tokenFor(subject, { max_active_uploads: 5, max_active_bytes: 100 * MiB });
    // 50 MiB fits the token's active bytes, but the server's 64 MiB of stored bytes hold: 50 + 20 > 64.
    await create(bigger, { length: 50 * MiB });
    await expectRefusal(await post(bigger, { length: 20 * MiB }), { ...STORED_BYTES, limit: 64 * MiB, used: 50 * MiB });
  });

  it("the subject's use is one, whichever of its tokens created the uploads", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("two-plans");
    const pro = await tokenFor(subject, { max_active_uploads: 5 });
    const free = await tokenFor(subject, { max_active_uploads: 1 });
    await create(pro, { length: 1 });
    await create(pro, { length: 1 });
    await expectRefusal(await post(free, { length: 1 }), { ...ACTIVE_UPLOADS, limit: 1, used: 2 });
    await create(pro, { length: 1 });
  });

  it("max_active_uploads: 0 allows no upload at all; max_stored_bytes: 0 allows only empty ones", { timeout: TIMEOUT }, async () => {
    const none = await tokenFor(uniqueSubject("none"), { max_active_uploads: 0 });
    await expectRefusal(await post(none, { length: 0 }), { ...ACTIVE_UPLOADS, limit: 0, used: 0 });
    const nothingStored = await tokenFor(uniqueSubject("nothing-stored"), { max_stored_bytes: 0 });
    await expectRefusal(await post(nothingStored, { length: 1 }), { ...STORED_BYTES, limit: 0, used: 0 });
    const empty = await post(nothingStored, { length: 0 });
    expect(empty.status, await bodyText(empty)).toBe(201);
  });

  it("a malformed quota claim refuses the token (401), and nothing is created", { timeout: TIMEOUT }, async () => {
    for (const [claim, value] of [
      ["max_active_uploads", -1],
      ["max_active_bytes", "1000"],
      ["max_stored_bytes", 1.5],
    ] as const) {
      const subject = uniqueSubject("malformed");
      const response = await post(await tokenFor(subject, { [claim]: value }), { length: 10 });
      const text = await bodyText(response);
      expect(response.status, text).toBe(401);
      expect(text).toContain(claim);
      expect(await entriesOf(subject)).toEqual([]);
    }
  });
});
