import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A unique key prefix per test file (and per test inside it), so parallel runs never share queues. */
export function uniquePrefix(tag: string): string {
  return `pssrtest-${tag}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under the prefixes (the test's queues, jobs and fairness sets). */
export async function deleteKeys(prefixes: string[]): Promise<void> {
  const r = new Redis(REDIS_URL);
  try {
    for (const p of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await r.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    await r.quit();
  }
}

/** Polls until `cond` holds; fails after `timeoutMs` (a deadline against hangs, not a timing assertion). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
