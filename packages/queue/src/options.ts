import type { JobsOptions } from 'bullmq';
import type { JobName } from './types.js';

export const DEFAULT_ATTEMPTS = 3;
/** First retry after 5 s, then 10 s, 20 s (BullMQ exponential backoff). */
export const BACKOFF_DELAY_MS = 5_000;
/** BullMQ's largest priority (2^21); lower numbers start first. */
export const MAX_PRIORITY = 2_097_152;

/**
 * The one place that sets BullMQ job options. `jobId` is our Postgres job id, so adding the same job twice
 * is a no-op in BullMQ (idempotent re-enqueue after an API retry).
 */
export function jobOptions(name: JobName, jobId: string, priority: number): JobsOptions {
  return {
    jobId,
    priority: Math.min(Math.max(1, Math.floor(priority)), MAX_PRIORITY),
    attempts: DEFAULT_ATTEMPTS,
    backoff: { type: 'exponential', delay: BACKOFF_DELAY_MS },
    removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
    removeOnFail: { count: 5000, age: 30 * 24 * 3600 },
    ...(name === 'train' ? {} : {}),
  };
}
