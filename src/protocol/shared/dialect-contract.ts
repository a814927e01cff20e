import type { RequestContext } from "./context";

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
