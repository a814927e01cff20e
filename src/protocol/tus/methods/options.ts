import { TUS_CHECKSUM_ALGORITHMS } from "../checksum";
import { TUS_EXTENSIONS } from "../extensions";
import { TUS_VERSION } from "../headers";
import { tusHeaders } from "../respond";
import type { TusContext } from "../context";

/** OPTIONS: what this server supports. Clients need not send Tus-Resumable here. */
export function handleOptions({ config }: TusContext): Response {
  return new Response(null, {
    status: 204,
    headers: tusHeaders({
      "Tus-Version": TUS_VERSION,
      "Tus-Extension": TUS_EXTENSIONS.join(","),
      "Tus-Max-Size": String(config.maxUploadSize),
      "Tus-Checksum-Algorithm": TUS_CHECKSUM_ALGORITHMS,
    }),
  });
}
