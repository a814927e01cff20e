/**
 * tus-edge: a tus 1.0.0 resumable-upload gateway for Cloudflare Workers.
 * The Worker routes each request to its upload's Durable Object, which
 * writes the bytes into R2 multipart uploads.
 */
export { default } from "./gateway";
export { createGateway } from "./gateway";
export { UploadObject } from "./upload/upload-object";
