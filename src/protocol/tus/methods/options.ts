import { TUS_CHECKSUM_ALGORITHMS } from "../checksum";
import { TUS_EXTENSIONS } from "../extensions";
import { TUS_VERSION } from "../headers";
import { tusHeaders } from "../respond";
import type { RequestContext } from "../../shared/context";

/**
 * OPTIONS: what this server supports. Clients need not send Tus-Resumable
 * here. The spec allows 200 or 204; 200 is what tusd answers and what
 * third-party conformance tests expect (a CORS preflight accepts either).
 */
export function handleOptions({ config }: RequestContext): Response {
  return new Response(null, {
    status: 200,
    headers: tusHeaders({
      "Tus-Version": TUS_VERSION,
      "Tus-Extension": TUS_EXTENSIONS.join(","),
      "Tus-Max-Size": String(config.maxUploadSize),
      "Tus-Checksum-Algorithm": TUS_CHECKSUM_ALGORITHMS,
    }),
  });
}
