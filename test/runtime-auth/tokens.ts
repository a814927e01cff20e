/**
 * Test tokens for the runtime suites whose gateway runs with access control
 * (runtime-auth, runtime-listing, runtime-library): test/lib/tokens.ts with
 * the fixture keys the vitest configuration gives those gateways
 * (test/fixtures/jwt-test-keys.json) and their audience and issuer.
 */
import keys from "../fixtures/jwt-test-keys.json";
import { testTokens } from "../lib/tokens";

export { base64Url, bearer, LEEWAY_SECONDS, nowSeconds, unsecuredToken, type Claims, type SigningAlgorithm, type SignOptions } from "../lib/tokens";

export const AUDIENCE = "tus-edge-tests";
export const ISSUER = "https://issuer.test";

export const { claimsFor, signToken, tokenFor, algorithmConfusionToken } = testTokens(keys, { audience: AUDIENCE, issuer: ISSUER });
