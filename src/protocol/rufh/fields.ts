import { parseItem, serializeDictionary } from "structured-headers";
import { TusError } from "../../errors";
import { INTEROP_VERSIONS, type InteropRules } from "./versions";

/**
 * The dialect's structured fields (RFC 9651), read with a maintained parser.
 * The drafts say a value of the wrong type "MUST cause the entire header
 * field to be ignored": so a malformed field reads as absent, and a handler
 * that needs the field refuses the request for its absence (400).
 */

function readItem(headers: Headers, name: string): unknown {
  const raw = headers.get(name);
  if (raw === null) return undefined;
  try {
    return parseItem(raw)[0];
  } catch {
    return undefined;
  }
}

/**
 * An Integer item's value; undefined for anything else. The parser gives
 * Integers and Decimals alike as numbers, so a Decimal (`6.0`) is told
 * apart by its text: only a Decimal's bare item has a dot.
 */
export function integerItem(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  let value: unknown;
  try {
    value = parseItem(raw)[0];
  } catch {
    return undefined;
  }
  return typeof value === "number" && !raw.split(";")[0]!.includes(".") ? value : undefined;
}

/** `Upload-Offset`, `Upload-Length`: "a non-negative Integer"; anything else is ignored. */
export function readNonNegativeInteger(headers: Headers, name: string): number | undefined {
  const value = integerItem(headers.get(name));
  return value !== undefined && value >= 0 ? value : undefined;
}

/**
 * Whether the request completes the upload: `Upload-Complete` ("a Boolean"),
 * or at interop version 3 `Upload-Incomplete`, its opposite. Undefined when
 * absent or malformed.
 */
export function readCompletion(headers: Headers, rules: InteropRules): boolean | undefined {
  const value = readItem(headers, rules.completionField);
  if (typeof value !== "boolean") return undefined;
  return rules.completionField === "Upload-Incomplete" ? !value : value;
}

/** The completion field a request must carry, refused by name when it is absent or malformed. */
export function requireCompletion(headers: Headers, rules: InteropRules, what: string): boolean {
  const complete = readCompletion(headers, rules);
  if (complete === undefined) {
    const raw = headers.get(rules.completionField);
    throw new TusError(
      "invalid-header",
      raw === null
        ? `${what} needs ${rules.completionField}: ?0 or ?1`
        : `${rules.completionField} must be the structured Boolean ?0 or ?1, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return complete;
}

/**
 * Whether an append completes the upload. Before -06 an append without the
 * field is the last one; a field that is present but malformed is refused in
 * every version rather than read as absent, which would complete the upload.
 */
export function appendCompletion(headers: Headers, rules: InteropRules): boolean {
  if (rules.appendWithoutCompletionCompletes && !headers.has(rules.completionField)) return true;
  return requireCompletion(headers, rules, "an append (PATCH)");
}

/** The completion field of a response, in the version's words. */
export function completionHeader(rules: InteropRules, complete: boolean): Record<string, string> {
  const value = rules.completionField === "Upload-Incomplete" ? !complete : complete;
  return { [rules.completionField]: value ? "?1" : "?0" };
}

/** The limits an upload is held to, in bytes and seconds; undefined ones are not announced. */
export interface UploadLimits {
  maxSize: number;
  maxAppendSize: number | undefined;
  /** Seconds the upload resource has left, when it can expire. */
  ageSeconds: number | undefined;
}

/** `Upload-Limit`, "a Dictionary" of Integers, for versions that have it; `min-size=0` always, so it is never empty. */
export function uploadLimitHeader(rules: InteropRules, limits: UploadLimits): Record<string, string> {
  if (!rules.uploadLimit) return {};
  const members: Record<string, number> = { "max-size": limits.maxSize, "min-size": 0 };
  if (limits.maxAppendSize !== undefined) members["max-append-size"] = limits.maxAppendSize;
  if (limits.ageSeconds !== undefined) members[rules.uploadLimit.ageKey] = limits.ageSeconds;
  return { "Upload-Limit": serializeDictionary(members) };
}

/**
 * The dialect of a request: undefined without `Upload-Draft-Interop-Version`
 * (tus 1.0), else the rules of its version. "The `Upload-Draft-Interop-Version`
 * field value is an Integer"; anything else, or a version this server does
 * not accept, is refused naming the ones it does.
 */
export function interopRulesOf(headers: Headers, accepted: ReadonlySet<number>): InteropRules | undefined {
  const raw = headers.get("Upload-Draft-Interop-Version");
  if (raw === null) return undefined;
  const version = integerItem(raw);
  const rules = version !== undefined && accepted.has(version) ? INTEROP_VERSIONS.get(version) : undefined;
  if (!rules) {
    throw new TusError(
      "unsupported-interop-version",
      `Upload-Draft-Interop-Version ${JSON.stringify(raw.slice(0, 40))} is not one this server speaks; it speaks ${[...accepted].sort((a, b) => a - b).join(", ")} (or tus 1.0 without that header)`,
    );
  }
  return rules;
}
