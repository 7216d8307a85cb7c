/**
 * Postgres holds the job records, Redis only ids: when a waiting job disappears from Redis behind the API's
 * back (removed or cleaned from the admin dashboard), its record must not stay `queued` forever. The API
 * listens for BullMQ's `removed` events and, for what it missed (no API running, `clean`), periodically
 * fails queued records whose queue entry is gone. The same sweep drops the fairness entries of such jobs.
 */
import type { FastifyInstance } from 'fastify';
import { JOB_NAMES } from '@pssr/queue';
import type { ApiErrorCode } from './errors.js';

export const REMOVED_FROM_QUEUE = {
  code: 'REMOVED_FROM_QUEUE' satisfies ApiErrorCode,
  message: 'The job was removed from the queue before it ran (by an administrator, from the queue dashboard); submit it again.',
} as const;

/** A queued record may not be in Redis yet (submission records first, then enqueues): leave young ones alone. */
const GRACE_MS = 60_000;
const BATCH = 500;

/** Fails a job whose queue entry was removed (no-op unless it is still queued or running in Postgres). */
export async function failRemoved(app: FastifyInstance, jobId: string): Promise<boolean> {
  return app.db.jobs.fail(jobId, REMOVED_FROM_QUEUE);
}

/** One sweep: queued records older than `graceMs` whose queue entry is gone are failed; fairness is reconciled. */
export async function reconcileQueue(app: FastifyInstance, graceMs = GRACE_MS): Promise<{ failed: number; fairness: number }> {
  const stale = await app.db.jobs.queuedBefore(new Date(Date.now() - graceMs), BATCH);
  let failed = 0;
  for (const type of JOB_NAMES) {
    const gone = await app.producer.missing(type, stale.filter((j) => j.type === type).map((j) => j.id));
    for (const id of gone) if (await failRemoved(app, id)) failed += 1;
  }
  const fairness = await app.producer.reconcileFairness();
  return { failed, fairness };
}

/** Starts the removal listener and the periodic sweep once the app is ready; stops them on close. */
export function registerQueueReconciler(app: FastifyInstance, intervalMs: number): void {
  if (intervalMs <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    await app.producer
      .onRemoved((_type, jobId) => {
        void failRemoved(app, jobId).then(
          (changed) => changed && app.log.warn({ jobId }, 'a queued job was removed from the queue; marked failed'),
          (err: unknown) => app.log.warn({ err, jobId }, 'could not record a removed job (the sweep will)'),
        );
      })
      .catch((err: unknown) => app.log.warn({ err }, 'cannot listen for removed jobs now; the periodic sweep still runs'));
    timer = setInterval(() => {
      void reconcileQueue(app).then(
        (r) => (r.failed > 0 || r.fairness > 0) && app.log.warn(r, 'reconciled queued jobs with the queue'),
        (err: unknown) => app.log.warn({ err }, 'queue reconciliation failed; retrying at the next interval'),
      );
    }, intervalMs);
    timer.unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}
