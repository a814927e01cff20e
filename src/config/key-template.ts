/**
 * The grammar of OBJECT_KEY_TEMPLATE: which placeholders it may hold, and
 * why a template is unusable. The configuration checks it once; the upload
 * layer renders keys by it (upload/object-key.ts).
 */
export const KEY_PLACEHOLDERS = ["id", "subject", "filename", "date"] as const;
export type Placeholder = (typeof KEY_PLACEHOLDERS)[number];

/** Why a template is unusable, or undefined when it is fine. Checked once, with the configuration. */
export function keyTemplateProblem(template: string): string | undefined {
  if (template === "" || template.startsWith("/")) return "must be a relative key";
  if (/[\u0000-\u001f\u007f]/.test(template)) return "must not contain control characters";
  if (template.split("/").some((segment) => segment === "." || segment === "..")) return 'must not contain "." or ".." segments';
  for (const [, name] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!KEY_PLACEHOLDERS.includes(name as Placeholder)) return `uses {${name}}; placeholders are ${KEY_PLACEHOLDERS.map((p) => `{${p}}`).join(" ")}`;
  }
  return undefined;
}
