/**
 * Where and how to upload: the tus endpoint and the chunk size, kept in
 * localStorage; `?endpoint=` in the page's URL overrides the stored one.
 */
import { byId } from "./dom";

export const MiB = 1024 * 1024;

/**
 * 50 MiB: well below the 100 MB request body limit of Cloudflare's Free and
 * Pro plans (each PATCH carries one chunk), yet few requests per file.
 */
export const DEFAULT_CHUNK_MIB = 50;
const STORAGE_KEY = "tus-edge:settings";

export interface Settings {
  /** Absolute URL of the tus collection, e.g. http://127.0.0.1:8787/files/. */
  endpoint: string;
  /** Bytes per PATCH. */
  chunkSize: number;
}

export function loadSettings(): Settings {
  let stored: Partial<{ endpoint: string; chunkSizeMiB: number }> = {};
  try {
    stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") as typeof stored;
  } catch {
    // A damaged entry is replaced by the defaults on the next save.
  }
  const fromUrl = new URLSearchParams(location.search).get("endpoint");
  return {
    endpoint: absoluteEndpoint(fromUrl ?? stored.endpoint ?? "/files/"),
    chunkSize: validChunkMiB(stored.chunkSizeMiB) * MiB,
  };
}

function saveSettings(settings: Settings): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ endpoint: settings.endpoint, chunkSizeMiB: settings.chunkSize / MiB }));
  } catch {
    // Private mode or a full storage: the settings last until the page is closed.
  }
}

function absoluteEndpoint(raw: string): string {
  const url = new URL(raw, location.href);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

function validChunkMiB(value: unknown): number {
  const n = Number(value);
  return Number.isFinite(n) && n >= 1 && n <= 4096 ? n : DEFAULT_CHUNK_MIB;
}

/** Wires the settings form to `settings`; `onEndpointChange` runs after the endpoint changed. */
export function bindSettingsForm(settings: Settings, onEndpointChange: () => void): void {
  const endpointInput = byId<HTMLInputElement>("endpoint");
  const chunkInput = byId<HTMLInputElement>("chunk-size");
  const chunkError = byId("chunk-size-error");
  // Enter in a field applies it; the form is never sent anywhere.
  byId<HTMLFormElement>("settings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    document.activeElement?.dispatchEvent(new Event("change"));
  });
  endpointInput.value = settings.endpoint;
  chunkInput.value = String(settings.chunkSize / MiB);

  endpointInput.addEventListener("change", () => {
    try {
      settings.endpoint = absoluteEndpoint(endpointInput.value.trim() || "/files/");
    } catch {
      settings.endpoint = absoluteEndpoint("/files/");
    }
    // Enter in a field applies it; the form is never sent anywhere.
  byId<HTMLFormElement>("settings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    document.activeElement?.dispatchEvent(new Event("change"));
  });
  endpointInput.value = settings.endpoint;
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
