import { Type, type Static } from '@sinclair/typebox';

/** One BullMQ queue per job type; the queue name is the job name. */
export const JOB_NAMES = ['restore', 'train'] as const;
export type JobName = (typeof JOB_NAMES)[number];
export const JobNames = { restore: 'restore', train: 'train' } as const satisfies Record<JobName, JobName>;

/**
 * What travels through Redis: ids only. Postgres (via @pssr/db) holds the job's options, status and results;
 * `groupId` is here so the fairness bookkeeping needs no database read.
 */
export const JobPayloadSchema = Type.Object(
  {
    jobId: Type.String({ format: 'uuid' }),
    groupId: Type.String({ format: 'uuid' }),
  },
  { additionalProperties: false },
);
export type JobPayload = Static<typeof JobPayloadSchema>;

/** Payload schema per job name (all the same today; kept per name so one can grow without touching others). */
export const PAYLOAD_SCHEMAS = { restore: JobPayloadSchema, train: JobPayloadSchema } as const satisfies Record<JobName, typeof JobPayloadSchema>;

export interface QueueConfig {
  /** redis://[user:pass@]host:port[/db] */
  redisUrl: string;
  /** BullMQ key prefix (default `bull`): keys are `<prefix>:<queue>:...`. Tests use a unique one. */
  prefix?: string;
}

/** Counts per queue for Prometheus (`pssr_queue_jobs{queue,state}`) and autoscaling. */
export interface QueueDepth {
  queue: JobName;
  /** Waiting to start: BullMQ `wait` + `prioritized` (every PSSR job is prioritized, see fairness). */
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  /** The queue is paused (from the admin dashboard): waiting jobs do not start. */
  paused: boolean;
}

export type CancelOutcome =
  /** The job was still waiting and is gone from the queue. */
  | 'removed'
  /** The job is running: its worker's `ctx.signal` is aborted. */
  | 'signalled'
  /** Not in the queue (finished, or never enqueued). */
  | 'absent';

export interface JobContext {
  type: JobName;
  jobId: string;
  groupId: string;
  /** 1 on the first try. */
  attempt: number;
  maxAttempts: number;
  /** Aborted when the job is canceled (`producer.cancel`) or the consumer is force-closed. */
  signal: AbortSignal;
}

export type Processor = (ctx: JobContext) => Promise<void>;

export interface FailureInfo {
  type: JobName;
  jobId: string;
  groupId: string;
  attempt: number;
  /** No retry will follow: record the failure in Postgres now. */
  final: boolean;
  /** A user error (PssrError with userError) or an UnrecoverableError: failed without retrying. */
  permanent: boolean;
  error: unknown;
}
