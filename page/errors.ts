/**
 * What went wrong, in words for the person uploading. The gateway answers
 * every error with a plain-text body saying what was wrong; that text is
 * shown as it is, after a sentence on what to do about it.
 */
import type { DetailedError } from "tus-js-client";

export interface Problem {
  /** What to show. */
  message: string;
  /** True when the request never got an answer (offline, DNS, refused connection). */
  network: boolean;
}

export function describeError(error: Error | DetailedError): Problem {
  const response = "originalResponse" in error ? error.originalResponse : null;
  if (!response || response.getStatus() === 0) {
    if ("originalRequest" in error && error.originalRequest) {
      return { network: true, message: `Could not reach the gateway (${new URL(error.originalRequest.getURL()).host}): the connection failed or was lost.` };
    }
    return { network: false, message: error.message };
  }
  const status = response.getStatus();
  const body = response.getBody()?.trim() || "(no message)";
  return { network: false, message: `${advice(status)} The gateway answered ${status}: ${body}` };
}

function advice(status: number): string {
  switch (status) {
    case 401:
      return "The gateway needs a valid access token: enter one under Settings, then press Retry.";
    case 403:
      return "The gateway refused this upload.";
    case 404:
    case 410:
      return "The upload no longer exists on the gateway (it expired or was deleted): press Retry to start it again.";
    case 413:
      return "The file or its details are too large for this gateway.";
    case 415:
    case 400:
      return "The gateway did not accept the request.";
    default:
      return status >= 500 ? "The gateway had a problem; press Retry to try again." : "The upload failed.";
  }
}
