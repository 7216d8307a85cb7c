import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/index.js';
import { DATABASE_URL, REDIS_URL, dropRedisPrefix, freshDatabase, tempDir, testApiConfig, uniqueName, waitFor, withSchema, type TestDatabase } from '../../../test/e2e/support/env.js';
import { startTcpProxy, type TcpProxy } from '../../../test/e2e/support/proxy.js';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { problem } from './helpers.js';

let tdb: TestDatabase;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let app: FastifyInstance;
let prefix: string;
let dir: { path: string; remove(): Promise<void> };
let auth: { authorization: string };
let stackId: string;

before(async () => {
  tdb = await freshDatabase('avail');
  prefix = uniqueName('avail');
  dir = await tempDir('avail');
  const pgUrl = new URL(DATABASE_URL);
  pgProxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
  const redisUrl = new URL(REDIS_URL);
  redisProxy = await startTcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  const config = testApiConfig({
    databaseUrl: withSchema(pgProxy.url(DATABASE_URL), tdb.schema),
    prefix,
    dataDir: dir.path,
    env: { REDIS_URL: redisProxy.url(REDIS_URL), DEPENDENCY_TIMEOUT_MS: '1500' },
  });
  app = await buildApp(config, { logger: false, authCacheMs: 0 });
  await app.ready();
  const { key } = await tdb.db.apiKeys.issue({ group: 'lab', user: 'ana' });
  auth = { authorization: `Bearer ${key}` };
  const path = join(dir.path, 's.tif');
  await makePatternStack(path, 1, 8, 8);
  const res = await app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': 'image/tiff' }, payload: await readFile(path) });
  assert.equal(res.statusCode, 201, res.body);
  stackId = res.json().id;
});

after(async () => {
  await redisProxy?.restore().catch(() => undefined);
  await pgProxy?.restore().catch(() => undefined);
  await app?.close();
  await redisProxy?.close();
  await pgProxy?.close();
  await tdb?.close();
  await dropRedisPrefix(prefix);
  await dir?.remove();
});

const train = () => app.inject({ method: 'POST', url: '/v1/jobs', headers: auth, payload: { type: 'train', stackIds: [stackId], name: 'm', modality: 'em' } });

test('Redis down: /ready and job submission answer 503 problem+json, reads keep working, then it recovers', async () => {
  assert.equal((await app.inject({ url: '/ready' })).statusCode, 200);
  await redisProxy.cut();
  const ready = await app.inject({ url: '/ready' });
  assert.equal(ready.statusCode, 503);
  assert.deepEqual(ready.json().checks, { database: 'ok', redis: 'unavailable' });
  const submit = await train();
  assert.equal(submit.statusCode, 503, submit.body);
  assert.equal(problem(submit).code, 'QUEUE_UNAVAILABLE');
  assert.ok(submit.headers['retry-after']);
  const list = await app.inject({ url: '/v1/jobs', headers: auth });
  assert.equal(list.statusCode, 200, 'reading job records needs only Postgres');
  assert.equal(list.json().items.length, 0, 'a refused submission leaves no job behind');
  const metrics = await app.inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /pssr_dependency_up\{dependency="redis"\} 0/);

  await redisProxy.restore();
  await waitFor(async () => (await app.inject({ url: '/ready' })).statusCode === 200, { timeoutMs: 20_000, what: 'Redis readiness' });
  const again = await waitFor(async () => {
    const r = await train();
    return r.statusCode === 202 ? r : undefined;
  }, { timeoutMs: 20_000, what: 'a job submission after Redis came back' });
  assert.equal(again.json().status, 'queued');
});

test('Postgres down: authenticated routes answer 503 problem+json (not 500), then it recovers', async () => {
  await pgProxy.cut();
  const res = await app.inject({ url: '/v1/jobs', headers: auth });
  assert.equal(res.statusCode, 503, res.body);
  assert.equal(problem(res).code, 'SERVICE_UNAVAILABLE');
  const ready = await app.inject({ url: '/ready' });
  assert.equal(ready.statusCode, 503);
  assert.equal(ready.json().checks.database, 'unavailable');
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200, 'liveness does not depend on Postgres');
  const metrics = await app.inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200, 'metrics still answer');

  await pgProxy.restore();
  const back = await waitFor(async () => {
    const r = await app.inject({ url: '/v1/jobs', headers: auth });
    return r.statusCode === 200 ? r : undefined;
  }, { timeoutMs: 20_000, what: 'Postgres to come back' });
  assert.ok(back.json().items.length >= 1);
  assert.equal((await app.inject({ url: '/ready' })).statusCode, 200);
});
