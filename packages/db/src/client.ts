import type { Db } from './types.js';
import type { PrismaClient } from './generated/client.js';

export interface CreateDbOptions {
  /** Postgres schema (search_path) to use instead of the URL's `?schema=` (default `public`). */
  schema?: string;
  /** Connection pool size (default 10). */
  poolSize?: number;
}

export interface DbWithClient extends Db {
  /** The raw Prisma client, for what the repositories do not cover. Prefer the repositories. */
  prisma: PrismaClient;
}

/** Connects lazily; call `close()` when done. */
export function createDb(url: string, opts: CreateDbOptions = {}): DbWithClient {
  void url; void opts;
  throw new Error('TODO');
}
