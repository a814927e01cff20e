/**
 * `npm run token -- --sub alice --scope "tus:upload tus:admin" --ttl 1h`:
 * a development token for the local gateway, printed alone on its line
 * (stdout), so that `TOKEN=$(npm run --silent token -- …)` keeps it. It is
 * an HS256 JWT signed with the `JWT_SECRET` that `npm start` gives the Worker
 * (.dev.vars, read through the same wrangler functions as npm start's
 * configuration check), with the audience and issuer the local configuration
 * requires (JWT_AUDIENCE, JWT_ISSUER) unless --aud / --iss say otherwise.
 *
 * For trying JWT mode, listing and administration locally, never for a
 * deployment: there, tokens come from your identity provider or your app's
 * backend, and the secret stays in Cloudflare.
 */
import { createHmac } from "node:crypto";
import { parseArgs } from "node:util";
import { gatherVariables } from "./config-check.ts";

const SCOPES = ["tus:upload", "tus:download", "tus:delete", "tus:admin"] as const;
/** The gateway refuses shorter HS256 secrets (src/config/index.ts). */
const MIN_SECRET_LENGTH = 32;

const HELP = `Usage: npm run token -- --sub SUBJECT [--scope "SCOPES"] [--ttl DURATION] [--upload-id ID] [--aud AUDIENCE] [--iss ISSUER]

Prints an HS256 token for the local gateway (npm start), signed with JWT_SECRET from .dev.vars.
  --sub        the token's subject (sub): whose uploads these are. Required.
  --scope      space- or comma-separated, each one of ${SCOPES.join(", ")}
               (the colon form, as the gateway reads them). Default: no scope claim, which the
               gateway takes as every tus: scope unless JWT_REQUIRE_TUS_SCOPES=true.
  --ttl        how long it is valid: 90s, 30m, 1h, 7d, or seconds. Default 1h.
  --upload-id  binds it to one upload (upload_id claim), e.g. for a download link.
  --aud        its audience; default JWT_AUDIENCE of the local configuration, if set.
  --iss        its issuer; default JWT_ISSUER of the local configuration, if set.
Only the token goes to stdout: TOKEN=$(npm run --silent token -- --sub alice --scope "tus:upload tus:download")`;

/** Says what went wrong and what to do, and exits. */
function fail(message: string): never {
  console.error(`✘ ${message}`);
  process.exit(1);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        sub: { type: "string" },
        scope: { type: "string" },
        ttl: { type: "string", default: "1h" },
        "upload-id": { type: "string" },
        aud: { type: "string" },
        iss: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${HELP}`);
  }
})();

if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (!values.sub) fail(`--sub is required: the subject whose uploads the token may touch.\n\n${HELP}`);

const ttlSeconds = parseDuration(values.ttl);
const scopes = values.scope === undefined ? undefined : parseScopes(values.scope);

const variables = gatherVariables({ config: undefined, env: undefined, envFiles: [], vars: [] }, "local");
const secret = variables.JWT_SECRET?.value;
if (typeof secret !== "string" || secret === "") {
  fail(
    "no JWT_SECRET in .dev.vars, the file `npm start` gives the Worker its secrets from. Create it (in the repository's folder) with a secret of at least 32 characters, and start the gateway in JWT mode:\n" +
      `    printf 'JWT_SECRET=%s\\n' "$(openssl rand -hex 32)" >> .dev.vars\n` +
      "    npm start -- --var AUTH_MODE:jwt      (or AUTH_MODE=jwt in .dev.vars)\n" +
      "then run this command again.",
  );
}
if (secret.length < MIN_SECRET_LENGTH) {
  fail(`JWT_SECRET (${variables.JWT_SECRET!.source}) is ${secret.length} characters; the gateway refuses fewer than ${MIN_SECRET_LENGTH}. Replace it, e.g. with the output of \`openssl rand -hex 32\`.`);
}
const configured = (name: string) => {
  const value = variables[name]?.value;
  return typeof value === "string" && value !== "" && value !== "*" ? value : undefined;
};

const now = Math.floor(Date.now() / 1000);
const claims: Record<string, unknown> = {
  sub: values.sub,
  iat: now,
  exp: now + ttlSeconds,
  ...(scopes ? { scope: scopes.join(" ") } : {}),
  ...(values["upload-id"] ? { upload_id: values["upload-id"] } : {}),
  ...(values.aud ?? configured("JWT_AUDIENCE") ? { aud: values.aud ?? configured("JWT_AUDIENCE") } : {}),
  ...(values.iss ?? configured("JWT_ISSUER") ? { iss: values.iss ?? configured("JWT_ISSUER") } : {}),
};
const input = `${base64Url({ alg: "HS256", typ: "JWT" })}.${base64Url(claims)}`;
console.log(`${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`);

function base64Url(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/** `90s`, `30m`, `1h`, `7d` or a number of seconds. */
function parseDuration(text: string): number {
  const match = /^([0-9]+)\s*([smhd]?)$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as "" | "s" | "m" | "h" | "d"] : 0;
  if (!match || seconds <= 0) fail(`--ttl must be a duration such as 90s, 30m, 1h or 7d, got "${text}"`);
  return seconds;
}

function parseScopes(text: string): string[] {
  const named = text.split(/[\s,]+/).filter(Boolean);
  for (const scope of named) {
    if ((SCOPES as readonly string[]).includes(scope)) continue;
    const meant = SCOPES.find((known) => known.slice(4) === scope.replace(/^tus[\s:_-]?/i, "").toLowerCase());
    fail(`unknown scope "${scope}"${meant ? `: did you mean ${meant}?` : ""} Scopes are ${SCOPES.join(", ")}, separated by spaces or commas.`);
  }
  return named;
}
