/**
 * @pssr/queue: the only package that imports BullMQ (and ioredis). Job names, payload schemas, job options,
 * a producer for the API and a consumer for the worker, with fairness between groups (see README.md).
 */
export * from './types.js';
export { jobOptions, DEFAULT_ATTEMPTS, BACKOFF_DELAY_MS, MAX_PRIORITY, type RetryPolicy } from './options.js';
export { isJobPayload, checkJobPayload } from './payload.js';
export * from './job-options.js';
export * from './job-results.js';
export { QueueUnavailableError, isQueueUnavailableError } from './redis.js';
export { createProducer, type Producer, type ProducerOptions, type WaitingJob } from './producer.js';
export { startHeartbeat, workerKey, type Heartbeat, type WorkerBeat } from './heartbeat.js';
export { createConsumer, checkProcessors, toQueueError, type Consumer, type ConsumerOptions } from './consumer.js';
export { createWindowCounters, type WindowCounters } from './counters.js';
