/**
 * Finished uploads: name, size, sha256 (computed in this browser) and a
 * download link through the gateway. Kept in localStorage, so the list
 * survives a reload; the token is added to links when they are drawn, never
 * stored with them.
 */
import { byId, h } from "./dom";
import { formatBytes } from "./format";
import type { TokenStore } from "./token";

export interface FinishedUpload {
  name: string;
  size: number;
  url: string;
  /** Hex sha256; undefined while it is being computed, "" if it could not be. */
  sha256: string | undefined;
  finishedAt: string;
}

const STORAGE_KEY = "tus-edge:finished";
const KEEP = 50;

export class FinishedList {
  private entries: FinishedUpload[] = [];
  private readonly list = byId<HTMLUListElement>("finished-list");
  private readonly section = byId("finished-section");

  constructor(private readonly token: TokenStore) {
    try {
      const stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "[]") as unknown;
      if (Array.isArray(stored)) this.entries = stored as FinishedUpload[];
      // A digest still computing when the page was left never will be.
      for (const entry of this.entries) entry.sha256 ??= "";
    } catch {
      this.entries = [];
    }
    byId("clear-finished").addEventListener("click", () => {
      this.entries = [];
      this.save();
      this.render();
    });
    this.render();
  }

  /** Adds an upload at the top; `sha256` fills in its digest when known. */
  add(entry: FinishedUpload, sha256: Promise<string | undefined>): void {
    this.entries.unshift(entry);
    this.entries.length = Math.min(this.entries.length, KEEP);
    this.save();
    this.render();
    void sha256.then((hex) => {
      entry.sha256 = hex ?? "";
      this.save();
      this.render();
    });
  }

  /** Redraws, e.g. after the token changed: links carry the current one. */
  render(): void {
    this.section.hidden = this.entries.length === 0;
    this.list.replaceChildren(...this.entries.map((entry) => this.item(entry)));
  }

  private item(entry: FinishedUpload): HTMLLIElement {
    const finishedAt = new Date(entry.finishedAt);
    return h(
      "li",
      { class: "finished" },
      h("div", { class: "upload-title" }, h("span", { class: "file-name" }, entry.name), h("span", { class: "file-size" }, formatBytes(entry.size))),
      h(
        "dl",
        { class: "finished-details" },
        h("dt", {}, "sha256"),
        h("dd", { class: "sha256" }, entry.sha256 ? h("code", {}, entry.sha256) : entry.sha256 === "" ? "not available (the file could not be read again)" : "computing…"),
        h("dt", {}, "Finished"),
        h("dd", {}, h("time", { datetime: entry.finishedAt }, finishedAt.toLocaleString())),
      ),
      h(
        "a",
        { class: "button download", href: this.token.withAccessToken(entry.url), download: entry.name, "aria-label": `Download ${entry.name}` },
        "Download",
      ),
    );
  }

  private save(): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.entries));
    } catch {
      // Storage full or refused: the list lasts until the page is closed.
    }
  }
}
