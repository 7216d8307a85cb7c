/**
 * `startWorker(config)`: connects Postgres and the object store, consumes the restore and train queues
 * (packages/queue: BullMQ, fairness, permanent vs transient failures) and records failures in Postgres: final
 * ones fail the job, transient ones put it back to queued until BullMQ's retry starts it again.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { isPssrError } from '@pssr/core';
import { createDb, type DbWithClient } from '@pssr/db';
import { createObjectStore, type ObjectStore } from '@pssr/storage';
import { createConsumer, type Consumer, type FailureInfo, type JobName, type Processor } from '@pssr/queue';
import type { WorkerConfig } from '@pssr/config';
import type { WorkerDeps } from './context.js';
import { processRestore } from './restore.js';
import { processTrain } from './train.js';
import { WorkerActivity } from './activity.js';

export interface RunningWorker {
  deps: WorkerDeps;
  consumer: Consumer;
  /** Graceful by default: running jobs finish first. `force` hands them back at once (they are retried). */
  close(opts?: { force?: boolean }): Promise<void>;
}

export interface StartWorkerOptions {
  logger?: Logger;
  db?: DbWithClient;
  store?: ObjectStore;
}

/** What a failed job shows its owner: the stable code and, for internal errors, no internals. */
export function failureOf(err: unknown, jobId: string): { code: string; message: string } {
  if (isPssrError(err)) return { code: err.code, message: err.message };
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'UnrecoverableError') return { code: 'INVALID_ARGUMENT', message: String((err as Error).message) };
  return { code: 'INTERNAL', message: `Internal error in the worker while running job ${jobId}; the operators can find it in the worker logs.` };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes scratch folders left by worker processes of this host that no longer run (e.g. SIGKILLed). */
async function sweepScratch(root: string, host: string, log: Logger): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const m = /^proc-(.+)-(\d+)$/.exec(e.name);
    if (!e.isDirectory() || !m || m[1] !== host) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && !alive(pid)) {
      await rm(join(root, e.name), { recursive: true, force: true });
      log.info({ dir: e.name }, 'removed the scratch folder of a dead worker');
    }
  }
}

export async function startWorker(config: WorkerConfig, opts: StartWorkerOptions = {}): Promise<RunningWorker> {
  const log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'worker', host: config.workerHost } });
  const db = opts.db ?? createDb(config.databaseUrl);
  const store = opts.store ?? createObjectStore(config.storage);
  await mkdir(config.tmpDir, { recursive: true });
  await sweepScratch(config.tmpDir, config.workerHost, log);
  const scratchDir = join(config.tmpDir, `proc-${config.workerHost}-${process.pid}`);
  await mkdir(scratchDir, { recursive: true });
  const deps: WorkerDeps = { config, db, store, log, scratchDir };

  const activity = new WorkerActivity(deps);
  const processors: Partial<Record<JobName, Processor>> = {
    restore: activity.track((ctx) => processRestore(deps, ctx)),
    train: activity.track((ctx) => processTrain(deps, ctx)),
  };
  const onFailed = async (info: FailureInfo) => {
    const f = failureOf(info.error, info.jobId);
    const jlog = log.child({ jobId: info.jobId, attempt: info.attempt, type: info.type });
    if (info.final) {
      jlog.warn({ code: f.code, err: info.error }, 'job failed');
      await db.jobs.fail(info.jobId, f).catch((err: unknown) => jlog.error({ err }, 'could not record the failure'));
    } else {
      jlog.warn({ code: f.code, err: info.error }, 'attempt failed; will retry');
      // Waiting for the retry's backoff is "queued" again (with the last error in metrics.lastError); the
      // retry's `start` makes it running. Guarded: a canceled or finished job stays as it is.
      await db.jobs.requeue(info.jobId, { attempt: info.attempt, ...f }).catch((err: unknown) => jlog.warn({ err }, 'could not record the retry'));
    }
  };
  const consumer = createConsumer({
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    processors,
    queues: config.queues,
    concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs,
    stalledIntervalMs: config.stalledIntervalMs,
    onFailed,
    onError: (err) => log.warn({ err }, 'queue connection error'),
  });
  await consumer.ready();
  const heartbeat = activity.start();
  await heartbeat.beat().catch(() => undefined);
  log.info({ queues: config.queues, device: config.device, concurrency: config.concurrency }, 'worker ready');

  let closing: Promise<void> | null = null;
  return {
    deps,
    consumer,
    async close(closeOpts = {}) {
      // A forced close may follow a graceful one still waiting for jobs: it escalates the same shutdown.
      if (closing && closeOpts.force) await consumer.close({ force: true });
      closing ??= (async () => {
        await consumer.close(closeOpts);
        await heartbeat.stop();
        if (!opts.db) await db.close();
        if (!opts.store) store.close();
        await rm(scratchDir, { recursive: true, force: true });
      })();
      await closing;
    },
  };
}
