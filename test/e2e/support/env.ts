/**
 * Test support shared by the API, worker and end-to-end tests: a fresh Postgres schema per file (migrated
 * with @pssr/db's runner), a unique BullMQ prefix per file on the local Redis, an in-process s3rver on
 * loopback, API keys, and small real EM stacks degraded from ../shared/datasets.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createDb, migrate, type DbWithClient } from '@pssr/db';
import { startTestS3, type TestS3 } from '@pssr/storage/testing';
import { loadApiConfig, type ApiConfig } from '@pssr/config';

export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export function uniqueName(tag: string): string {
  return `t_${tag}_${randomBytes(4).toString('hex')}`;
}

export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

export interface TestDatabase {
  schema: string;
  /** DATABASE_URL with `?schema=` of this file's schema. */
  url: string;
  db: DbWithClient;
  close(): Promise<void>;
}

/** A fresh, migrated schema; `close()` drops it. */
export async function freshDatabase(tag: string): Promise<TestDatabase> {
  const schema = uniqueName(tag);
  const url = withSchema(DATABASE_URL, schema);
  await migrate(url);
  const db = createDb(url, { poolSize: 4 });
  return {
    schema,
    url,
    db,
    async close() {
      await db.close();
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Deletes the Redis keys of a test prefix (best effort, through redis-cli). */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const run = promisify(execFile);
  const u = new URL(REDIS_URL);
  const args = ['-h', u.hostname, '-p', u.port || '6379'];
  try {
    const { stdout } = await run('redis-cli', [...args, '--scan', '--pattern', `${prefix}:*`]);
    const keys = stdout.split('\n').filter(Boolean);
    for (let i = 0; i < keys.length; i += 200) await run('redis-cli', [...args, 'DEL', ...keys.slice(i, i + 200)]);
  } catch {
    // no redis-cli: the keys stay, under a prefix no other test uses
  }
}

export { startTestS3, type TestS3 };

export interface TestConfigOptions {
  databaseUrl: string;
  prefix: string;
  s3?: TestS3;
  /** Local-disk storage folder when no s3. */
  dataDir?: string;
  env?: Record<string, string>;
}

/** Env for the API/worker configs of a test (the same variables an operator sets). */
export function testEnv(o: TestConfigOptions): Record<string, string> {
  const env: Record<string, string> = {
    DATABASE_URL: o.databaseUrl,
    REDIS_URL: REDIS_URL,
    QUEUE_PREFIX: o.prefix,
    LOG_LEVEL: 'warn',
    REGISTER_BUNDLED_MODELS: 'true',
  };
  if (o.s3) {
    env['S3_ENDPOINT'] = o.s3.endpoint;
    env['S3_BUCKET'] = o.s3.bucket;
    env['S3_REGION'] = o.s3.config.region ?? 'us-east-1';
    if (o.s3.config.accessKeyId) env['S3_ACCESS_KEY_ID'] = o.s3.config.accessKeyId;
    if (o.s3.config.secretAccessKey) env['S3_SECRET_ACCESS_KEY'] = o.s3.config.secretAccessKey;
  } else if (o.dataDir) {
    env['PSSR_DATA_DIR'] = o.dataDir;
  }
  return { ...env, ...(o.env ?? {}) };
}

export function testApiConfig(o: TestConfigOptions): ApiConfig {
  return loadApiConfig(testEnv(o));
}

export async function tempDir(tag: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `pssr-${tag}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Waits until `check` returns a value (not undefined/false) or the time is up. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
