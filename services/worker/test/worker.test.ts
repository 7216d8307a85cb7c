import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createObjectStore, type ObjectStore } from '@pssr/storage';
import { createProducer, type Producer } from '@pssr/queue';
import { RestoreEngine } from '@pssr/inference';
import { loadModelDir } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import type { JobRecord, ModelRecord } from '@pssr/db';
import { loadWorkerConfig } from '@pssr/config';
import { startWorker, type RunningWorker } from '../src/index.js';
import {
  dropRedisPrefix,
  freshDatabase,
  startTestS3,
  tempDir,
  testEnv,
  uniqueName,
  waitFor,
  type TestDatabase,
  type TestS3,
} from '../../../test/e2e/support/env.js';
import { startTcpProxy, type TcpProxy } from '../../../test/e2e/support/proxy.js';
import { buildFixtures, registerModelDir, type Fixtures } from '../../../test/e2e/support/models.js';
import { finishedJob, putStack, submitJob } from '../../../test/e2e/support/records.js';
import { makeEmStack, makePatternStack } from '../../../test/e2e/support/stacks.js';
import { compressedPage, zlibZeros } from '../../../packages/tiff/test/helpers/bombs.js';

let tdb: TestDatabase;
let s3: TestS3;
let s3Proxy: TcpProxy;
let store: ObjectStore;
let producer: Producer;
let worker: RunningWorker;
let fixtures: Fixtures;
let dir: { path: string; remove(): Promise<void> };
let prefix: string;
let groupId: string;
let userId: string;
let model: ModelRecord;

before(async () => {
  tdb = await freshDatabase('worker');
  s3 = await startTestS3({ bucket: 'pssr-worker-test' });
  const endpoint = new URL(s3.endpoint);
  s3Proxy = await startTcpProxy(endpoint.hostname, Number(endpoint.port));
  prefix = uniqueName('worker');
  dir = await tempDir('worker');
  fixtures = buildFixtures();
  // Worker and test share the bucket; the worker reaches it through a proxy the transient-failure test cuts.
  store = createObjectStore({ kind: 's3', ...s3.config });
  const { user, group } = await tdb.db.apiKeys.issue({ group: 'lab', user: 'ana' });
  groupId = group.id;
  userId = user.id;
  model = await registerModelDir(tdb.db, store, groupId, fixtures.single, 'fixture');
  producer = createProducer(testEnv({ databaseUrl: tdb.url, prefix }).REDIS_URL!, { prefix });
  const env = testEnv({ databaseUrl: tdb.url, prefix, s3, env: { WORKER_DEVICE: 'cpu', WORKER_TMP_DIR: join(dir.path, 'scratch'), WORKER_CANCEL_POLL_MS: '300', LOG_LEVEL: 'error' } });
  env['S3_ENDPOINT'] = s3Proxy.url(s3.endpoint).replace(/\/$/, '');
  worker = await startWorker(loadWorkerConfig(env));
});

after(async () => {
  await worker?.close({ force: true });
  await producer?.close();
  store?.close();
  await s3Proxy?.close();
  await s3?.close();
  await tdb?.close();
  await dropRedisPrefix(prefix);
  fixtures?.cleanup();
  await dir?.remove();
});

const finished = (id: string, timeoutMs?: number) => finishedJob(tdb.db, id, timeoutMs);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a restore job: result stack stored and recorded with its metrics; output equals the engine run locally', async () => {
  const em = await makeEmStack(dir.path, { frames: 2, lrSize: 32 });
  const stack = await putStack(tdb.db, store, groupId, em.path, 'em-lr.tif');
  const job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: model.id });
  const done = await finished(job.id);
  assert.equal(done.status, 'succeeded', `${done.errorCode}: ${done.errorMessage}`);
  assert.equal(done.progress, 1);
  assert.equal(done.attempts, 1);
  assert.ok(done.outputStackId);
  const out = (await tdb.db.stacks.get(done.outputStackId, groupId))!;
  assert.equal(out.status, 'ready');
  assert.deepEqual([out.frames, out.height, out.width, out.dtype], [2, 128, 128, 'uint8']);
  const m = done.metrics as Record<string, any>;
  assert.equal(m['provider'], 'cpu');
  assert.ok(m['tiles'] >= 2);
  assert.ok(m['megapixelsPerSecond'] > 0);
  assert.ok(m['batchSize'] >= 1);
  assert.deepEqual(m['model'], { id: model.id, name: 'fixture', version: model.version, sha256: model.sha256 });
  assert.equal(m['inputSha256'], stack.sha256);
  assert.equal(m['outputSha256'], out.sha256);
  assert.ok(m['workerHost']);
  assert.ok(m['timings']['totalSeconds'] > 0);
  assert.equal(typeof m['eventLoopMaxDelayMs'], 'number', 'the event-loop delay seen by the lock renewal is recorded');
  assert.ok(done.startedAt && done.finishedAt && done.startedAt <= done.finishedAt);

  const local = join(dir.path, 'result.tif');
  await store.getToFile(out.storageKey, local);
  assert.equal(sha(await readFile(local)), out.sha256);
  // The same restore run here, in-process, gives the same pixels.
  const engine = await RestoreEngine.load(await loadModelDir(fixtures.single), { device: 'cpu' });
  const input = await openTiffStack(em.path);
  const output = await openTiffStack(local);
  try {
    const expected: number[][] = [];
    await engine.restore(input, {
      info: engine.outputInfo(input.info),
      writeFrame: async (f) => void expected.push(Array.from(f)),
      commit: async () => {},
      abort: async () => {},
    });
    for (let f = 0; f < 2; f++) assert.deepEqual(Array.from(await output.readFrame(f)), expected[f], `frame ${f}`);
  } finally {
    await input.close();
    await output.close();
  }
});

