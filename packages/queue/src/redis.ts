import { Redis } from 'ioredis';

/** Key of the set of a group's waiting job ids in one queue (see README "Fairness"). */
export function fairKey(prefix: string, queue: string, groupId: string): string {
  return `${prefix}:${queue}:pssr:fair:${groupId}`;
}
export function fairPattern(prefix: string, queue: string): string {
  return `${prefix}:${queue}:pssr:fair:*`;
}
export function cancelChannel(prefix: string): string {
  return `${prefix}:pssr:cancel`;
}

/**
 * A connection for our own commands. It fails fast while Redis is down (no offline queue, one retry) so the
 * API can answer 503 instead of hanging; ioredis keeps reconnecting in the background.
 */
export function fastFailRedis(url: string): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 3000, lazyConnect: false });
  r.on('error', () => {}); // reported through failing commands instead
  return r;
}

/** Redis is unreachable right now (callers answer 503 / retry later). */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
}

export function isQueueUnavailableError(err: unknown): err is QueueUnavailableError {
  return err instanceof QueueUnavailableError;
}

/** Rejects with QueueUnavailableError when `p` takes longer than `ms` or fails with a connection error. */
export async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueUnavailableError(`Redis did not answer within ${ms} ms (${what})`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } catch (err) {
    if (err instanceof QueueUnavailableError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|MaxRetriesPerRequest|Stream isn't writeable|enableOfflineQueue/i.test(msg)) {
      throw new QueueUnavailableError(`Redis is unavailable (${what}): ${msg}`, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
