import type { GatewayConfig } from "../../config";
import type { Uploads } from "../../upload/uploads";

/** What every tus method handler gets: the request, the upload layer and the configuration. */
export interface TusContext {
  request: Request;
  uploads: Uploads;
  config: GatewayConfig;
  /** The upload id from the URL, for methods on an upload. */
  uploadId: string;
}
