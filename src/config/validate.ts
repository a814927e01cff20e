import { parseConfig } from "./index";
import { ConfigError, SECRET_VARIABLES } from "./parse";
import { closestVariable, knownVariables } from "./variables";

/**
 * The configuration check `npm start` and `npm run deploy` run before wrangler
 * does (scripts/config-check.ts): the same parser as the Worker, on the
 * variables wrangler is about to hand it, so that a bad value stops the
 * command instead of turning every request into a 500.
 */

/** Where a variable was set; it decides what a secret's fix says. */
export type VariableSource = "wrangler.toml [vars]" | ".dev.vars" | "--var";

export interface SourcedValue {
  value: unknown;
  source: VariableSource;
}

/**
 * `local`: `npm start`, where every value is here. `deployed`: `npm run
 * deploy`, where secrets live in Cloudflare (`wrangler secret put`) and
 * cannot be seen.
 */
export type CheckTarget = "local" | "deployed";

export interface ConfigCheck {
  /** Each stops the command. */
  errors: string[];
  /** Printed; the command goes on. */
  warnings: string[];
}

export function checkVariables(vars: Record<string, SourcedValue>, target: CheckTarget): ConfigCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const known = knownVariables();
  const values: Record<string, unknown> = {};
  for (const [name, { value, source }] of Object.entries(vars)) {
    values[name] = value;
    if (!known.has(name)) {
      const meant = closestVariable(name, known);
      if (meant) warnings.push(`${name} (${source}) is not a tus-edge variable and is ignored: did you mean ${meant}?`);
    }
    if (SECRET_VARIABLES.has(name)) {
      const problem = secretProblem(name, source, target);
      if (problem?.stops) errors.push(problem.message);
      else if (problem) warnings.push(problem.message);
    }
  }
  if (target === "deployed") {
    const authMode = deployedAuthModeProblem(vars.AUTH_MODE);
    if (authMode?.stops) errors.push(authMode.message);
    else if (authMode) warnings.push(authMode.message);
    warnings.push(...assumeDeployedSecrets(values));
  }
  errors.push(...parseErrors(values, Object.fromEntries(Object.entries(vars).map(([name, { source }]) => [name, source]))));
  return { errors, warnings };
}

function secretProblem(name: string, source: VariableSource, target: CheckTarget): { message: string; stops: boolean } | undefined {
  const putIt = `set it with \`npx wrangler secret put ${name}\``;
  if (source === "wrangler.toml [vars]") {
    const where = target === "deployed" ? putIt : `move it to .dev.vars for \`npm start\`, and ${putIt} for a deployment`;
    // Deploying it would publish the secret as a plain-text variable.
    return { message: `${name} is a secret but is set in wrangler.toml [vars], which is committed and shown in plain text: ${where}`, stops: target === "deployed" };
  }
  if (source === "--var" && target === "deployed") {
    return { message: `${name} is a secret: --var would deploy it as a plain-text variable; ${putIt} instead`, stops: true };
  }
  return undefined;
}

/**
 * A deployed gateway without AUTH_MODE refuses every request (src/gateway.ts
 * fails closed on hosts that are not loopback): said here, it stops the
 * deploy instead. A value given only as --var lasts until the next deploy,
 * which replaces the Worker's variables with [vars] and its own --var.
 */
function deployedAuthModeProblem(authMode: SourcedValue | undefined): { message: string; stops: boolean } | undefined {
  if (authMode === undefined || authMode.value === undefined || authMode.value === null || authMode.value === "") {
    return {
      message:
        'AUTH_MODE is not set: a deployed gateway refuses every request (500) until it is. In wrangler.toml [vars], set AUTH_MODE = "jwt" ' +
        "(with `npx wrangler secret put JWT_SECRET`, or JWT_JWKS in [vars]) to require tokens, " +
        'or AUTH_MODE = "open" to let anyone who can reach it create, read and delete uploads',
      stops: true,
    };
  }
  if (authMode.source === "--var") {
    return {
      message: `AUTH_MODE given as --var lasts only until the next deploy (wrangler keeps no --var): put AUTH_MODE = ${JSON.stringify(String(authMode.value))} in wrangler.toml [vars]`,
      stops: false,
    };
  }
  return undefined;
}

/**
 * A deployed Worker's secrets are not visible here: a missing one is taken
 * to be set in Cloudflare, and the operator is reminded where it must be.
 */
function assumeDeployedSecrets(values: Record<string, unknown>): string[] {
  const reminders: string[] = [];
  if (values.AUTH_MODE === "jwt" && values.JWT_SECRET === undefined && values.JWT_JWKS === undefined) {
    values.JWT_SECRET = "set in Cloudflare, not visible here ....";
    reminders.push("AUTH_MODE is jwt without JWT_JWKS: the Worker needs the secret JWT_SECRET (`npx wrangler secret put JWT_SECRET`, at least 32 characters); without it every request answers 500");
  }
  return reminders;
}

/**
 * Every variable parseConfig refuses, not just the first: after each error
 * the variable it names is dropped (back to its default) and the rest parsed
 * again.
 */
function parseErrors(values: Record<string, unknown>, sources: Record<string, VariableSource>): string[] {
  const errors: string[] = [];
  const remaining = { ...values };
  const reported = new Set<string>();
  for (;;) {
    try {
      parseConfig(remaining);
      return errors;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const source = values[error.variable] === undefined ? undefined : sources[error.variable];
      if (!reported.has(error.variable)) errors.push(source ? `${error.message} — set in ${source}` : error.message);
      reported.add(error.variable);
      // A variable that is missing rather than wrong (JWT_SECRET for AUTH_MODE=jwt) cannot be dropped: stop there.
      if (!(error.variable in remaining)) return errors;
      delete remaining[error.variable];
    }
  }
}
