/**
 * The chaos soak (test/soak/soak.ts, issue 22), one minute of faults with a
 * fixed seed, as part of `npm test`: no violation of the seven checks, and
 * every kind of fault actually injected (so that it never passes for having
 * done nothing). `npm run soak` runs it for longer with any seed.
 */
import { expect, it } from "vitest";
import { runSoak } from "./soak.ts";

const SEED = process.env.SOAK_SEED ?? "42";

it(`one minute of every client under every fault (seed ${SEED}) loses nothing`, async () => {
  const result = await runSoak({ minutes: 1, seed: SEED, clients: 6 });
  console.log(`${result.summary}\n\n${result.lastLine}`);
  expect(result.violations.map((violation) => `check ${violation.check}, ${violation.upload ?? "-"}: ${violation.message}`)).toEqual([]);
  const kinds = result.faultsByKind;
  const injected = (pattern: RegExp) => Object.entries(kinds).filter(([kind]) => pattern.test(kind)).reduce((sum, [, count]) => sum + count, 0);
  expect.soft(injected(/^connection cut/), "connections cut").toBeGreaterThan(0);
  expect.soft(injected(/^body stalled/), "stalled bodies").toBeGreaterThan(0);
  expect.soft(injected(/^two PATCHes racing/), "racing PATCHes").toBeGreaterThan(0);
  expect.soft(injected(/^runtime SIGKILLed/), "restarts").toBeGreaterThan(0);
  expect.soft(injected(/^R2 (?!fault window)/), "R2 calls failed").toBeGreaterThan(0);
  expect.soft(injected(/^pre-finish hook/), "pre-finish hook faults").toBeGreaterThan(0);
  expect.soft(injected(/^termination/), "terminations").toBeGreaterThan(0);
  expect.soft(result.expected["uploads expired (administration's listing at the end)"] ?? 0, "expiries").toBeGreaterThan(0);
  expect(result.uploads).toBeGreaterThan(10);
});
