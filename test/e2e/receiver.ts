/**
 * A hook receiver for end-to-end tests: a Node `http` server on 127.0.0.1
 * (ephemeral port) that stands in for the event webhook (WEBHOOK_URL, path
 * /events), the pre-create hook (PRE_CREATE_HOOK_URL, path /pre-create) and
 * the pre-finish hook (PRE_FINISH_HOOK_URL, path /pre-finish). It records
 * every request (headers, raw body, parsed JSON, the status it answered, when
 * it arrived) and answers as each test tells it.
 *
 * Tests keep out of each other's way with a tag: the text of one metadata
 * key (`case` by default) of the upload. Event bodies and pre-finish
 * questions carry metadata as the client sent it (Base64); pre-create
 * proposals carry it as text.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { once } from "node:events";

export const EVENTS_PATH = "/events";
export const PRE_CREATE_PATH = "/pre-create";
export const PRE_FINISH_PATH = "/pre-finish";

export interface ReceivedRequest {
  /** Arrival order, from 1. */
  seq: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received (signatures are over these bytes). */
  raw: Buffer;
  /** The body parsed as JSON; undefined if it is not JSON. */
  json: unknown;
  /** Date.now() when the body had arrived. */
  receivedAt: number;
  /** The status the receiver answered (or will answer, while the request is held). */
  status: number;
  /** Date.now() when the answer was sent; undefined while the request is held. */
  answeredAt: number | undefined;
}

/** The webhook's event body (src/hooks/events.ts). */
export interface EventBody {
  id: string;
  type: "created" | "finished" | "terminated" | "expired" | "failed" | "rejected";
  occurredAt: string;
  upload: {
    id: string;
    objectKey: string;
    size: number;
    length?: number;
    metadata: Record<string, string>;
    subject?: string;
  };
}

export interface EventDelivery extends ReceivedRequest {
  json: EventBody;
}

/** The pre-create hook's question (src/hooks/pre-create.ts). */
export interface Proposal {
  kind: "upload" | "partial" | "final";
  length?: number;
  metadata: Record<string, string>;
  subject?: string;
}

/** The pre-finish hook's question (src/hooks/pre-finish.ts). */
export interface FinishingQuestion {
  type: "pre-finish";
  idempotencyKey: string;
  attempt: number;
  upload: {
    id: string;
    objectKey: string;
    size: number;
    /** As the client sent it (tus: Base64 values). */
    metadata: Record<string, string>;
    subject?: string;
    concat?: "partial" | "final";
  };
}

export interface FinishingRequest extends ReceivedRequest {
  json: FinishingQuestion;
}

/** How to answer one pre-create or pre-finish request: a status (default 200) and a JSON body, or raw text, or nothing; optionally late. */
export interface HookAnswer {
  status?: number;
  json?: unknown;
  text?: string;
  /** Answer only this many milliseconds after the request arrived. */
  delayMs?: number;
}

/** What to do with event deliveries of a tag: fail (500) the first `n` attempts of each event, or all until told otherwise. */
export type EventFailure = { firstAttempts: number } | "always";

export interface HookReceiver {
  /** Origin, e.g. `http://127.0.0.1:40123`. */
  origin: string;
  eventsUrl: string;
  preCreateUrl: string;
  preFinishUrl: string;
  /** Every request, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Every delivery to /events (failed ones too), in arrival order; optionally only those of one tag. */
  events(tag?: string): EventDelivery[];
  /** Every request to /pre-create, in arrival order; optionally only those of one tag. */
  proposals(tag?: string): ReceivedRequest[];
  /** Every request to /pre-finish (unanswered and timed-out ones too), in arrival order; optionally only those of one tag. */
  finishingQuestions(tag?: string): FinishingRequest[];
  /** Fails deliveries of events whose upload has this tag; `undefined` accepts them again (the default). */
  failEvents(tag: string, failure: EventFailure | undefined): void;
  /**
   * Holds deliveries of events with this tag unanswered until the returned
   * function is called; they are then answered as usual.
   */
  holdEvents(tag: string): () => void;
  /** Answers pre-create proposals with this tag so; without a rule a proposal is accepted (200, empty body). */
  onPreCreate(tag: string, answer: ((proposal: Proposal) => HookAnswer) | undefined): void;
  /**
   * Answers pre-finish questions with this tag so (the question's `attempt`
   * lets a rule fail the first few); without a rule a question is accepted
   * (200, empty body).
   */
  onPreFinish(tag: string, answer: ((question: FinishingQuestion) => HookAnswer) | undefined): void;
  close(): Promise<void>;
}

