/**
 * Worker heartbeats: each worker process SETs `<prefix>:pssr:worker:<id>` (JSON) with a TTL of three beat
 * periods and refreshes it every period; a worker that died simply expires. The API reads them all for the
 * facility view (`listWorkers`): one SCAN + MGET, no registry to clean up.
 */
import type { Redis } from 'ioredis';
import type { JobName } from './types.js';
import { fastFailRedis, withDeadline } from './redis.js';

export interface WorkerBeat {
  /** `<host>:<pid>`, unique per worker process. */
  id: string;
  host: string;
  pid: number;
  /** The device the worker was configured for (`WORKER_DEVICE`). */
  device: string;
  /** The execution provider its last restore ran on (`cuda`, `cpu`), null before the first. */
  provider: string | null;
  queues: JobName[];
  concurrency: number;
  running: { jobId: string; type: JobName; since: string }[];
  /** Jobs this process finished since it started. */
  succeeded: number;
  failed: number;
  /** Output megapixels per second of its last successful restore. */
  lastMegapixelsPerSecond: number | null;
  startedAt: string;
  /** When this beat was written. */
  at: string;
}

export const workerKey = (prefix: string, id: string): string => `${prefix}:pssr:worker:${id}`;
const workerPattern = (prefix: string): string => `${prefix}:pssr:worker:*`;

export interface Heartbeat {
  /** Writes a beat now (also done every period). */
  beat(): Promise<void>;
  /** Stops beating and deletes the key, so the worker disappears at once. */
  stop(): Promise<void>;
}

export function startHeartbeat(opts: { redisUrl: string; prefix?: string; intervalMs?: number; state: () => Omit<WorkerBeat, 'at'>; onError?: (err: Error) => void }): Heartbeat {
  const prefix = opts.prefix ?? 'bull';
  const intervalMs = opts.intervalMs ?? 5000;
  const ttlSec = Math.max(1, Math.ceil((3 * intervalMs) / 1000));
  const redis = fastFailRedis(opts.redisUrl);
  const beat = async () => {
    const state = opts.state();
    const value: WorkerBeat = { ...state, at: new Date().toISOString() };
    await redis.set(workerKey(prefix, state.id), JSON.stringify(value), 'EX', ttlSec);
  };
  const timer = setInterval(() => void beat().catch((err: unknown) => opts.onError?.(err instanceof Error ? err : new Error(String(err)))), intervalMs);
  timer.unref();
  return {
    beat,
    async stop() {
      clearInterval(timer);
      await redis.del(workerKey(prefix, opts.state().id)).catch(() => 0);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Every live worker's last beat, by id. */
export async function readWorkerBeats(redis: Redis, prefix: string, timeoutMs: number): Promise<WorkerBeat[]> {
  return withDeadline((async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', workerPattern(prefix), 'COUNT', 200);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await redis.mget(...keys);
    const beats: WorkerBeat[] = [];
    for (const v of values) {
      if (!v) continue; // expired between SCAN and MGET
      try {
        beats.push(JSON.parse(v) as WorkerBeat);
      } catch {
        // not ours; skip
      }
    }
    return beats.sort((a, b) => a.id.localeCompare(b.id));
  })(), timeoutMs, 'worker heartbeats');
}
