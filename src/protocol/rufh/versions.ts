import { SUPPORTED_INTEROP_VERSIONS } from "../../config/interop-versions";

/** Problem types (RFC 9457) the drafts define; each interop version knows some of them. */
export type ProblemType = "mismatching-upload-offset" | "inconsistent-upload-length" | "completed-upload";

/**
 * What one interop version of draft-ietf-httpbis-resumable-upload sends and
 * expects, where versions differ. Handlers read these values; they never
 * compare version numbers.
 */
export interface InteropRules {
  version: number;
  /** The draft revisions that announce this interop version. */
  drafts: string;
  /** -01 says "more to come" (`Upload-Incomplete`); -02 on say "this is the end" (`Upload-Complete`). */
  completionField: "Upload-Complete" | "Upload-Incomplete";
  /**
   * Whether an append without the completion field is the last one: -01 to -05
   * only say the field "MUST be set to false if the end of the request content
   * is not the end of the upload"; from -06 the field is required.
   */
  appendWithoutCompletionCompletes: boolean;
  /** The media type an append (PATCH) must have, from -04; before, any. */
  appendMediaType: "application/partial-upload" | undefined;
  /** `Upload-Limit` (from -04), and the name its lifetime key has: `expires` in -04/-05, `max-age` from -06. */
  uploadLimit: { ageKey: "expires" | "max-age" } | undefined;
  /** The problem types this version's text defines. */
  problemTypes: ReadonlySet<ProblemType>;
  /** Whether GET retrieves the offset like HEAD (from the text after -11). */
  offsetByGet: boolean;
  /** Whether error responses say `Upload-Complete: ?0` (the 409 MUST from the text after -11). */
  errorsCarryCompletion: boolean;
}

const ALL_PROBLEMS = new Set<ProblemType>(["mismatching-upload-offset", "inconsistent-upload-length", "completed-upload"]);

/**
 * The versions, checked against each draft's text at its tag in
 * httpwg/http-extensions (-01 … -11), and 9 against the text that introduced
 * it (guoye-zhang/http-extensions db175325, httpwg PR #3476, published as
 * -12). Versions after 9 (-13 on) are not here because their texts could not
 * be read; docs/protocol.md ("Which drafts were checked") says what was searched.
 */
export const INTEROP_VERSIONS: ReadonlyMap<number, InteropRules> = new Map(
  (
    [
      { version: 3, drafts: "-01", completionField: "Upload-Incomplete", ...beforeLimits() },
      { version: 4, drafts: "-02", completionField: "Upload-Complete", ...beforeLimits() },
      { version: 5, drafts: "-03", completionField: "Upload-Complete", ...beforeLimits() },
      {
        version: 6,
        drafts: "-04, -05",
        completionField: "Upload-Complete",
        appendWithoutCompletionCompletes: true,
        appendMediaType: "application/partial-upload",
        uploadLimit: { ageKey: "expires" },
        problemTypes: new Set(["mismatching-upload-offset", "completed-upload"]),
        offsetByGet: false,
        errorsCarryCompletion: false,
      },
      { version: 7, drafts: "-06 … -08", ...fromSix(), problemTypes: ALL_PROBLEMS, offsetByGet: false, errorsCarryCompletion: false },
      { version: 8, drafts: "-09 … -11", ...fromSix(), problemTypes: ALL_PROBLEMS, offsetByGet: false, errorsCarryCompletion: false },
      {
        version: 9,
        drafts: "-12",
        ...fromSix(),
        problemTypes: new Set(["mismatching-upload-offset", "inconsistent-upload-length"]),
        offsetByGet: true,
        errorsCarryCompletion: true,
      },
    ] satisfies InteropRules[]
  ).map((rules) => [rules.version, rules]),
);

/** -01 to -03: any append media type, no `Upload-Limit`, no problem types. */
function beforeLimits() {
  return {
    appendWithoutCompletionCompletes: true,
    appendMediaType: undefined,
    uploadLimit: undefined,
    problemTypes: new Set<ProblemType>(),
    offsetByGet: false,
    errorsCarryCompletion: false,
  };
}

/** From -06 on: the completion field required on appends, `application/partial-upload`, `max-age`. */
function fromSix() {
  return { completionField: "Upload-Complete", appendWithoutCompletionCompletes: false, appendMediaType: "application/partial-upload", uploadLimit: { ageKey: "max-age" } } as const;
}

// Every version a deployment may choose has its rules here, and only those.
if (SUPPORTED_INTEROP_VERSIONS.join() !== [...INTEROP_VERSIONS.keys()].join()) {
  throw new Error(`config/interop-versions.ts lists ${SUPPORTED_INTEROP_VERSIONS.join(", ")} but the rules are for ${[...INTEROP_VERSIONS.keys()].join(", ")}`);
}
