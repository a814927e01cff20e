import type { IndexSink } from "../upload/storage/outbox";
import type { QuotaGate } from "../upload/quota-gate";
import type { SubjectIndex } from "./subject-index";

/** The SUBJECTS binding as wrangler.toml makes it; plain, as a hand-written env declares it (see GatewayEnv). */
export type SubjectNamespace = DurableObjectNamespace | DurableObjectNamespace<SubjectIndex>;

/** The subject's index: its Durable Object, named by the subject. */
export function subjectIndexOf(namespace: SubjectNamespace, subject: string): DurableObjectStub<SubjectIndex> {
  const subjects = namespace as DurableObjectNamespace<SubjectIndex>;
  return subjects.get(subjects.idFromName(subject));
}

/**
 * Where an upload's outbox delivers its index records: its subject's index.
 * An upload of open mode has no subject, and no index keeps it.
 */
export function subjectIndexSink(namespace: SubjectNamespace): IndexSink {
  return async (record) => {
    if (record.subject !== undefined) await subjectIndexOf(namespace, record.subject).record(record);
  };
}

/** Quotas, kept by each subject's index. */
export function subjectQuotaGate(namespace: SubjectNamespace): QuotaGate {
  return {
    reserve: (subject, request) => subjectIndexOf(namespace, subject).reserve(subject, request),
    release: (subject, uploadId) => subjectIndexOf(namespace, subject).release(uploadId),
  };
}
