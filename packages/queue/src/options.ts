import type { JobsOptions } from 'bullmq';
import type { JobName } from './types.js';

export const DEFAULT_ATTEMPTS = 3;
/** First retry after 5 s, then 10 s (BullMQ exponential backoff: delay * 2^(attempt-1)). */
export const BACKOFF_DELAY_MS = 5_000;
/** BullMQ's largest priority (2^21); lower numbers start first. */
export const MAX_PRIORITY = 2_097_152;

export interface RetryPolicy {
  attempts?: number;
  backoffDelayMs?: number;
}

/**
 * The one place that sets BullMQ job options. `jobId` is our Postgres job id, so adding the same job twice
 * is a no-op in BullMQ (idempotent re-enqueue after an API retry). Every job carries a priority >= 1:
 * BullMQ runs un-prioritised jobs before all prioritised ones, which would bypass fairness.
 */
export function jobOptions(_name: JobName, jobId: string, priority: number, retry: RetryPolicy = {}): JobsOptions {
  return {
    jobId,
    priority: Math.min(Math.max(1, Math.floor(priority)), MAX_PRIORITY),
    attempts: retry.attempts ?? DEFAULT_ATTEMPTS,
    backoff: { type: 'exponential', delay: retry.backoffDelayMs ?? BACKOFF_DELAY_MS },
    // Postgres keeps the record; Redis keeps recent history for the dashboard only.
    removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
    removeOnFail: { count: 5000, age: 30 * 24 * 3600 },
  };
}
