import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { isPssrError } from '@pssr/core';
import { JOB_NAMES, type FailureInfo, type JobName, type Processor, type QueueConfig } from './types.js';
import { isJobPayload } from './payload.js';
import { cancelChannel, fairKey, fastFailRedis } from './redis.js';

export interface ConsumerOptions extends QueueConfig {
  /** A processor per job name consumed; `createConsumer` throws when one is missing (start-up check). */
  processors: Partial<Record<JobName, Processor>>;
  /** Queues this worker consumes (default: all JOB_NAMES). */
  queues?: readonly JobName[];
  /** Jobs run at once, per queue (default 1: one GPU, one job). A number applies to every queue. */
  concurrency?: number | Partial<Record<JobName, number>>;
  /** BullMQ lock duration; a worker killed mid-job is detected after about this long (default 30 s). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default 30 s). */
  stalledIntervalMs?: number;
  /** Times a job may be found stalled (its worker died) and restarted before it fails (default 2). */
  maxStalledCount?: number;
  /** Awaited when an attempt fails; `final` says no retry follows (mark the job failed in Postgres). */
  onFailed?: (info: FailureInfo) => Promise<void> | void;
  /** Connection and other background errors (default: ignored; BullMQ reconnects). */
  onError?: (err: Error) => void;
}

export interface Consumer {
  /** Closes the workers; by default waits for running jobs to finish (graceful SIGTERM). */
  close(opts?: { force?: boolean }): Promise<void>;
  /** Resolves once every worker is connected and the cancel channel is subscribed. */
  ready(): Promise<void>;
  /** Job names this consumer processes. */
  readonly queues: readonly JobName[];
}

/** The start-up check: every consumed job name has a processor. Throws naming the missing ones. */
export function checkProcessors(processors: Partial<Record<JobName, Processor>>, queues: readonly JobName[]): void {
  const unknown = queues.filter((q) => !(JOB_NAMES as readonly string[]).includes(q));
  if (unknown.length > 0) throw new Error(`unknown job name(s): ${unknown.join(', ')} (known: ${JOB_NAMES.join(', ')})`);
  const missing = queues.filter((q) => typeof processors[q] !== 'function');
  if (missing.length > 0) throw new Error(`no processor registered for job name(s): ${missing.join(', ')}`);
}

/**
 * A user error (PssrError with `userError`: corrupt stack, unknown model) becomes BullMQ's UnrecoverableError so
 * the job fails at once with its code in the message; anything else stays an Error and is retried with backoff.
 */
export function toQueueError(err: unknown): Error {
  if (err instanceof UnrecoverableError) return err;
  if (isPssrError(err) && err.userError) {
    const e = new UnrecoverableError(`${err.code}: ${err.message}`);
    e.cause = err;
    return e;
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function createConsumer(opts: ConsumerOptions): Consumer {
  const names = opts.queues ?? JOB_NAMES;
  checkProcessors(opts.processors, names);
  const prefix = opts.prefix ?? 'bull';
  const onError = (err: Error) => opts.onError?.(err);
  const redis = fastFailRedis(opts.redisUrl);
  // Errors already reported to onFailed by the processor wrapper; others (stalled too often) are reported
  // from the worker's 'failed' event.
  const reported = new WeakSet<object>();

  const report = async (info: FailureInfo) => {
    try {
      await opts.onFailed?.(info);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const workers = names.map((name) => {
    const processor = opts.processors[name]!;
    const concurrency = typeof opts.concurrency === 'number' ? opts.concurrency : opts.concurrency?.[name] ?? 1;
    // Three parameters: BullMQ passes an AbortSignal only to processors that declare it.
    const run = async (job: Job, _token?: string, signal?: AbortSignal): Promise<void> => {
      if (!isJobPayload(name, job.data)) throw new UnrecoverableError(`INVALID_ARGUMENT: malformed ${name} job payload`);
      const { jobId, groupId } = job.data;
      // Started: no longer waiting, so it stops raising its group's next priority.
      await redis.srem(fairKey(prefix, name, groupId), job.id ?? jobId).catch(() => {});
      const attempt = job.attemptsMade + 1;
      const maxAttempts = job.opts.attempts ?? 1;
      const ctx = { type: name, jobId, groupId, attempt, maxAttempts, signal: signal ?? new AbortController().signal };
      try {
        await processor(ctx);
      } catch (err) {
        const canceled = signal?.aborted === true;
        const out = canceled ? new UnrecoverableError('CANCELED: the job was canceled') : toQueueError(err);
        const permanent = out instanceof UnrecoverableError;
        await report({ type: name, jobId, groupId, attempt, final: permanent || attempt >= maxAttempts, permanent, error: err });
        reported.add(out);
        throw out;
      }
    };
    const worker = new Worker(name, run, {
      connection: { url: opts.redisUrl },
      prefix,
      concurrency,
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: opts.maxStalledCount ?? 2,
      name: `${hostname()}:${process.pid}`,
    });
    worker.on('failed', (job, err) => {
      if (reported.has(err) || !job || !isJobPayload(name, job.data)) return;
      void report({
        type: name, jobId: job.data.jobId, groupId: job.data.groupId, attempt: job.attemptsMade,
        final: true, permanent: false, error: err,
      });
    });
    worker.on('error', onError);
    return worker;
  });

  // Cancel requests from any API process reach the worker running the job.
  const sub = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  sub.on('error', onError);
  const subscribed = sub.subscribe(cancelChannel(prefix));
  sub.on('message', (_channel: string, message: string) => {
    let jobId: unknown;
    try {
      jobId = (JSON.parse(message) as { jobId?: unknown }).jobId;
    } catch {
      return;
    }
    if (typeof jobId === 'string') for (const w of workers) w.cancelJob(jobId, 'canceled');
  });

  return {
    queues: names,
    async ready() {
      await Promise.all([...workers.map((w) => w.waitUntilReady()), subscribed]);
    },
    async close({ force = false } = {}) {
      await Promise.all(workers.map((w) => w.close(force)));
      await sub.quit().catch(() => sub.disconnect());
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
