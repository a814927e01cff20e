import type { RequestContext } from "./shared/context";
import { rufhDialect } from "./rufh/dialect";
import { interopRulesOf } from "./rufh/versions";
import { tusDialect } from "./tus/dialect";

/** What the gateway routes: the collection's methods and an upload's. */
export type Route = "collectionOptions" | "create" | "createByPut" | "options" | "head" | "append" | "get" | "delete";

export type MethodHandler = (context: RequestContext) => Response | Promise<Response>;

/**
 * A protocol dialect: the handlers that turn its headers into upload
 * operations and results into its headers, and its way of answering errors.
 * A route a dialect has no handler for is not allowed in it (405).
 */
export interface Dialect {
  readonly name: string;
  readonly handlers: Readonly<Partial<Record<Route, MethodHandler>>>;
  errorResponse(error: unknown, request: Request): Response;
}

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
