/** What every processor needs: the clients, the config, a logger, and per-job helpers (cancel, progress). */
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { toStackMetadata, type DbWithClient, type JobRecord, type JsonObject, type StackMetadata } from '@pssr/db';
import { sha256File } from '@pssr/models';
import { isStorageError, type ObjectStore } from '@pssr/storage';
import { PssrError, type StackInfo } from '@pssr/core';
import type { JobContext } from '@pssr/queue';
import type { WorkerConfig } from '@pssr/config';

export interface WorkerDeps {
  config: WorkerConfig;
  db: DbWithClient;
  store: ObjectStore;
  log: Logger;
  /** This process's scratch folder (job temp files); stale ones of dead processes are removed at start. */
  scratchDir: string;
}

/**
 * Cancellation of one job: aborted when the queue signals it (`ctx.signal`) or when the job's Postgres record
 * says canceled (polled every `cancelPollMs`), so a cancel works even if the Redis signal is missed.
 */
export class CancelWatch {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  /** Set once Postgres says canceled (as opposed to a worker shutdown aborting ctx.signal). */
  canceledInDb = false;

  constructor(private readonly deps: WorkerDeps, private readonly ctx: JobContext) {
    const onQueueAbort = () => this.controller.abort(ctx.signal.reason ?? new Error('aborted'));
    if (ctx.signal.aborted) onQueueAbort();
    else ctx.signal.addEventListener('abort', onQueueAbort, { once: true });
    this.timer = setInterval(() => void this.poll(), deps.config.cancelPollMs);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Asks Postgres now; true when the job was canceled there. */
  async poll(): Promise<boolean> {
    if (this.canceledInDb) return true;
    try {
      if (await this.deps.db.jobs.isCanceled(this.ctx.jobId)) {
        this.canceledInDb = true;
        this.controller.abort(new Error('canceled'));
      }
    } catch {
      // Postgres briefly away: keep running; the next poll asks again.
    }
    return this.canceledInDb;
  }

  /** Marks the job canceled from a failed progress write (the guarded UPDATE found it no longer running). */
  noteNotRunning(): void {
    this.canceledInDb = true;
    this.controller.abort(new Error('canceled'));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Writes progress at most every `intervalMs` (and always the last value on flush); a write that finds the job
 * no longer running tells the cancel watch.
 */
export class ProgressWriter {
  private last = 0;
  private pending: { progress: number; metrics?: JsonObject } | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: WorkerDeps, private readonly jobId: string, private readonly cancel: CancelWatch) {}

  update(progress: number, metrics?: JsonObject): void {
    this.pending = metrics ? { progress, metrics } : { progress };
    const now = Date.now();
    if (now - this.last >= this.deps.config.progressIntervalMs) {
      this.last = now;
      this.writing = this.writing.then(() => this.write());
    }
  }

  async flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    await this.writing;
  }

  private async write(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    try {
      const ok = await this.deps.db.jobs.progress(this.jobId, p.progress, p.metrics);
      if (!ok) this.cancel.noteNotRunning();
    } catch (err) {
      this.deps.log.warn({ err, jobId: this.jobId }, 'progress write failed');
    }
  }
}

/** Where a stack a job produced (a result, a report's map) is stored. */
export function resultStorageKey(groupId: string, stackId: string): string {
  return `results/${groupId}/${stackId}.tif`;
}

/** A stack a job produced, in the object store under a new key; no record refers to it yet. */
export interface UploadedStack {
  id: string;
  storageKey: string;
  meta: StackMetadata;
}

/** Hashes a local TIFF a job produced and uploads it as a future stack of the group. */
export async function uploadJobStack(deps: Pick<WorkerDeps, 'store'>, groupId: string, path: string, info: StackInfo, uploading: (key: string) => void): Promise<UploadedStack> {
  const meta = toStackMetadata(info, await sha256File(path), (await stat(path)).size);
  const id = randomUUID();
  const storageKey = resultStorageKey(groupId, id);
  uploading(storageKey);
  await deps.store.putFile(storageKey, path, { contentType: 'image/tiff' });
  return { id, storageKey, meta };
}

/** What every processor holds while it runs a job: the started record, its logger, cancel watch, progress and scratch folder. */
export interface JobRun {
  job: JobRecord;
  log: Logger;
  cancel: CancelWatch;
  progress: ProgressWriter;
  work: string;
  /** Stops the cancel watch and removes the scratch folder. */
  end(): Promise<void>;
}

/** Marks the job running and sets up what a processor needs; null when the job is canceled or already finished. */
export async function beginJob(deps: WorkerDeps, ctx: JobContext, type: 'restore' | 'train'): Promise<JobRun | null> {
  const log = deps.log.child({ jobId: ctx.jobId, attempt: ctx.attempt, type });
  const job = await deps.db.jobs.start(ctx.jobId, { workerHost: deps.config.workerHost });
  if (!job) {
    log.info('job is canceled or finished; not running it');
    return null;
  }
  const cancel = new CancelWatch(deps, ctx);
  const progress = new ProgressWriter(deps, job.id, cancel);
  const work = await mkdtemp(join(deps.scratchDir, `job-${job.id}-`));
  return {
    job, log, cancel, progress, work,
    end: async () => {
      cancel.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Downloads a stack; a missing object is a permanent INPUT_NOT_FOUND (retrying cannot bring it back). */
export async function downloadStack(deps: WorkerDeps, stack: { id: string; storageKey: string }, path: string): Promise<void> {
  try {
    await deps.store.getToFile(stack.storageKey, path);
  } catch (err) {
    if (isStorageError(err, 'OBJECT_NOT_FOUND')) {
      throw new PssrError('INPUT_NOT_FOUND', `The data of stack ${stack.id} is missing from storage.`, true, { cause: err });
    }
    throw err;
  }
}
