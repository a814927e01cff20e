/**
 * The IETF dialect: Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload),
 * tus's successor, spoken beside tus 1.0 on the same uploads.
 *
 * - Chosen once per request (protocol/dialect.ts): a request with
 *   `Upload-Draft-Interop-Version` is served here, with the rules of its
 *   version; without it, tus 1.0.
 * - What the interop versions differ in is data (versions.ts: the completion
 *   field's name, the append media type, `Upload-Limit` and its age key,
 *   problem types, GET as offset retrieval, `Upload-Complete` on errors);
 *   handlers read the rules, never version numbers.
 * - One small module per operation under methods/; fields.ts reads and writes
 *   the structured fields (RFC 9651, `structured-headers`); respond.ts makes
 *   this dialect's answers and error responses.
 * - Everything else is shared with tus: authentication, ownership and limits
 *   (gateway, shared/limits.ts), creation with the pre-create hook
 *   (shared/creation.ts), the upload operations (upload/uploads.ts, which
 *   know no dialect) and the errors (errors.ts) with their common headers
 *   (shared/error-response.ts). An upload created in one dialect can be
 *   resumed in the other.
 * - Where the upload layer differs from the drafts: an upload whose length
 *   is known completes when its last byte arrives, even from a `?0` request
 *   (its object is stored then), and says `Upload-Complete: ?1` from then
 *   on; `?1` with no body at that point answers the completed result again.
 *   No 104 is ever sent (workerd builds no 1xx responses). `Repr-Digest` is
 *   not checked: it is optional, and tus checksums are per request.
 */
import type { Dialect } from "../shared/dialect-contract";
import { handleAppend } from "./methods/append";
import { handleCancel } from "./methods/cancel";
import { handleCreation } from "./methods/create";
import { handleOffset, handleRetrieval } from "./methods/offset";
import { handleOptions } from "./methods/options";
import { rufhErrorResponse } from "./respond";
import type { InteropRules } from "./versions";

const dialects = new Map<InteropRules, Dialect>();

/** The dialect at one interop version; made once per version. */
export function rufhDialect(rules: InteropRules): Dialect {
  let dialect = dialects.get(rules);
  if (!dialect) {
    dialect = {
      name: `Resumable Uploads for HTTP, interop version ${rules.version}`,
      handlers: {
        collectionOptions: (context) => handleOptions(context, rules),
        create: (context) => handleCreation(context, rules),
        createByPut: (context) => handleCreation(context, rules),
        options: (context) => handleOptions(context, rules),
        head: (context) => handleOffset(context, rules),
        append: (context) => handleAppend(context, rules),
        get: (context) => handleRetrieval(context, rules),
        delete: (context) => handleCancel(context),
      },
      errorResponse: (error, request) => rufhErrorResponse(error, request, rules),
    };
    dialects.set(rules, dialect);
  }
  return dialect;
}
