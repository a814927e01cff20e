import { rufhDialect } from "./rufh/dialect";
import { interopRulesOf } from "./rufh/fields";
import { tusDialect } from "./tus/dialect";
import type { Dialect } from "./shared/dialect-contract";

export type { Dialect, MethodHandler, Route } from "./shared/dialect-contract";

/**
 * The one place a request's dialect is chosen: a request carrying
 * `Upload-Draft-Interop-Version` speaks the IETF draft (as tusd decides too),
 * any other tus 1.0. A version this server does not accept throws, and the
 * error is answered as tus would (the request's own version is unknown).
 */
export function chooseDialect(request: Request, acceptedInteropVersions: ReadonlySet<number>): Dialect {
  const rules = interopRulesOf(request.headers, acceptedInteropVersions);
  return rules ? rufhDialect(rules) : tusDialect;
}
