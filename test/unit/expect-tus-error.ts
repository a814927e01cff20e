import { expect } from "vitest";
import { TusError, type ErrorCode } from "../../src/errors";

/** Asserts that `run` throws a TusError with `code`, and returns it for further checks. */
export function expectTusError(run: () => unknown, code: ErrorCode): TusError {
  expect(run).toThrow(TusError);
  try {
    run();
  } catch (error) {
    expect((error as TusError).code).toBe(code);
    return error as TusError;
  }
  throw new Error("unreachable: the first assertion already saw it throw");
}