/** The tag of an event or a pre-finish question: its upload's metadata value for `tagKey`, Base64-decoded. */
export function eventTag(event: Pick<EventBody, "upload"> | FinishingQuestion, tagKey = "case"): string | undefined {
  const value = event.upload?.metadata?.[tagKey];
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/** A receiver refuses signatures whose time is further than this from its own clock (README: Events and hooks). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * The README's verification recipe, as a Node receiver would write it:
 * `Tus-Edge-Signature: t=<unix seconds>,v1=<hex>` is valid when `t` is
 * within the tolerance of `nowSeconds` (the time the request arrived, by
 * default) and some `v1` is the HMAC-SHA256 under `secret` of `<t>.` followed
 * by the raw body bytes, compared in constant time.
 */
export function hasValidSignature(request: ReceivedRequest, secret: string, nowSeconds = Math.floor(request.receivedAt / 1000)): boolean {
  const header = request.headers["tus-edge-signature"];
  if (typeof header !== "string") return false;
  const fields = header.split(",").map((field) => field.trim().split("="));
  const time = fields.find(([name]) => name === "t")?.[1] ?? "";
  if (!/^[0-9]+$/.test(time) || Math.abs(nowSeconds - Number(time)) > SIGNATURE_TOLERANCE_SECONDS) return false;
  const expected = createHmac("sha256", secret).update(`${time}.`).update(request.raw).digest();
  return fields.some(([name, value = ""]) => name === "v1" && /^[0-9a-f]{64}$/.test(value) && timingSafeEqual(Buffer.from(value, "hex"), expected));
}

export async function startHookReceiver(options: { tagKey?: string } = {}): Promise<HookReceiver> {
  const tagKey = options.tagKey ?? "case";
  const requests: ReceivedRequest[] = [];
  const failures = new Map<string, EventFailure>();
  const answers = new Map<string, (proposal: Proposal) => HookAnswer>();
  const finishingAnswers = new Map<string, (question: FinishingQuestion) => HookAnswer>();
  /** Attempts seen so far per event id. */
  const attempts = new Map<string, number>();
  const holds = new Map<string, Promise<void>>();

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      let json: unknown;
      try {
        json = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
      } catch {
        json = undefined;
      }
      const path = new URL(request.url ?? "/", "http://receiver").pathname;
      let status = 404;
      let body = "";
      let hold: Promise<void> | undefined;
      if (request.method === "POST" && path === EVENTS_PATH) {
        const event = json as EventBody | undefined;
        const id = event?.id ?? "";
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        const tag = event ? eventTag(event, tagKey) : undefined;
        const failure = tag === undefined ? undefined : failures.get(tag);
        const fail = failure === "always" || (failure !== undefined && attempt <= failure.firstAttempts);
        status = fail ? 500 : 204;
        if (fail) body = `failing delivery ${attempt} of event ${id} on purpose`;
        if (tag !== undefined) hold = holds.get(tag);
      } else if (request.method === "POST" && (path === PRE_CREATE_PATH || path === PRE_FINISH_PATH)) {
        let answer: HookAnswer;
        if (path === PRE_CREATE_PATH) {
          const proposal = json as Proposal;
          answer = answers.get(proposal?.metadata?.[tagKey] ?? "")?.(proposal) ?? {};
        } else {
          const question = json as FinishingQuestion | undefined;
          const tag = question ? eventTag(question, tagKey) : undefined;
          answer = (tag === undefined ? undefined : finishingAnswers.get(tag)?.(question!)) ?? {};
        }
        status = answer.status ?? 200;
        if (answer.json !== undefined) {
          body = JSON.stringify(answer.json);
          response.setHeader("Content-Type", "application/json");
        } else if (answer.text !== undefined) {
          body = answer.text;
        }
        if (answer.delayMs) hold = new Promise((resolve) => setTimeout(resolve, answer.delayMs));
      }
      const record: ReceivedRequest = {
        seq: requests.length + 1,
        method: request.method ?? "",
        path,
        headers: request.headers,
        raw,
        json,
        receivedAt: Date.now(),
        status,
        answeredAt: undefined,
      };
      requests.push(record);
      void (hold ?? Promise.resolve()).then(() => {
        response.statusCode = status;
        response.end(body);
        record.answeredAt = Date.now();
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("the hook receiver has no address");
  const origin = `http://127.0.0.1:${address.port}`;

  return {
    origin,
    eventsUrl: origin + EVENTS_PATH,
    preCreateUrl: origin + PRE_CREATE_PATH,
    preFinishUrl: origin + PRE_FINISH_PATH,
    requests,
    events(tag) {
      return requests.filter(
        (request): request is EventDelivery =>
          request.path === EVENTS_PATH && request.json !== undefined && (tag === undefined || eventTag(request.json as EventBody, tagKey) === tag),
      );
    },
    proposals(tag) {
      return requests.filter(
        (request) => request.path === PRE_CREATE_PATH && (tag === undefined || (request.json as Proposal | undefined)?.metadata?.[tagKey] === tag),
      );
    },
    finishingQuestions(tag) {
      return requests.filter(
        (request): request is FinishingRequest =>
          request.path === PRE_FINISH_PATH && request.json !== undefined && (tag === undefined || eventTag(request.json as FinishingQuestion, tagKey) === tag),
      );
    },
    failEvents(tag, failure) {
      if (failure === undefined) failures.delete(tag);
      else failures.set(tag, failure);
    },
    holdEvents(tag) {
      let release!: () => void;
      holds.set(tag, new Promise<void>((resolve) => (release = resolve)));
      return () => {
        holds.delete(tag);
        release();
      };
    },
    onPreCreate(tag, answer) {
      if (answer === undefined) answers.delete(tag);
      else answers.set(tag, answer);
    },
    onPreFinish(tag, answer) {
      if (answer === undefined) finishingAnswers.delete(tag);
      else finishingAnswers.set(tag, answer);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
