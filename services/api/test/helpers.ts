/** An API app per test file on real Postgres (fresh schema), Redis (own prefix) and storage. */
import type { FastifyInstance } from 'fastify';
import type { ApiConfig } from '@pssr/config';
import { buildApp } from '../src/index.js';
import {
  dropRedisPrefix,
  freshDatabase,
  startTestS3,
  tempDir,
  testApiConfig,
  uniqueName,
  type TestDatabase,
  type TestS3,
} from '../../../test/e2e/support/env.js';

export interface TestApi {
  app: FastifyInstance;
  config: ApiConfig;
  tdb: TestDatabase;
  prefix: string;
  s3: TestS3 | null;
  dataDir: string;
  /** Creates group/user and returns `Authorization` headers for a new key. */
  key(group: string, user?: string, isAdmin?: boolean): Promise<{ authorization: string; key: string; groupId: string }>;
  close(): Promise<void>;
}

export async function startApi(tag: string, opts: { s3?: boolean; env?: Record<string, string> } = {}): Promise<TestApi> {
  const tdb = await freshDatabase(tag);
  const prefix = uniqueName(tag);
  const data = await tempDir(tag);
  const s3 = opts.s3 ? await startTestS3({ bucket: 'pssr-api-test' }) : null;
  const config = testApiConfig({
    databaseUrl: tdb.url,
    prefix,
    ...(s3 ? { s3 } : { dataDir: data.path }),
    env: { UPLOAD_TMP_DIR: `${data.path}/spool`, ...(opts.env ?? {}) },
  });
  const app = await buildApp(config, { logger: false, authCacheMs: 0 });
  await app.ready();
  return {
    app,
    config,
    tdb,
    prefix,
    s3,
    dataDir: data.path,
    async key(group, user = 'ana', isAdmin = false) {
      const { key, group: g } = await tdb.db.apiKeys.issue({ group, user, isAdmin });
      return { authorization: `Bearer ${key}`, key, groupId: g.id };
    },
    async close() {
      await app.close();
      await s3?.close();
      await tdb.close();
      await dropRedisPrefix(prefix);
      await data.remove();
    },
  };
}

/** Asserts a problem+json answer and returns its body. */
export function problem(res: { statusCode: number; headers: Record<string, unknown>; body: string }): { code: string; detail: string; status: number } {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json')) throw new Error(`expected problem+json, got ${type}: ${res.body.slice(0, 200)}`);
  const body = JSON.parse(res.body) as { code: string; detail: string; status: number };
  if (body.status !== res.statusCode) throw new Error(`problem status ${body.status} != HTTP ${res.statusCode}`);
  if (/\n\s+at |\bat [\w.<>]+ \(|\.ts:\d+|SELECT |INSERT INTO|UPDATE "|prisma|node_modules|"stack"/i.test(res.body)) throw new Error(`problem leaks internals: ${res.body}`);
  return body;
}
