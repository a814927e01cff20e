/**
 * Unfinished uploads the browser remembers (tus-js-client's URL storage),
 * shown after a reload with how much of each the gateway holds. A browser
 * forgets a chosen file when the page reloads, so the page cannot continue by
 * itself: it asks for the same file again, and tus-js-client's fingerprint
 * then continues the same upload from the gateway's offset.
 *
 * Stored URLs on a gateway the page does not trust (gateway-trust.ts; e.g.
 * left by an older page that followed a link's `?endpoint=`) are forgotten
 * without a request: asking them would send the token along.
 */
import * as tus from "tus-js-client";
import { byId, h } from "./dom";
import { formatBytes, formatPercent } from "./format";
import { storedProgress } from "./gateway-api";
import type { GatewayTrust } from "./gateway-trust";
import type { TokenStore } from "./token";

type PreviousUpload = tus.PreviousUpload;

export class ResumableList {
  private readonly list = byId<HTMLUListElement>("resumable-list");
  private readonly section = byId("resumable-section");
  private generation = 0;

  constructor(
    private readonly trust: GatewayTrust,
    private readonly token: TokenStore,
    /** Opens the file picker. */
    private readonly chooseFiles: () => void,
    /** Upload URLs in progress on this page right now: not shown here. */
    private readonly activeUrls: () => Set<string>,
  ) {}

  async refresh(): Promise<void> {
    const generation = ++this.generation;
    const storage = tus.defaultOptions.urlStorage;
    const active = this.activeUrls();
    const stored = await storage.findAllUploads();
    for (const upload of stored) {
      if (upload.uploadUrl && !this.trust.trusts(upload.uploadUrl)) await storage.removeUpload(upload.urlStorageKey);
    }
    const previous = stored.filter((upload) => upload.uploadUrl && this.trust.trusts(upload.uploadUrl) && !active.has(upload.uploadUrl));
    const items = await Promise.all(previous.map((upload) => this.item(upload)));
    if (generation !== this.generation) return; // a newer refresh overtook this one
    const shown = items.filter((item): item is HTMLLIElement => item !== undefined);
    this.list.replaceChildren(...shown);
    this.section.hidden = shown.length === 0;
  }

  private async item(upload: PreviousUpload): Promise<HTMLLIElement | undefined> {
    const url = upload.uploadUrl!;
    const storage = tus.defaultOptions.urlStorage;
    const stored = await storedProgress(url, this.token.authorizationFor(url));
    if (stored === "gone") {
      // Expired or deleted on the gateway: nothing left to continue.
      await storage.removeUpload(upload.urlStorageKey);
      return undefined;
    }
    const name = upload.metadata.filename ?? "unnamed file";
    const size = upload.size ?? (stored === "unknown" ? undefined : stored.length);
    const progress =
      stored === "unknown"
        ? "The gateway could not be asked how far it got."
        : `${formatPercent(stored.offset, size ?? stored.offset)} (${formatBytes(stored.offset)}) is on the gateway.`;
    const choose = h("button", { type: "button", class: "button", "aria-label": `Choose ${name} again to continue` }, "Choose file to continue");
    const discard = h("button", { type: "button", class: "button secondary", "aria-label": `Discard the upload of ${name}` }, "Discard");
    choose.addEventListener("click", this.chooseFiles);
    discard.addEventListener("click", async () => {
      discard.disabled = true;
      const authorization = this.token.authorizationFor(url);
      try {
        await tus.Upload.terminate(url, { onBeforeRequest: (request) => void (authorization && request.setHeader("Authorization", authorization)) });
      } catch {
        // Already gone, or unreachable: it expires on the gateway by itself.
      }
      await storage.removeUpload(upload.urlStorageKey);
      await this.refresh();
    });
    return h(
      "li",
      { class: "resumable" },
      h("div", { class: "upload-title" }, h("span", { class: "file-name" }, name), size !== undefined && h("span", { class: "file-size" }, formatBytes(size))),
      h("p", { class: "resumable-progress" }, progress, ` Started ${new Date(upload.creationTime).toLocaleString()}.`),
      h("div", { class: "upload-actions" }, choose, discard),
    );
  }
}
