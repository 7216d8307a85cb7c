import type { Queue } from 'bullmq';
import type { CancelOutcome, JobName, QueueConfig, QueueDepth } from './types.js';

export interface Producer {
  /**
   * Adds the job to the `type` queue with the fairness priority (1 + the group's jobs already waiting in that
   * queue). Idempotent per jobId: a second call neither adds a job nor changes the counters.
   */
  enqueue(type: JobName, jobId: string, groupId: string): Promise<{ added: boolean; priority: number }>;
  /** Removes a waiting job, or signals the worker running it to stop. */
  cancel(type: JobName, jobId: string): Promise<CancelOutcome>;
  depths(): Promise<QueueDepth[]>;
  /** Resolves when Redis answers PING (for /ready). */
  ping(): Promise<void>;
  /** The BullMQ queues (for the admin dashboard, e.g. @bull-board's BullMQAdapter). */
  readonly queues: Readonly<Record<JobName, Queue>>;
  close(): Promise<void>;
}

export function createProducer(redisUrl: string, opts: Omit<QueueConfig, 'redisUrl'> = {}): Producer {
  void redisUrl; void opts;
  throw new Error('TODO');
}
