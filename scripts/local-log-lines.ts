/**
 * `npm start`'s output as plain lines: what wrangler dev prints, made
 * readable by `jq` and by eye.
 *
 * wrangler dev passes the Worker's `console.warn` and `console.error` through
 * its own logger, which wraps each in esbuild's message box ("▲ [WARNING] …"
 * or "✘ [ERROR] …", ANSI colours whatever NO_COLOR says, and an empty line
 * after), so a gateway log line read from a file is no longer JSON. The
 * gateway keeps those console methods, because a deployment's Workers Logs
 * takes each line's level from them; here the wrapping is taken off again.
 *
 * wrangler also logs every request itself ("[wrangler:info] GET /files/ 200
 * OK (3ms)"), which the gateway's `ResponseOutgoing` line already says with
 * more in it; wrangler 4 has no option that drops only those lines
 * (`--log-level warn` drops the Worker's own info lines as well), so they are
 * left out here.
 *
 * Every structured line goes to stdout, whichever stream wrangler wrote it
 * on (warnings and errors on stderr), so `npm start > log.jsonl` keeps all
 * of them; wrangler's own messages stay where wrangler put them.
 */

/** ANSI escape sequences (colours, bold). */
const ANSI = /\u001b\[[0-9;]*m/g;

/** esbuild's message box around one line: the level mark, then the text. */
const DECORATION = /^(?:▲ \[WARNING\]|✘ \[ERROR\]) (\{.*\})\s*$/;

/** wrangler's own request line: `[wrangler:info] METHOD /path STATUS Text (12ms)`. */
const WRANGLER_REQUEST_LINE = /^\[wrangler:info\] [A-Z]+ \S+ [0-9]{3}\b.*\([0-9.]+ ?m?s\)$/;

/** A line that holds one JSON object: a structured log line. */
function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** A line to print, and whether it is a structured log line (for stdout). */
export interface ShownLine {
  text: string;
  toStdout?: boolean;
}

/**
 * Turns one stream of wrangler's output into lines for `npm start`, one
 * line at a time (without its newline). Returns the line to print, or
 * undefined to print nothing. Keeps one piece of state: the empty line
 * esbuild puts after a box it took off, which is dropped too.
 */
export function createLocalLogFilter(): (line: string) => ShownLine | undefined {
  let unwrapped = false;
  return (line) => {
    const plain = line.replace(ANSI, "");
    if (unwrapped && plain.trim() === "") {
      unwrapped = false;
      return undefined;
    }
    unwrapped = false;
    if (WRANGLER_REQUEST_LINE.test(plain.trim())) return undefined;
    const boxed = DECORATION.exec(plain.trim());
    if (boxed && isJsonObject(boxed[1]!)) {
      unwrapped = true;
      return { text: boxed[1]!, toStdout: true };
    }
    if (isJsonObject(plain.trim())) return { text: plain.trim(), toStdout: true };
    return { text: line };
  };
}