test('a corrupt stack fails at once (no retry) with the tiff code, leaving no result', async () => {
  const path = join(dir.path, 'good.tif');
  await makePatternStack(path, 2, 32, 32);
  const stack = await putStack(tdb.db, store, groupId, path, 'corrupted-at-rest.tif');
  const bytes = await readFile(path);
  const cut = join(dir.path, 'cut.tif');
  await writeFile(cut, bytes.subarray(0, bytes.length - 700));
  await store.putFile(stack.storageKey, cut); // the object rotted after it was validated
  const job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: model.id });
  const done = await finished(job.id);
  assert.equal(done.status, 'failed');
  assert.match(done.errorCode ?? '', /^TIFF_(TRUNCATED|CORRUPT)$/);
  assert.ok((done.errorMessage ?? '').length > 0);
  assert.equal(done.attempts, 1, 'a permanent error is not retried');
  assert.equal(done.outputStackId, null);
});

test('a deflate bomb (64 KB inflating to 64 MB for a 64x64 frame) fails at once with TIFF_TOO_LARGE, leaving no result', async () => {
  const path = join(dir.path, 'bomb.tif');
  await writeFile(path, compressedPage(64, 64, 8, await zlibZeros(64 * 2 ** 20)));
  const stack = await putStack(tdb.db, store, groupId, path, 'bomb.tif');
  const job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: model.id });
  const done = await finished(job.id);
  assert.equal(done.status, 'failed');
  assert.equal(done.errorCode, 'TIFF_TOO_LARGE');
  assert.match(done.errorMessage ?? '', /decodes to more than its declared 4096 bytes/);
  assert.equal(done.attempts, 1, 'a permanent error is not retried');
  assert.equal(done.outputStackId, null);
});

test('a model whose files are gone fails at once with MODEL_NOT_FOUND', async () => {
  const path = join(dir.path, 'small.tif');
  await makePatternStack(path, 1, 16, 16);
  const stack = await putStack(tdb.db, store, groupId, path);
  const ghost = await tdb.db.models.registerTrained({ groupId, name: 'ghost', sha256: 'c'.repeat(64), card: { name: 'ghost' }, storageKey: 'models/nowhere' });
  const job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: ghost.id });
  const done = await finished(job.id);
  assert.equal(done.status, 'failed');
  assert.equal(done.errorCode, 'MODEL_NOT_FOUND');
  assert.equal(done.attempts, 1);
});

test('cancel stops a running restore within seconds and leaves no result', async () => {
  const path = join(dir.path, 'long.tif');
  await makePatternStack(path, 32, 128, 128);
  const stack = await putStack(tdb.db, store, groupId, path, 'long.tif');
  // Tiny tiles, one per batch: a restore of many steps, so there is time to cancel it midway.
  const job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: model.id, options: { tileSize: 24, batchSize: 1 } });
  await waitFor(async () => {
    const j = await tdb.db.jobs.get(job.id);
    return j && j.status === 'running' && j.progress > 0.03 ? j : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100, what: 'the restore to make progress' });
  const canceledAt = Date.now();
  const res = await tdb.db.jobs.cancel(job.id, groupId);
  assert.equal(res?.changed, true);
  await producer.cancel('restore', job.id);
  // The worker lets go of the job: the next one starts.
  const next = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: (await putStack(tdb.db, store, groupId, join(dir.path, 'small.tif'))).id, modelId: model.id });
  const nextDone = await finished(next.id, 60_000);
  assert.equal(nextDone.status, 'succeeded');
  const stopped = (await tdb.db.jobs.get(job.id))!;
  assert.equal(stopped.status, 'canceled');
  assert.ok(stopped.progress < 1, `it stopped midway (progress ${stopped.progress})`);
  assert.equal(stopped.outputStackId, null);
  assert.ok(Date.now() - canceledAt < 30_000);
  const logs = await tdb.db.stacks.list(groupId);
  assert.ok(logs.items.every((s) => s.name !== 'long.x4.tif' && !s.name.startsWith('long.fixture')), 'no result stack for the canceled job');
});

test('a transient storage outage is retried with backoff (queued in between) and the job then succeeds', async () => {
  const path = join(dir.path, 'retry.tif');
  await makePatternStack(path, 1, 16, 16);
  const stack = await putStack(tdb.db, store, groupId, path, 'retry.tif');
  await s3Proxy.cut();
  let job: JobRecord;
  try {
    job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: model.id });
    const first = await waitFor(async () => {
      const j = await tdb.db.jobs.get(job.id);
      return j && (j.metrics as Record<string, unknown>)['lastError'] ? j : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200, what: 'the first attempt to fail' });
    // Between attempts (BullMQ's first backoff is 5 s, while storage is still cut) the record says so.
    assert.equal(first.status, 'queued', 'waiting for its retry, the job is queued again (not failed, not running)');
    assert.equal(first.attempts, 1);
    assert.equal(first.errorCode, null, 'errorCode is for a final failure');
    assert.deepEqual(
      [(first.metrics as Record<string, any>)['lastError']?.attempt, (first.metrics as Record<string, any>)['lastError']?.code],
      [1, 'INTERNAL'],
    );
  } finally {
    await s3Proxy.restore();
  }
  const done = await finished(job.id, 60_000);
  assert.equal(done.status, 'succeeded', `${done.errorCode}: ${done.errorMessage}`);
  assert.ok(done.attempts >= 2, `attempts ${done.attempts}`);
  assert.equal(done.progress, 1);
  assert.ok(done.outputStackId, 'the retry recorded its result');
  assert.equal(((done.metrics as Record<string, any>)['lastError'] as { code: string }).code, 'INTERNAL');
});
