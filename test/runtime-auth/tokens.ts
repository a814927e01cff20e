/** Moved to test/lib/tokens.ts. */
export * from "../lib/tokens";
