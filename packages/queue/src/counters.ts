/**
 * Fixed-window counters in Redis, so limits hold across API replicas: request budgets per key and failed
 * authentications per client address. One round trip per hit (a Lua script: INCR, then PEXPIRE when the
 * window starts).
 */
import { fastFailRedis, withDeadline } from './redis.js';

const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

export interface WindowCounters {
  /** Counts one more event for `key` in its window (started by the first event, `windowMs` long). */
  hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }>;
  /** Events counted for `key` in its current window (0 when none). */
  peek(key: string): Promise<number>;
  close(): Promise<void>;
}

export function createWindowCounters(redisUrl: string, opts: { prefix?: string; timeoutMs?: number } = {}): WindowCounters {
  const redis = fastFailRedis(redisUrl);
  const prefix = `${opts.prefix ?? 'pssr'}:pssr:limit:`;
  const ms = opts.timeoutMs ?? 5000;
  return {
    async hit(key, windowMs) {
      const [count, ttlMs] = (await withDeadline(redis.eval(HIT, 1, prefix + key, String(windowMs)), ms, 'rate counter')) as [number, number];
      return { count: Number(count), ttlMs: Number(ttlMs) };
    },
    async peek(key) {
      return Number((await withDeadline(redis.get(prefix + key), ms, 'rate counter')) ?? 0);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
