import { DurableObject } from "cloudflare:workers";
import { configFromEnv, type GatewayConfig } from "../config";
import type { ListQuery } from "../listing/list-query";
import type { IndexPage, IndexRow } from "../listing/index-table";
import { Logger, MetricsWriter, Telemetry } from "../observability";
import { QUOTA_SETTINGS } from "../quotas";
import type { IndexRecord } from "../upload/index-record";
import type { QuotaAnswer, QuotaRequest, QuotaUsage } from "../upload/quota-gate";
import type { UploadObject } from "../upload/upload-object";
import { AdminFeed } from "./admin-feed";
import { SubjectEntries } from "./entries";

export interface SubjectIndexEnv {
  /** The uploads' namespace: a reservation left unconfirmed is checked with its upload. */
  UPLOADS: DurableObjectNamespace | DurableObjectNamespace<UploadObject>;
  /** Administration's cross-subject copy (optional). */
  INDEX?: D1Database;
  METRICS?: AnalyticsEngineDataset;
}

/**
 * A reservation whose upload has not confirmed it (its created record) this
 * long after it was made is checked with the upload's Durable Object, and
 * given back if the upload was never stored (its creation failed between
 * the reservation and the store, and could not give it back itself).
 */
export const RESERVATION_CHECK_MS = 60_000;

/**
 * One Durable Object per subject (`SUBJECTS.idFromName(subject)`): the
 * subject's own upload index and quotas. Each of the subject's uploads
 * feeds it through its outbox (at least once, only forward); a listing
 * reads it; a creation under quotas reserves room in it first. Writes
 * spread by subject, as uploads spread by upload: no database every
 * upload writes to. This class only wires entry points: entries.ts keeps
 * the entries and the subject's use, usage.ts decides quotas,
 * admin-feed.ts passes state changes on to D1 when it is bound.
 *
 * `createTusGateway` subclasses it with its configuration.
 */
export class SubjectIndex extends DurableObject<SubjectIndexEnv> {
  private readonly config: GatewayConfig;
  private readonly telemetry: Telemetry;
  private readonly entries: SubjectEntries;
  private feed: AdminFeed | undefined;
  /** The subject, as the first call named it (kept, for the alarm's lines). */
  private subject: string | undefined;

  constructor(ctx: DurableObjectState, env: SubjectIndexEnv) {
    super(ctx, env);
    this.config = this.configure(env);
    this.telemetry = new Telemetry(new Logger(this.config.logLevel), new MetricsWriter(this.metricsOf(env)));
    this.entries = new SubjectEntries(ctx.storage.sql);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS subject (name TEXT NOT NULL)");
    this.subject = ctx.storage.sql.exec<{ name: string }>("SELECT name FROM subject").toArray()[0]?.name;
    if (this.subject !== undefined) this.openFeed(this.subject);
  }

  /** The configuration; `createTusGateway` overrides this with its options. */
  protected configure(env: SubjectIndexEnv): GatewayConfig {
    return configFromEnv(env);
  }

  /** The metrics dataset, if bound; `createTusGateway` may wrap it. */
  protected metricsOf(env: SubjectIndexEnv): AnalyticsEngineDataset | undefined {
    return env.METRICS;
  }

  private named(subject: string): string {
    if (this.subject === undefined) {
      this.ctx.storage.sql.exec("INSERT INTO subject (name) VALUES (?)", subject);
      this.subject = subject;
      this.openFeed(subject);
    }
    return this.subject;
  }

  private openFeed(subject: string): void {
    if (this.env.INDEX) this.feed = new AdminFeed(this.ctx.storage.sql, this.env.INDEX, subject, this.telemetry);
  }

  /** An upload's index record (its outbox delivers it). */
  async record(record: IndexRecord): Promise<void> {
    const subject = this.named(record.subject!);
    const change = this.ctx.storage.transactionSync(() => {
      const applied = this.entries.apply(record);
      if (applied.stateChanged) this.feed?.add(record, Date.now());
      return applied;
    });
    this.telemetry.subjectIndexEvent("debug", "SubjectIndexRecord", { subject, uploadId: record.id, state: record.state, offset: record.offset, applied: change.applied });
    // Only a change of state brings background work (a D1 batch, an ended entry's retention):
    // a progress record, most of what arrives, leaves the alarm as it is.
    if (change.stateChanged) await this.scheduleAlarm();
  }

