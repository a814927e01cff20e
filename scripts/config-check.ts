/**
 * The configuration check of `npm start` and `npm run deploy`: the variables
 * wrangler is about to give the Worker — wrangler.toml `[vars]`, `.dev.vars`
 * (for `npm start`) and `--var NAME:VALUE` arguments — validated by the
 * gateway's own parser (src/config/validate.ts), so that a bad value stops
 * the command with the variable's name and the fix, instead of a Worker that
 * answers every request with 500.
 */
import { build, stop } from "esbuild";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_getVarsForDev, unstable_readConfig } from "wrangler";

/*
 * The parts of src/config/validate.ts used here, restated: src/ is checked
 * with the Workers types and this file with Node's, so it imports no types
 * from there (scripts/tsconfig.json).
 */
type VariableSource = "wrangler.toml [vars]" | ".dev.vars" | "--var";
type SourcedValue = { value: unknown; source: VariableSource };
type CheckTarget = "local" | "deployed";
interface Validator {
  checkVariables(vars: Record<string, SourcedValue>, target: CheckTarget): { errors: string[]; warnings: string[] };
}

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

/** The wrangler options that decide which variables the Worker gets. */
export interface WranglerVarOptions {
  config: string | undefined;
  env: string | undefined;
  envFiles: string[];
  /** `--var NAME:VALUE`, in order (a later one wins, as in wrangler). */
  vars: [name: string, value: string][];
}

/**
 * Reads the options that matter here out of wrangler's arguments, in each
 * form wrangler accepts: `--var A:1`, `--var=A:1`, `--var A:1 B:2`.
 */
export function wranglerVarOptions(args: readonly string[]): WranglerVarOptions {
  const options: WranglerVarOptions = { config: undefined, env: undefined, envFiles: [], vars: [] };
  for (let at = 0; at < args.length; at++) {
    const [flag, inline] = splitFlag(args[at]!);
    const values: string[] = [];
    if (inline !== undefined) values.push(inline);
    else if (flag === "--var") while (at + 1 < args.length && /^[A-Za-z_][A-Za-z0-9_]*:/.test(args[at + 1]!)) values.push(args[++at]!);
    else if (["--config", "-c", "--env", "-e", "--env-file"].includes(flag) && at + 1 < args.length) values.push(args[++at]!);
    if (flag === "--var") {
      for (const pair of values) {
        const colon = pair.indexOf(":");
        if (colon > 0) options.vars.push([pair.slice(0, colon), pair.slice(colon + 1)]);
      }
    } else if (flag === "--config" || flag === "-c") options.config = values[0];
    else if (flag === "--env" || flag === "-e") options.env = values[0];
    else if (flag === "--env-file") options.envFiles.push(...values);
  }
  return options;
}

function splitFlag(arg: string): [flag: string, inline: string | undefined] {
  const equals = arg.startsWith("--") ? arg.indexOf("=") : -1;
  return equals > 0 ? [arg.slice(0, equals), arg.slice(equals + 1)] : [arg, undefined];
}

/**
 * The variables with where each came from. For `local`, what `wrangler dev`
 * merges: `[vars]`, then `.dev.vars` (or `.env` files); for `deployed`,
 * `[vars]` only (secrets live in Cloudflare). `--var` wins over both.
 */
export function gatherVariables(options: WranglerVarOptions, target: CheckTarget): Record<string, SourcedValue> {
  const config = unstable_readConfig({ config: options.config ?? join(ROOT, "wrangler.toml"), env: options.env }, { hideWarnings: true }) as {
    configPath: string;
    vars: Record<string, unknown>;
  };
  const gathered: Record<string, SourcedValue> = {};
  const set = (name: string, value: unknown, source: VariableSource) => (gathered[name] = { value, source });
  for (const [name, value] of Object.entries(config.vars)) set(name, value, "wrangler.toml [vars]");
  if (target === "local") {
    const merged = unstable_getVarsForDev(config.configPath, options.envFiles.length ? options.envFiles : undefined, config.vars, options.env, true) as Record<
      string,
      { type: string; value: unknown }
    >;
    // wrangler marks what it read from .dev.vars or .env as secret_text.
    for (const [name, binding] of Object.entries(merged)) if (binding.type === "secret_text") set(name, binding.value, ".dev.vars");
  }
  for (const [name, value] of options.vars) set(name, value, "--var");
  return gathered;
}

/**
 * Prints warnings and errors; true when the command may go on. The parser is
 * bundled from src/ on the spot (src/ uses extensionless imports, which Node
 * does not resolve), so it is exactly the Worker's.
 */
export async function checkConfiguration(args: readonly string[], target: CheckTarget): Promise<boolean> {
  const { checkVariables } = await loadValidator();
  let variables: Record<string, SourcedValue>;
  try {
    variables = gatherVariables(wranglerVarOptions(args), target);
  } catch (error) {
    // A wrangler.toml that does not parse, say: wrangler's own message says where.
    console.error(`✘ tus-edge: could not read the Worker's variables: ${(error as Error).message}`);
    return false;
  }
  const { errors, warnings } = checkVariables(variables, target);
  for (const warning of warnings) console.warn(`▲ tus-edge: ${warning}`);
  for (const error of errors) console.error(`✘ ${error}`);
  return errors.length === 0;
}

async function loadValidator(): Promise<Validator> {
  const bundle = await build({
    entryPoints: [join(ROOT, "src", "config", "validate.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    logLevel: "error",
  });
  // esbuild's service process would otherwise live on beside wrangler.
  await stop();
  const code = bundle.outputFiles[0]!.text;
  return (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)) as Validator;
}
