import type { Principal } from "../../auth/authenticate";
import type { GatewayConfig } from "../../config";
import type { CreateCallback } from "../../hooks/pre-create";
import type { Uploads } from "../../upload/uploads";

/** What every method handler of either dialect gets: the request, who sends it, the upload layer and the configuration. */
export interface RequestContext {
  request: Request;
  uploads: Uploads;
  config: GatewayConfig;
  principal: Principal;
  /** The library API's in-process pre-create callback, if any. */
  onUploadCreate: CreateCallback | undefined;
  /** The upload id from the URL, for methods on an upload. */
  uploadId: string;
}