  /** Reserves room for a new upload in the subject's quotas, or answers which quota refuses it. */
  async reserve(subject: string, request: QuotaRequest): Promise<QuotaAnswer> {
    this.named(subject);
    const answer = this.ctx.storage.transactionSync(() => this.entries.reserve(subject, request, Date.now()));
    if (!answer.granted) {
      this.telemetry.subjectIndexEvent(
        "warn",
        "QuotaExceeded",
        { subject, uploadId: request.uploadId, quota: QUOTA_SETTINGS[answer.quota].variable, limit: answer.limit, used: answer.used, requested: answer.requested },
        { errorCode: QUOTA_SETTINGS[answer.quota].variable, uploadId: request.uploadId, bytes: answer.requested, offset: answer.used },
      );
      return answer;
    }
    await this.scheduleAlarm();
    return answer;
  }

  /** Gives back a reservation whose upload was not stored. */
  async release(uploadId: string): Promise<void> {
    this.ctx.storage.transactionSync(() => this.entries.release(uploadId));
  }

  /** One page of the subject's uploads (a listing). */
  async list(query: ListQuery, retentionCutoff: number | undefined): Promise<IndexPage> {
    return this.ctx.storage.transactionSync(() => this.entries.page(query, retentionCutoff));
  }

  /** These uploads' entries, for administration's pages from D1 (their offsets and states are newer here). */
  async rows(ids: string[]): Promise<IndexRow[]> {
    return this.entries.rows(ids);
  }

  /** What the subject uses, by quota; `counted`: summed over every entry again (tests check the running sum against it). */
  async usage(): Promise<{ running: QuotaUsage; counted: QuotaUsage }> {
    return { running: this.entries.usage(), counted: this.entries.countUsage() };
  }

  /** Background work: entries past retention, unconfirmed reservations, and the batch for D1. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    if (this.config.indexRetentionMs > 0) this.entries.purge(now - this.config.indexRetentionMs);
    await this.checkReservations(now);
    await this.feed?.flush(now);
    await this.scheduleAlarm();
  }

  private async checkReservations(now: number): Promise<void> {
    const uploads = this.env.UPLOADS as DurableObjectNamespace<UploadObject>;
    for (const uploadId of this.entries.unconfirmed(now - RESERVATION_CHECK_MS)) {
      let exists = true;
      try {
        const inspected = await uploads.get(uploads.idFromString(uploadId)).inspect();
        exists = inspected.ok || inspected.error.code !== "upload-not-found";
      } catch {
        // Unreachable for now: asked again at the next check.
      }
      if (!exists && this.entries.release(uploadId)) {
        this.telemetry.subjectIndexEvent("warn", "QuotaReservationReleased", { subject: this.subject ?? "", uploadId, reason: "upload never stored" }, { uploadId });
      }
    }
  }

  /** The alarm at the earliest of: the next D1 batch, the next entry past retention, the next reservation to check. */
  private async scheduleAlarm(): Promise<void> {
    const oldestEnded = this.config.indexRetentionMs > 0 ? this.entries.oldestEnded() : undefined;
    const oldestUnconfirmed = this.entries.oldestUnconfirmed();
    const times = [
      this.feed?.nextDue(),
      oldestEnded === undefined ? undefined : oldestEnded + this.config.indexRetentionMs,
      oldestUnconfirmed === undefined ? undefined : Math.max(oldestUnconfirmed + RESERVATION_CHECK_MS, Date.now() + RESERVATION_CHECK_MS / 4),
    ].filter((time): time is number => time !== undefined);
    if (!times.length) return;
    const next = Math.min(...times);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next || current < Date.now()) await this.ctx.storage.setAlarm(next);
  }
}
