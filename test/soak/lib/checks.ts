/**
 * The checks made once the faults have stopped: (1) every finished upload's
 * object as local R2 stored it, (4) listing against HEAD, (5) R2's objects and
 * multipart uploads against the uploads that are still alive.
 */
import { DatabaseSync } from "node:sqlite";
import { localR2Blobs, objectBlobIds, searchLocalR2, sha256OfBlobs } from "../../e2e/local-runtime.ts";
import { sleep } from "../../e2e/server.ts";
import { PLAN_KEY } from "../../faults/fault-plan.ts";
import type { SoakGateway } from "./gateway.ts";
import { BUCKET_NAME } from "./gateway.ts";
import type { Recorder, UploadRecord } from "./record.ts";

/* ---------- local R2's files ---------- */

interface LocalR2 {
  objects: Map<string, { blobId: string | null; size: number }>;
  /** Multipart uploads still in progress (state 0): upload id → key. */
  openMultiparts: Map<string, string>;
}

/** What local R2 (miniflare) holds, from its SQLite index in wrangler's state directory (as bench/run.ts reads it). */
function readLocalR2(persistDir: string): { r2: LocalR2; db: string } | undefined {
  return searchLocalR2(persistDir, (db, path) => {
    const objects = new Map<string, { blobId: string | null; size: number }>();
    for (const row of db.prepare("SELECT key, blob_id, size FROM _mf_objects").all() as { key: string; blob_id: string | null; size: number }[]) {
      objects.set(row.key, { blobId: row.blob_id, size: row.size });
    }
    const openMultiparts = new Map<string, string>();
    for (const row of db.prepare("SELECT upload_id, key FROM _mf_multipart_uploads WHERE state = 0").all() as { upload_id: string; key: string }[]) {
      openMultiparts.set(row.upload_id, row.key);
    }
    return { r2: { objects, openMultiparts }, db: path };
  });
}

/** sha256 of the object at `key` as a GET would assemble it (its blob, or its parts' blobs in order). */
async function sha256OnDisk(persistDir: string, dbPath: string, key: string): Promise<{ sha256: string; size: number } | undefined> {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  let ids: string[] | undefined;
  try {
    ids = objectBlobIds(db, key);
  } finally {
    db.close();
  }
  if (!ids) return undefined;
  return sha256OfBlobs(localR2Blobs(persistDir, BUCKET_NAME), ids);
}

/* ---------- check 1 ---------- */

export async function checkIntegrity(rec: Recorder, gw: SoakGateway): Promise<number> {
  const local = readLocalR2(gw.server.persistDir);
  if (!local) {
    rec.notes.push("check 1: local R2's files were not found; finished uploads were checked only by the downloads during the run");
    return 0;
  }
  let checked = 0;
  for (const upload of rec.uploads) {
    // A partial claimed by a final: its bytes are checked in the final's object (it is deleted after assembly).
    if (upload.state !== "finished" || !upload.id || upload.finalOf) continue;
    const stored = await sha256OnDisk(gw.server.persistDir, local.db, `uploads/${upload.id}`);
    if (!stored) {
      rec.violation(1, upload, `finished, but R2 holds no object at uploads/${upload.id}`);
      continue;
    }
    checked++;
    if (stored.size !== upload.length || stored.sha256 !== upload.sha256) {
      rec.violation(1, upload, `the stored object (${stored.size} bytes, sha256 ${stored.sha256}) is not what its client sent (${upload.length} bytes, sha256 ${upload.sha256})`);
    }
  }
  return checked;
}

/* ---------- listing and administration over HTTP ---------- */

interface Entry {
  id: string;
  url: string;
  length: number | null;
  offset: number;
  state: string;
  subject?: string;
}

