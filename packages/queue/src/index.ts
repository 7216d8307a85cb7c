/**
 * @pssr/queue: the only package that imports BullMQ (and ioredis). Job names, payload schemas, job options,
 * a producer for the API and a consumer for the worker, with fairness between groups (see README.md).
 */
export * from './types.js';
export { jobOptions, DEFAULT_ATTEMPTS, BACKOFF_DELAY_MS, MAX_PRIORITY } from './options.js';
export { createProducer, type Producer } from './producer.js';
export {
  createConsumer,
  checkProcessors,
  toQueueError,
  type Consumer,
  type ConsumerOptions,
} from './consumer.js';
