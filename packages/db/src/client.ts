import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.js';
import type { Db } from './types.js';
import { quoteIdent, splitDatabaseUrl } from './url.js';
import { groupRepository, userRepository } from './repos/groups.js';
import { apiKeyRepository } from './repos/apiKeys.js';
import { sessionRepository } from './repos/sessions.js';
import { stackRepository, uploadRepository } from './repos/stacks.js';
import { modelRepository } from './repos/models.js';
import { jobRepository } from './repos/jobs.js';
import { createJobChangeFeed } from './job-changes.js';

export interface CreateDbOptions {
  /** Postgres schema (search_path) to use instead of the URL's `?schema=` (default `public`). */
  schema?: string;
  /** Connection pool size (default 10). */
  poolSize?: number;
  /** Give up connecting after this long (default 5000 ms), so callers fail fast while Postgres is down. */
  connectTimeoutMs?: number;
}

export interface DbWithClient extends Db {
  /** The raw Prisma client, for what the repositories do not cover. Prefer the repositories. */
  prisma: PrismaClient;
  /** The Postgres schema this client works in. */
  schema: string;
}

/** Connects lazily; call `close()` when done. */
export function createDb(url: string, opts: CreateDbOptions = {}): DbWithClient {
  const { connectionString, schema } = splitDatabaseUrl(url, opts.schema);
  const pool = new pg.Pool({
    connectionString,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    // search_path makes raw SQL find the tables; UTC because `timestamp(3)` columns hold UTC (Prisma's
    // convention) and DEFAULT CURRENT_TIMESTAMP would otherwise store the server's local time.
    options: `-c search_path=${quoteIdent(schema)} -c TimeZone=UTC`,
  });
  // An idle connection dropped by a Postgres restart must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }) });
  let closed = false;
  const jobChanges = createJobChangeFeed(connectionString, schema, { connectTimeoutMs: opts.connectTimeoutMs ?? 5000 });
  return {
    prisma,
    schema,
    groups: groupRepository(prisma),
    users: userRepository(prisma),
    apiKeys: apiKeyRepository(prisma),
    sessions: sessionRepository(prisma),
    stacks: stackRepository(prisma),
    uploads: uploadRepository(prisma),
    models: modelRepository(prisma),
    jobs: jobRepository(prisma, pool),
    jobChanges,
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
    async close() {
      if (closed) return;
      closed = true;
      await jobChanges.close();
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
