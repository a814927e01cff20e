/** The row of one upload in progress: progress bar, speed, time left, notes, errors and buttons. */
import { h } from "./dom";
import type { FileUpload, UploadState } from "./file-upload";
import { formatBytes, formatDuration, formatPercent, formatRate } from "./format";

const STATE_TEXT: Record<UploadState, string> = {
  preparing: "Connecting…",
  uploading: "Uploading",
  paused: "Paused",
  retrying: "Retrying",
  offline: "Offline — waiting for the network",
  failed: "Failed",
  finished: "Finished",
  canceled: "Canceled",
};

export class UploadRow {
  readonly element: HTMLLIElement;
  private readonly progress: HTMLProgressElement;
  private readonly stats: HTMLElement;
  private readonly note: HTMLElement;
  private readonly error: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly cancel: HTMLButtonElement;
  private pending = false;

  constructor(private readonly upload: FileUpload) {
    const name = upload.file.name;
    this.progress = h("progress", { class: "upload-progress", max: String(Math.max(1, upload.total)), value: "0", "aria-label": `${name}: upload progress` });
    this.stats = h("p", { class: "upload-stats" });
    this.note = h("p", { class: "upload-note" });
    // role=alert: an error is read out as soon as it appears.
    this.error = h("p", { class: "upload-error", role: "alert" });
    this.toggle = h("button", { type: "button", class: "button secondary upload-toggle" });
    this.cancel = h("button", { type: "button", class: "button secondary upload-cancel", "aria-label": `Cancel ${name}` }, "Cancel");
    this.toggle.addEventListener("click", () => (upload.state === "paused" || upload.state === "failed" || upload.state === "offline" ? upload.resume() : upload.pause()));
    this.cancel.addEventListener("click", () => void upload.cancel());
    this.element = h(
      "li",
      { class: "upload" },
      h("div", { class: "upload-title" }, h("span", { class: "file-name" }, name), h("span", { class: "file-size" }, formatBytes(upload.total))),
      this.progress,
      this.stats,
      this.note,
      this.error,
      h("div", { class: "upload-actions" }, this.toggle, this.cancel),
    );
    this.render();
  }

  /** Renders at the next frame: progress events come faster than anyone can read. */
  update(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  private render(): void {
    const { upload } = this;
    const name = upload.file.name;
    this.element.dataset.state = upload.state;
    // For scripts and tests: where the upload lives, and where it last continued from.
    if (upload.url) this.element.dataset.uploadUrl = upload.url;
    if (upload.resumedFrom !== undefined) this.element.dataset.resumedFrom = String(upload.resumedFrom);
    this.progress.value = Math.min(upload.sent, upload.total);
    const parts = [STATE_TEXT[upload.state], formatPercent(upload.sent, upload.total), `${formatBytes(upload.sent)} of ${formatBytes(upload.total)}`];
    const rate = upload.state === "uploading" ? upload.meter.rate() : undefined;
    if (rate !== undefined) {
      parts.push(formatRate(rate));
      const left = upload.meter.secondsLeft(upload.sent, upload.total);
      if (left !== undefined) parts.push(`${formatDuration(left)} left`);
    }
    this.stats.textContent = parts.join(" · ");
    this.note.textContent = upload.note;
    this.note.hidden = !upload.note;
    this.error.textContent = upload.state === "failed" ? (upload.problem?.message ?? "The upload failed.") : "";
    this.error.hidden = upload.state !== "failed";
    const resumable = upload.state === "paused" || upload.state === "failed" || upload.state === "offline";
    const label = upload.state === "failed" ? "Retry" : resumable ? "Resume" : "Pause";
    this.toggle.textContent = label;
    this.toggle.setAttribute("aria-label", `${label} ${name}`);
    this.toggle.disabled = upload.state === "finished" || upload.state === "canceled";
    this.cancel.disabled = upload.state === "finished" || upload.state === "canceled";
    // A failed upload that never started has nothing to cancel on the gateway: it is only removed.
    const cancelLabel = upload.state === "failed" && !upload.url ? "Remove" : "Cancel";
    this.cancel.textContent = cancelLabel;
    this.cancel.setAttribute("aria-label", `${cancelLabel} ${name}`);
  }
}
