/** The test-only key file, as the tests read it (tsconfig has no resolveJsonModule). */
declare module "*/fixtures/jwt-test-keys.json" {
  const keys: {
    hs256Secret: string;
    jwks: { keys: Array<JsonWebKey & { kid: string }> };
    privateKeys: Record<"test-rsa" | "test-ec", JsonWebKey & { kid: string }>;
  };
  export default keys;
}
