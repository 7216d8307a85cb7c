import { Queue, QueueEvents } from 'bullmq';
import { JOB_NAMES, type CancelOutcome, type JobName, type QueueConfig, type QueueDepth } from './types.js';
import { jobOptions, type RetryPolicy } from './options.js';
import { checkJobPayload } from './payload.js';
import { cancelChannel, fairKey, fairPattern, fastFailRedis, withDeadline } from './redis.js';
import { readWorkerBeats, type WorkerBeat } from './heartbeat.js';

/** A job not started yet, as the queue holds it. */
export interface WaitingJob {
  jobId: string;
  groupId: string;
  /** The fairness priority it was enqueued with (lower starts first). */
  priority: number;
  /** `waiting`: in start order; `delayed`: backing off before a retry (rejoins the waiting ones after). */
  state: 'waiting' | 'delayed';
  enqueuedAt: Date;
}

export interface ProducerOptions extends Omit<QueueConfig, 'redisUrl'> {
  /** Retry policy stamped on every job (default: 3 attempts, exponential backoff from 5 s). */
  retry?: RetryPolicy;
  /** Each call fails with QueueUnavailableError after this long without Redis (default 5000 ms). */
  timeoutMs?: number;
}

export interface Producer {
  /**
   * Adds the job to the `type` queue with the fairness priority (1 + the group's jobs already waiting in that
   * queue). Idempotent per jobId: a second call neither adds a job nor changes the counts.
   */
  enqueue(type: JobName, jobId: string, groupId: string): Promise<{ added: boolean; priority: number }>;
  /** Removes a waiting job, or signals the worker running it to stop (its `ctx.signal` aborts). */
  cancel(type: JobName, jobId: string): Promise<CancelOutcome>;
  depths(): Promise<QueueDepth[]>;
  /** Jobs of the group waiting in the queue (what its next job's priority is computed from, minus one). */
  groupWaiting(type: JobName, groupId: string): Promise<number>;
  /** Drops fairness entries of jobs no longer waiting (e.g. removed from the admin dashboard); returns how many. */
  reconcileFairness(): Promise<number>;
  /** Which of these job ids BullMQ no longer holds in any state (removed, cleaned, never added). */
  missing(type: JobName, jobIds: readonly string[]): Promise<string[]>;
  /**
   * Calls `listener` when a job is removed from a queue by anyone (the admin dashboard, `cancel`), from
   * BullMQ's event stream. Resolves once listening; events while nobody listened are not replayed.
   */
  onRemoved(listener: (type: JobName, jobId: string) => void): Promise<void>;
  /**
   * The jobs of a queue not started yet, waiting ones in the exact order workers will start them (BullMQ
   * starts the lowest priority score first: priority, then submission order), then the delayed retries.
   * This is the fairness rule made visible; at most `limit` of each.
   */
  waitingInOrder(type: JobName, limit?: number): Promise<WaitingJob[]>;
  /** The last heartbeat of every live worker (see heartbeat.ts). */
  workers(): Promise<WorkerBeat[]>;
  /** Resolves when Redis answers PING (for /ready). */
  ping(): Promise<void>;
  /** The BullMQ queues (for the admin dashboard, e.g. @bull-board's BullMQAdapter). */
  readonly queues: Readonly<Record<JobName, Queue>>;
  close(): Promise<void>;
}

