/**
 * tus-edge: a tus 1.0.0 resumable-upload gateway for Cloudflare Workers.
 * The Worker routes each request to its upload's Durable Object, which
 * writes the bytes into R2 multipart uploads.
 *
 * This module is the default Worker, configured from wrangler variables, and
 * the library API for mounting the gateway in a Worker of your own (the
 * package's entry: `npm pack` ships it compiled, see tsconfig.lib.json).
 * Being the Worker's main module, it may export at runtime only what workerd
 * accepts there (handlers, classes, functions): a constant exported from here
 * stops the default Worker from starting. Types are erased and always fine.
 */
import { createTusGateway } from "./gateway";

const gateway = createTusGateway();

/** The Durable Object class bound as UPLOADS in wrangler.toml. */
export const UploadObject = gateway.UploadObject;

/** The Durable Object class bound as SUBJECTS: each subject's upload index and quotas. */
export const SubjectIndex = gateway.SubjectIndex;

export default { fetch: gateway.fetch };

export { createTusGateway } from "./gateway";
export type { GatewayEnv, TusGateway, TusGatewayOptions } from "./gateway";
export type { GatewayConfig } from "./config";
export type { UploadEvent, UploadEventType } from "./hooks/events";
export type { Listing, ListedUpload } from "./listing/listing-answer";
export type { CreateDecision, UploadProposal } from "./hooks/pre-create";
export type { FinishingCallbackResult, FinishingQuestion, FinishingUpload } from "./hooks/pre-finish";
export { verifySignature } from "./hooks/signature";
