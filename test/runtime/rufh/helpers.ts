/**
 * A client of the IETF dialect (Resumable Uploads for HTTP) at one interop
 * version, speaking to the gateway through `SELF` like the tus tests do.
 */
import { parseDictionary } from "structured-headers";
import { expect } from "vitest";
import { ietf, isComplete as isCompleteIn } from "../../lib/wire";
import { bodyText, COLLECTION, send, wire } from "../helpers";

export { completion, interop } from "../../lib/wire";

/** Every interop version the gateway speaks by default. */
export const VERSIONS = [3, 4, 5, 6, 7, 8, 9] as const;
export type Version = (typeof VERSIONS)[number];

/** Reads the completion field of a response in the version's words; undefined if absent. */
export function isComplete(version: Version, response: Response): boolean | undefined {
  return isCompleteIn(version, response.headers);
}

/** The members of `Upload-Limit`, or undefined without one. */
export function uploadLimit(response: Response): Record<string, unknown> | undefined {
  const value = response.headers.get("Upload-Limit");
  if (value === null) return undefined;
  return Object.fromEntries([...parseDictionary(value)].map(([key, [item]]) => [key, item]));
}

export interface Created {
  response: Response;
  url: string;
}

/** POST on the collection with the completion field; asserts a 2xx with Location. */
export async function create(
  version: Version,
  options: { complete: boolean; body?: BodyInit; headers?: Record<string, string>; method?: "POST" | "PUT" },
): Promise<Created> {
  const response = await send(COLLECTION, ietf.create(version, options));
  expect(response.status, await bodyText(response)).toBeLessThan(300);
  const url = response.headers.get("Location") ?? "";
  expect(url).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{64}$/);
  return { response, url };
}

/** An append (PATCH), with `application/partial-upload` where the version asks for it. */
export function append(
  version: Version,
  url: string,
  offset: number,
  complete: boolean,
  body: BodyInit | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return wire.ietf.append(url, version, offset, complete, body, headers);
}

export function headUpload(version: Version, url: string): Promise<Response> {
  return wire.ietf.offset(url, version);
}
