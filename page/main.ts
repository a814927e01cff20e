/**
 * The upload page: choose or drop files, watch them upload, pause, resume
 * after a lost connection or a reload, and download what finished. Built
 * with esbuild into public/ (scripts/build-page.ts) and served by the Worker
 * from its static assets when UPLOAD_PAGE allows it.
 */
import { announce, byId } from "./dom";
import { FileUpload } from "./file-upload";
import { FinishedList } from "./finished-list";
import { formatExactBytes } from "./format";
import { probeGateway } from "./gateway-api";
import { GatewayTrust, parsePageSettings } from "./gateway-trust";
import { askAboutLinkToken } from "./link-token-prompt";
import { ResumableList } from "./resumable-list";
import { bindSettingsForm, loadSettings } from "./settings";
import { TokenStore } from "./token";
import { UploadRow } from "./upload-row";

/** What the gateway allows this page (src/page/serve-page.ts writes the meta). */
const trust = new GatewayTrust(location.origin, parsePageSettings(document.querySelector<HTMLMetaElement>('meta[name="tus-edge-page"]')?.content));
const { settings, refusal } = loadSettings(trust);
const token = new TokenStore(trust);
const fileInput = byId<HTMLInputElement>("file-input");
const uploadList = byId<HTMLUListElement>("upload-list");
const uploadSection = byId("upload-section");
const active = new Map<FileUpload, UploadRow>();

const finished = new FinishedList(token);
const resumable = new ResumableList(
  trust,
  token,
  () => fileInput.click(),
  () => new Set([...active.keys()].flatMap((upload) => (upload.url ? [upload.url] : []))),
);

const listener = {
  changed(upload: FileUpload) {
    const row = active.get(upload);
    if (upload.state === "canceled") return remove(upload);
    row?.update();
  },
  finished(upload: FileUpload) {
    remove(upload);
    const sha256 = waitForHash(upload);
    finished.add({ name: upload.file.name, size: upload.total, url: upload.url!, sha256: upload.sha256, finishedAt: new Date().toISOString() }, sha256);
    void sha256.then((hex) => reportToEmbedder(upload, hex));
    void resumable.refresh();
  },
};

function remove(upload: FileUpload): void {
  active.get(upload)?.element.remove();
  active.delete(upload);
  uploadSection.hidden = active.size === 0;
}

/** The digest may still be computing when the upload finishes (the network was faster); undefined if it failed. */
function waitForHash(upload: FileUpload): Promise<string | undefined> {
  return new Promise((resolve) => {
    const check = () => {
      if (upload.sha256 === undefined && upload.hashProblem === undefined) return false;
      resolve(upload.sha256);
      return true;
    };
    if (check()) return;
    const poll = window.setInterval(() => check() && window.clearInterval(poll), 200);
  });
}

/** Tells the page that embeds this one (and sent a token) about each finished upload. */
function reportToEmbedder(upload: FileUpload, sha256: string | undefined): void {
  // An opaque origin ("null", e.g. a sandboxed frame) cannot be addressed without telling everyone.
  if (!token.embedderOrigin || token.embedderOrigin === "null") return;
  window.parent.postMessage(
    { type: "tus-edge:finished", upload: { name: upload.file.name, size: upload.total, url: upload.url, sha256 } },
    token.embedderOrigin,
  );
}

function addFiles(files: Iterable<File>): void {
  for (const file of files) {
    const same = [...active.keys()].find(
      (upload) => upload.file.name === file.name && upload.file.size === file.size && upload.file.lastModified === file.lastModified,
    );
    if (same) {
      announce(`${file.name} is already uploading`);
      continue;
    }
    const upload = new FileUpload(file, settings, trust, token, listener);
    const row = new UploadRow(upload);
    active.set(upload, row);
    uploadList.append(row.element);
    uploadSection.hidden = false;
    void upload.start().then(() => resumable.refresh());
  }
}

fileInput.addEventListener("change", () => {
  addFiles(fileInput.files ?? []);
  fileInput.value = ""; // so that choosing the same file again fires `change`
});

// Dropping works anywhere on the page; outside the drop zone too, rather than the browser opening the file.
const dropzone = byId("dropzone");
let dragDepth = 0;
window.addEventListener("dragenter", (event) => {
  if (!event.dataTransfer?.types.includes("Files")) return;
  dragDepth++;
  dropzone.classList.add("dragging");
});
window.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropzone.classList.remove("dragging");
});
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  dropzone.classList.remove("dragging");
  if (event.dataTransfer?.files.length) addFiles(event.dataTransfer.files);
});

window.addEventListener("online", () => {
  announce("Back online");
  for (const upload of active.keys()) upload.reconnect();
});
window.addEventListener("offline", () => announce("The network is offline; uploads continue when it is back"));

/** Why an endpoint from the address or storage was refused; shown until another endpoint is chosen under Settings. */
let notice = refusal;

async function showGateway(): Promise<void> {
  const status = byId("gateway-status");
  status.classList.toggle("warning", notice !== undefined);
  status.removeAttribute("title");
  const prefix = notice ? `${notice} ` : "";
  try {
    const info = await probeGateway(settings.endpoint);
    status.textContent = `${prefix}Uploading to ${settings.endpoint}${info.maxSize ? ` · files up to ${formatExactBytes(info.maxSize)}` : ""}.`;
    if (info.maxSize) status.title = `Largest file: ${info.maxSize.toLocaleString("en-US")} bytes`;
  } catch (error) {
    status.classList.add("warning");
    status.textContent = `${prefix}${error instanceof Error ? error.message : String(error)}. Check the upload endpoint under Settings.`;
  }
}

bindSettingsForm(settings, trust, () => {
  notice = undefined;
  void showGateway();
  void resumable.refresh();
});
token.bind(() => {
  finished.render();
  void resumable.refresh();
});
askAboutLinkToken(token);
void showGateway();
void resumable.refresh();
document.documentElement.dataset.ready = "true";