async function listAll(url: string, token: string): Promise<Entry[] | undefined> {
  const entries: Entry[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const target = new URL(url);
    target.searchParams.set("limit", "200");
    if (cursor) target.searchParams.set("cursor", cursor);
    try {
      const response = await fetch(target, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
      if (response.status !== 200) return undefined;
      const body = (await response.json()) as { uploads: Entry[]; next: string | null };
      entries.push(...body.uploads);
      cursor = body.next;
      if (!cursor) return entries;
    } catch {
      return undefined;
    }
  }
  return entries;
}

type Truth = { kind: "finished"; offset: number } | { kind: "unfinished"; offset: number | undefined } | { kind: "ended" } | { kind: "unknown"; status: number };

async function headTruth(gw: SoakGateway, upload: UploadRecord): Promise<Truth> {
  try {
    const response = await fetch(upload.url!, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${gw.token(upload.subject)}` }, signal: AbortSignal.timeout(30_000) });
    if (response.status === 410) return { kind: "ended" };
    if (response.status !== 200) return { kind: "unknown", status: response.status };
    const offset = response.headers.get("Upload-Offset");
    const length = response.headers.get("Upload-Length");
    if (offset !== null && length !== null && offset === length) return { kind: "finished", offset: Number(offset) };
    return { kind: "unfinished", offset: offset === null ? undefined : Number(offset) };
  } catch {
    return { kind: "unknown", status: 0 };
  }
}

function disagreement(truth: Truth, entry: Entry | undefined, upload: UploadRecord): string | undefined {
  if (truth.kind === "unknown") return undefined;
  if (!entry) return `HEAD says ${truth.kind}, but the listing does not have it`;
  switch (truth.kind) {
    case "finished":
      return entry.state === "finished" && entry.offset === truth.offset ? undefined : `HEAD: finished at ${truth.offset}; listing: ${entry.state} at ${entry.offset}`;
    case "unfinished":
      return entry.state === "unfinished" && (truth.offset === undefined || entry.offset === truth.offset) ? undefined : `HEAD: unfinished at ${truth.offset ?? "(no offset yet)"}; listing: ${entry.state} at ${entry.offset}`;
    case "ended": {
      const expected = upload.state === "terminated" ? ["terminated"] : upload.state === "expired" || upload.state === "abandoned" || upload.state === "interrupted" ? ["expired"] : ["terminated", "expired", "failed"];
      return expected.includes(entry.state) ? undefined : `HEAD: 410; listing: ${entry.state} (expected ${expected.join(" or ")}, its client left it ${upload.state})`;
    }
  }
}

/** Check 4: for every upload the soak knows, its subject's listing agrees with HEAD within `lagMs`. */
export async function checkListing(rec: Recorder, gw: SoakGateway, lagMs: number): Promise<number> {
  const known = rec.uploads.filter((upload) => upload.url && upload.id);
  const deadline = Date.now() + lagMs;
  let pending = known;
  let last = new Map<UploadRecord, string>();
  for (;;) {
    const listings = new Map<string, Map<string, Entry>>();
    for (const subject of new Set(pending.map((upload) => upload.subject))) {
      const entries = await listAll(gw.server.endpoint, gw.token(subject));
      if (entries) listings.set(subject, new Map(entries.map((entry) => [entry.id, entry])));
    }
    last = new Map();
    for (const upload of pending) {
      const listing = listings.get(upload.subject);
      if (!listing) {
        last.set(upload, `GET ${gw.server.endpoint} did not answer 200 for ${upload.subject}`);
        continue;
      }
      const truth = await headTruth(gw, upload);
      const problem = disagreement(truth, listing.get(upload.id!), upload);
      if (problem) last.set(upload, problem);
    }
    pending = [...last.keys()];
    if (pending.length === 0 || Date.now() > deadline) break;
    await sleep(1000);
  }
  for (const [upload, problem] of last) rec.violation(4, upload, `${problem} (still, ${lagMs / 1000} s after the faults stopped)`);
  return known.length;
}

/* ---------- check 5 ---------- */

interface Inspection {
  state: string;
  objectKey?: string;
  multipartId?: string | null;
  expires?: string | null;
}

async function inspect(gw: SoakGateway, id: string): Promise<Inspection | undefined> {
  try {
    const response = await fetch(`${gw.server.url}/admin/uploads/${id}`, { headers: { Authorization: `Bearer ${gw.adminToken()}` }, signal: AbortSignal.timeout(30_000) });
    if (response.status !== 200) return undefined;
    return (await response.json()) as Inspection;
  } catch {
    return undefined;
  }
}

/**
 * Check 5: once every abandoned upload has expired, every object in R2 is a
 * finished upload's and every multipart upload in progress an unfinished
 * upload's. Which uploads exist comes from administration's listing (it finds
 * the uploads whose creation answer was lost, too) and from the soak's own
 * record; what each owns from administration's inspection (objectKey,
 * multipartId); what R2 holds from local R2's SQLite index.
 */
export async function checkOrphans(rec: Recorder, gw: SoakGateway, expiryWaitMs: number): Promise<{ objects: number; multiparts: number; uploads: number }> {
  const adminUrl = `${gw.server.url}/admin/uploads/`;
  const deadline = Date.now() + expiryWaitMs;
  let entries: Entry[] = [];
  for (;;) {
    entries = (await listAll(adminUrl, gw.adminToken())) ?? entries;
    const unfinished = entries.filter((entry) => entry.state === "unfinished");
    if (unfinished.length === 0 || Date.now() > deadline) break;
    await sleep(2000);
  }
  const expired = entries.filter((entry) => entry.state === "expired").length;
  if (expired > 0) rec.expect("uploads expired (administration's listing at the end)", expired);
  const ids = new Set([...entries.map((entry) => entry.id), ...rec.uploads.flatMap((upload) => (upload.id ? [upload.id] : []))]);
  const ownedObjects = new Map<string, string>();
  const ownedMultiparts = new Map<string, string>();
  for (const id of ids) {
    const inspection = await inspect(gw, id);
    if (!inspection) continue;
    const label = rec.uploads.find((upload) => upload.id === id)?.label ?? `unknown upload ${id}`;
    if (inspection.state === "unfinished") {
      const expires = inspection.expires ? Date.parse(inspection.expires) : NaN;
      if (Number.isFinite(expires) && Date.now() > expires + 15_000) {
        rec.violation(5, label, `still unfinished ${((Date.now() - expires) / 1000).toFixed(0)} s after its expiry (${inspection.expires})`);
      }
      if (inspection.multipartId) ownedMultiparts.set(inspection.multipartId, label);
    }
    if (inspection.objectKey && inspection.state === "finished") ownedObjects.set(inspection.objectKey, label);
  }
  const local = readLocalR2(gw.server.persistDir);
  if (!local) {
    rec.notes.push("check 5: local R2's files were not found; R2 could not be inspected");
    return { objects: 0, multiparts: 0, uploads: ids.size };
  }
  for (const key of local.r2.objects.keys()) {
    if (key === PLAN_KEY) continue;
    if (!ownedObjects.has(key)) rec.violation(5, key.replace(/^uploads\//, ""), `R2 holds the object ${key}, which no finished upload owns`);
  }
  for (const [uploadId, key] of local.r2.openMultiparts) {
    if (!ownedMultiparts.has(uploadId)) rec.violation(5, key.replace(/^uploads\//, ""), `R2 holds a multipart upload in progress (${uploadId.slice(0, 16)}… at ${key}) that no live upload owns`);
  }
  return { objects: local.r2.objects.size, multiparts: local.r2.openMultiparts.size, uploads: ids.size };
}
