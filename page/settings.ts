/**
 * Where and how to upload: the tus endpoint and the chunk size, kept in
 * localStorage; `?endpoint=` in the page's URL overrides the stored one. An
 * endpoint the gateway did not list (gateway-trust.ts) is refused wherever
 * it comes from, with a message: a link must not be able to send someone's
 * files elsewhere.
 */
import { byId, h } from "./dom";
import type { GatewayTrust } from "./gateway-trust";

export const MiB = 1024 * 1024;

/**
 * 50 MiB: well below the 100 MB request body limit of Cloudflare's Free and
 * Pro plans (each PATCH carries one chunk), yet few requests per file.
 */
export const DEFAULT_CHUNK_MIB = 50;
const STORAGE_KEY = "tus-edge:settings";
const notAllowed = "this page uploads only to the endpoints its gateway allows.";

export interface Settings {
  /** Absolute URL of the tus collection, e.g. http://127.0.0.1:8787/files/: always one the gateway allows. */
  endpoint: string;
  /** Bytes per PATCH. */
  chunkSize: number;
}

export interface LoadedSettings {
  settings: Settings;
  /** Why an endpoint from the address or the browser's storage was not used, for the page to show. */
  refusal: string | undefined;
}

export function loadSettings(trust: GatewayTrust): LoadedSettings {
  let stored: Partial<{ endpoint: string; chunkSizeMiB: number }> = {};
  try {
    stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") as typeof stored;
  } catch {
    // A damaged entry is replaced by the defaults on the next save.
  }
  const settings: Settings = { endpoint: trust.ownEndpoint, chunkSize: validChunkMiB(stored.chunkSizeMiB) * MiB };
  const fromUrl = new URLSearchParams(location.search).get("endpoint");
  const candidates: [string | undefined, string][] = [
    [fromUrl ?? undefined, "given in this page's address"],
    [typeof stored.endpoint === "string" ? stored.endpoint : undefined, "saved in this browser"],
  ];
  let refusal: string | undefined;
  for (const [raw, source] of candidates) {
    if (raw === undefined) continue;
    const endpoint = absoluteEndpoint(raw);
    if (endpoint !== undefined && trust.allowsEndpoint(endpoint)) return { settings: { ...settings, endpoint }, refusal };
    refusal ??= `Ignored the upload endpoint ${raw} ${source}: ${notAllowed}`;
  }
  return { settings, refusal };
}

function saveSettings(settings: Settings): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ endpoint: settings.endpoint, chunkSizeMiB: settings.chunkSize / MiB }));
  } catch {
    // Private mode or a full storage: the settings last until the page is closed.
  }
}

function absoluteEndpoint(raw: string): string | undefined {
  try {
    const url = new URL(raw, location.href);
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    return url.href;
  } catch {
    return undefined;
  }
}

function validChunkMiB(value: unknown): number {
  const n = Number(value);
  return Number.isFinite(n) && n >= 1 && n <= 4096 ? n : DEFAULT_CHUNK_MIB;
}

/** Wires the settings form to `settings`; `onEndpointChange` runs after the endpoint changed. */
export function bindSettingsForm(settings: Settings, trust: GatewayTrust, onEndpointChange: () => void): void {
  const endpointInput = byId<HTMLInputElement>("endpoint");
  const endpointError = byId("endpoint-error");
  const chunkInput = byId<HTMLInputElement>("chunk-size");
  const chunkError = byId("chunk-size-error");
  // Enter in a field applies it; the form is never sent anywhere.
  byId<HTMLFormElement>("settings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    document.activeElement?.dispatchEvent(new Event("change"));
  });
  byId("endpoint-options").replaceChildren(...trust.endpoints.map((endpoint) => h("option", { value: endpoint })));
  endpointInput.value = settings.endpoint;
  chunkInput.value = String(settings.chunkSize / MiB);

  endpointInput.addEventListener("change", () => {
    const typed = endpointInput.value.trim();
    const endpoint = typed ? absoluteEndpoint(typed) : trust.ownEndpoint;
    const valid = endpoint !== undefined && trust.allowsEndpoint(endpoint);
    endpointInput.setAttribute("aria-invalid", String(!valid));
    endpointError.textContent = valid ? "" : `Not used: ${notAllowed} Choose one of: ${trust.endpoints.join(", ")}.`;
    if (!valid) return;
    settings.endpoint = endpoint;
    endpointInput.value = endpoint;
    saveSettings(settings);
    onEndpointChange();
  });
  chunkInput.addEventListener("change", () => {
    const mib = Number(chunkInput.value);
    const valid = Number.isFinite(mib) && mib >= 1 && mib <= 4096;
    chunkInput.setAttribute("aria-invalid", String(!valid));
    chunkError.textContent = valid ? "" : "Enter a number of MiB from 1 to 4096.";
    if (!valid) return;
    settings.chunkSize = Math.round(mib * MiB);
    saveSettings(settings);
  });
}
