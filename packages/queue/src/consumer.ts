import type { FailureInfo, JobName, Processor, QueueConfig } from './types.js';

export interface ConsumerOptions extends QueueConfig {
  /** A processor per job name consumed; `createConsumer` throws when one is missing (start-up check). */
  processors: Partial<Record<JobName, Processor>>;
  /** Queues this worker consumes (default: all JOB_NAMES). */
  queues?: readonly JobName[];
  /** Jobs run at once per queue (default 1: one GPU, one job). */
  concurrency?: number;
  /** BullMQ lock duration; a worker killed mid-job is detected after about this long (default 30 s). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 30 s). */
  stalledIntervalMs?: number;
  /** Awaited when an attempt fails; `final` says no retry follows (mark the job failed in Postgres). */
  onFailed?: (info: FailureInfo) => Promise<void> | void;
  /** Connection and other background errors (default: ignored; BullMQ reconnects). */
  onError?: (err: Error) => void;
}

export interface Consumer {
  /** Closes the workers; by default waits for running jobs to finish (graceful SIGTERM). */
  close(opts?: { force?: boolean }): Promise<void>;
  /** Resolves once every worker is connected and waiting for jobs. */
  ready(): Promise<void>;
}

/** Throws a plain Error naming the job names without a processor. */
export function checkProcessors(processors: Partial<Record<JobName, Processor>>, queues: readonly JobName[]): void {
  void processors; void queues;
  throw new Error('TODO');
}

/** PssrError with userError -> BullMQ UnrecoverableError (fail at once); anything else unchanged (retried). */
export function toQueueError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function createConsumer(opts: ConsumerOptions): Consumer {
  void opts;
  throw new Error('TODO');
}