// SADD then SCARD atomically: the priority of a new job is its group's waiting count including itself.
// Returns 0 when the id was already counted (a repeated enqueue).
const ADD_WAITING = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then return redis.call('SCARD', KEYS[1]) end
return 0`;

const WAITING_STATES = new Set(['waiting', 'wait', 'prioritized', 'delayed', 'waiting-children']);

export function createProducer(redisUrl: string, opts: ProducerOptions = {}): Producer {
  const prefix = opts.prefix ?? 'bull';
  const ms = opts.timeoutMs ?? 5000;
  const redis = fastFailRedis(redisUrl);
  const queues = Object.fromEntries(
    JOB_NAMES.map((name) => {
      const q = new Queue(name, { connection: { url: redisUrl, maxRetriesPerRequest: 1, connectTimeout: 3000 }, prefix });
      q.on('error', () => {}); // surfaced by the failing call instead
      return [name, q];
    }),
  ) as Record<JobName, Queue>;

  const events: QueueEvents[] = [];

  return {
    queues,

    async enqueue(type, jobId, groupId) {
      const payload = checkJobPayload(type, { jobId, groupId });
      const queue = queues[type];
      return withDeadline((async () => {
        const existing = await queue.getJob(jobId);
        if (existing) return { added: false, priority: existing.opts.priority ?? 0 };
        const key = fairKey(prefix, type, groupId);
        const counted = Number(await redis.eval(ADD_WAITING, 1, key, jobId));
        const priority = counted > 0 ? counted : await redis.scard(key);
        try {
          await queue.add(type, payload, jobOptions(type, jobId, priority, opts.retry));
        } catch (err) {
          if (counted > 0) await redis.srem(key, jobId).catch(() => {});
          throw err;
        }
        return { added: true, priority };
      })(), ms, `enqueue ${type}`);
    },

    async cancel(type, jobId) {
      const queue = queues[type];
      return withDeadline((async (): Promise<CancelOutcome> => {
        const job = await queue.getJob(jobId);
        if (!job) return 'absent';
        const state = await job.getState();
        if (WAITING_STATES.has(state)) {
          try {
            await job.remove();
            const groupId = (job.data as { groupId?: unknown }).groupId;
            if (typeof groupId === 'string') await redis.srem(fairKey(prefix, type, groupId), jobId);
            return 'removed';
          } catch {
            // It started meanwhile (a locked job cannot be removed): signal it instead.
          }
        } else if (state !== 'active') {
          return 'absent';
        }
        await redis.publish(cancelChannel(prefix), JSON.stringify({ queue: type, jobId }));
        return 'signalled';
      })(), ms, `cancel ${type}`);
    },

    async depths() {
      return withDeadline(Promise.all(JOB_NAMES.map(async (name): Promise<QueueDepth> => {
        const c = await queues[name].getJobCounts('wait', 'prioritized', 'active', 'delayed', 'failed', 'completed');
        const paused = await queues[name].isPaused();
        return {
          queue: name,
          waiting: (c.wait ?? 0) + (c.prioritized ?? 0),
          active: c.active ?? 0,
          delayed: c.delayed ?? 0,
          failed: c.failed ?? 0,
          completed: c.completed ?? 0,
          paused,
        };
      })), ms, 'queue depths');
    },

    async groupWaiting(type, groupId) {
      return withDeadline(redis.scard(fairKey(prefix, type, groupId)), ms, 'group waiting count');
    },

    async reconcileFairness() {
      let removed = 0;
      for (const name of JOB_NAMES) {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', fairPattern(prefix, name), 'COUNT', 100);
          cursor = next;
          for (const key of keys) {
            for (const id of await redis.smembers(key)) {
              const state = await queues[name].getJobState(id);
              if (!WAITING_STATES.has(state)) removed += await redis.srem(key, id);
            }
          }
        } while (cursor !== '0');
      }
      return removed;
    },

    async missing(type, jobIds) {
      const states = await withDeadline(Promise.all(jobIds.map((id) => queues[type].getJobState(id))), ms, `job states ${type}`);
      return jobIds.filter((_, i) => states[i] === 'unknown');
    },

    async onRemoved(listener) {
      for (const name of JOB_NAMES) {
        const qe = new QueueEvents(name, { connection: { url: redisUrl }, prefix });
        qe.on('error', () => {}); // reconnects by itself; a sweep catches what was missed meanwhile
        qe.on('removed', ({ jobId }) => listener(name, jobId));
        events.push(qe);
        await qe.waitUntilReady();
      }
    },

    async waitingInOrder(type, limit = 200) {
      const queue = queues[type];
      return withDeadline((async () => {
        // Un-prioritised jobs (none of ours, but the admin board can add some) start before prioritised ones.
        const waiting = [...(await queue.getJobs(['wait'], 0, limit - 1, true)), ...(await queue.getJobs(['prioritized'], 0, limit - 1, true))].slice(0, limit);
        const delayed = await queue.getJobs(['delayed'], 0, limit - 1, true);
        const view = (state: WaitingJob['state']) => (job: (typeof waiting)[number]): WaitingJob[] => {
          const data = job.data as { jobId?: unknown; groupId?: unknown };
          if (typeof data.jobId !== 'string' || typeof data.groupId !== 'string') return [];
          return [{ jobId: data.jobId, groupId: data.groupId, priority: job.opts.priority ?? 0, state, enqueuedAt: new Date(job.timestamp) }];
        };
        return [...waiting.flatMap(view('waiting')), ...delayed.flatMap(view('delayed'))];
      })(), ms, `waiting ${type} jobs`);
    },

    async workers() {
      return readWorkerBeats(redis, prefix, ms);
    },

    async ping() {
      await withDeadline(redis.ping(), ms, 'ping');
    },

    async close() {
      await Promise.all(events.map((qe) => qe.close()));
      await Promise.all(Object.values(queues).map((q) => q.close()));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
