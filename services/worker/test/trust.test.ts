/**
 * The trust report of restore jobs (issue 8) with the real bundled, calibrated em model on real Postgres,
 * Redis and s3rver: every restore stores its consistency map as a stack of the group, report.json and
 * preview.png as objects, all recorded with the job's success; `tta` adds the uncertainty stack; fluorescence
 * restored with em is flagged; a restore resampled to the model's pixel size has no report and says why. A
 * report that fails is contained: the job still succeeds, saying why.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { FrameArray, StackInfo } from '@pssr/core';
import { createObjectStore, type ObjectStore } from '@pssr/storage';
import { createProducer, parseRestoreTrust, type Producer } from '@pssr/queue';
import type { TrustReport } from '@pssr/report';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';
import type { JobRecord, ModelRecord } from '@pssr/db';
import { loadWorkerConfig } from '@pssr/config';
import { startWorker, type RunningWorker } from '../src/index.js';
import { TrustRecorder } from '../src/trust.js';
import { dropRedisPrefix, freshDatabase, startTestS3, tempDir, testEnv, uniqueName, type TestDatabase, type TestS3 } from '../../../test/e2e/support/env.js';
import { resolveModel } from '@pssr/models';
import { finishedJob, putStack, submitJob } from '../../../test/e2e/support/records.js';
import { makeEmStack, makeFluoLrStack } from '../../../test/e2e/support/stacks.js';

const em = await resolveModel('em');
let tdb: TestDatabase;
let s3: TestS3;
let store: ObjectStore;
let producer: Producer;
let worker: RunningWorker;
let dir: { path: string; remove(): Promise<void> };
let prefix: string;
let groupId: string;
let userId: string;
let model: ModelRecord;

before(async () => {
  assert.ok(em, 'packages/models ships the em model');
  tdb = await freshDatabase('worker_trust');
  s3 = await startTestS3({ bucket: 'pssr-worker-trust' });
  store = createObjectStore({ kind: 's3', ...s3.config });
  prefix = uniqueName('worker-trust');
  dir = await tempDir('worker-trust');
  const { user, group } = await tdb.db.apiKeys.issue({ group: 'lab', user: 'ana' });
  groupId = group.id;
  userId = user.id;
  model = await tdb.db.models.registerBundled({ name: 'em', version: em!.card.version, sha256: em!.card.sha256, card: em!.card as unknown as Record<string, unknown> });
  producer = createProducer(testEnv({ databaseUrl: tdb.url, prefix }).REDIS_URL!, { prefix });
  const env = testEnv({ databaseUrl: tdb.url, prefix, s3, env: { WORKER_DEVICE: 'cpu', WORKER_TMP_DIR: join(dir.path, 'scratch'), WORKER_THREADS: '1', LOG_LEVEL: 'error' } });
  worker = await startWorker(loadWorkerConfig(env));
});

after(async () => {
  await worker?.close({ force: true });
  await producer?.close();
  store?.close();
  await s3?.close();
  await tdb?.close();
  await dropRedisPrefix(prefix);
  await dir?.remove();
});

const finished = (id: string) => finishedJob(tdb.db, id, 180_000);

async function restore(path: string, name: string, options: Record<string, unknown> = {}): Promise<JobRecord> {
  const stack = await putStack(tdb.db, store, groupId, path, name);
  const job = await submitJob(tdb.db, producer, { type: 'restore', groupId, userId, inputStackId: stack.id, modelId: model.id, options });
  const done = await finished(job.id);
  assert.equal(done.status, 'succeeded', `${done.errorCode}: ${done.errorMessage}`);
  return done;
}

async function storedJson(key: string): Promise<TrustReport> {
  const chunks: Buffer[] = [];
  for await (const c of await store.getStream(key)) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as TrustReport;
}

async function storedStack(key: string): Promise<{ info: StackInfo; frames: FrameArray[] }> {
  const path = join(dir.path, `map-${Math.random().toString(36).slice(2)}.tif`);
  await store.getToFile(key, path);
  const r = await openTiffStack(path);
  try {
    const frames: FrameArray[] = [];
    for (let t = 0; t < r.info.frames; t++) frames.push(await r.readFrame(t));
    return { info: r.info, frames };
  } finally {
    await r.close();
  }
}

test('a restore job of held-out EM: consistency stack, report.json and preview stored with the success', async () => {
  const lr = await makeEmStack(dir.path, { frames: 2, lrSize: 64 });
  const done = await restore(lr.path, 'vnc-16-17.tif');
  const trust = parseRestoreTrust(done.metrics['trust']);
  assert.ok(trust, `metrics.trust follows its schema: ${JSON.stringify(done.metrics['trust'])}`);
  assert.equal(trust.status, 'ok');
  assert.equal(trust.tta, false);
  assert.equal(trust.frames, 2);
  // Whether clean EM is flagged is the library's calibration (packages/cli/test/trust.test.ts); here: the
  // job records exactly what the report says.
  assert.equal(trust.flagged, trust.flaggedFrames.length > 0);
  assert.match(trust.verdict ?? '', /^trust: /);
  assert.equal(trust.uncertainty, null);
  assert.equal(typeof (done.metrics['timings'] as Record<string, unknown>)['reportSeconds'], 'number');

  const rec = (await tdb.db.jobs.report(done.id, groupId))!;
  assert.ok(rec, 'the report is recorded');
  assert.equal(rec.uncertaintyStackId, null, 'no uncertainty map without tta');
  const cStack = (await tdb.db.stacks.get(rec.consistencyStackId!, groupId))!;
  assert.deepEqual([cStack.status, cStack.frames, cStack.height, cStack.width, cStack.dtype, cStack.userId], ['ready', 2, 64, 64, 'float32', userId]);
  assert.equal(cStack.name, 'vnc-16-17.em-x4.consistency.tif');
  const map = await storedStack(cStack.storageKey);
  assert.deepEqual([map.info.frames, map.info.height, map.info.width, map.info.dtype], [2, 64, 64, 'float32']);
  assert.ok(map.frames.every((f) => f.every((v) => Number.isFinite(v) && v >= 0)), 'the consistency map is an absolute residual');

  const report = await storedJson(rec.reportKey);
  assert.equal(report.schema, 'pssr-trust-report/1');
  assert.deepEqual([report.model.name, report.model.calibrated, report.input.name, report.restored.name], ['em', true, 'vnc-16-17.tif', 'vnc-16-17.em-x4.tif']);
  assert.deepEqual(report.summary.flaggedFrames, trust.flaggedFrames);
  assert.equal(report.summary.verdict, trust.verdict, 'metrics.trust is the stored summary');
  assert.deepEqual(report.frames.map((f) => f.index), [0, 1]);
  const chunks: Buffer[] = [];
  for await (const c of await store.getStream(rec.previewKey)) chunks.push(c as Buffer);
  assert.deepEqual([...Buffer.concat(chunks).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'preview.png is a PNG');
});

test('options.tta adds the uncertainty stack (output size, float32) and the uncertainty summary', async () => {
  const lr = await makeEmStack(dir.path, { frames: 1, lrSize: 48, name: 'tta.tif' });
  const done = await restore(lr.path, 'tta.tif', { tta: true });
  const trust = parseRestoreTrust(done.metrics['trust'])!;
  assert.equal(trust.tta, true);
  assert.equal(done.metrics['tta'], true, 'the engine ran with TTA');
  assert.ok(trust.uncertainty && trust.uncertainty.median > 0, JSON.stringify(trust));
  const rec = (await tdb.db.jobs.report(done.id, groupId))!;
  const u = (await tdb.db.stacks.get(rec.uncertaintyStackId!, groupId))!;
  assert.deepEqual([u.frames, u.height, u.width, u.dtype, u.name], [1, 192, 192, 'float32', 'tta.em-x4.uncertainty.tif']);
  const map = await storedStack(u.storageKey);
  assert.ok(map.frames[0]!.some((v) => v > 0), 'the orientations disagree somewhere');
  const report = await storedJson(rec.reportKey);
  assert.equal(report.tta, true);
  assert.ok(report.frames[0]!.uncertainty! > 0);
});

test('fluorescence restored with em is flagged out of distribution, with the reason', async () => {
  // HeLa (widefield fluorescence, channel 1), degraded as a 4x undersampled acquisition would give it.
  const { path } = await makeFluoLrStack(dir.path);
  const done = await restore(path, 'hela-lr.tif');
  const trust = parseRestoreTrust(done.metrics['trust'])!;
  assert.equal(trust.flagged, true, trust.verdict ?? '');
  assert.deepEqual(trust.flaggedFrames, [0]);
  assert.match(trust.verdict ?? '', /FLAGGED 1 of 1 frame.*the input may not be the kind of data em was trained on/);
  const stats = await tdb.db.jobs.statistics();
  const row = stats.trust.find((r) => r.model === 'em')!;
  assert.ok(row.flaggedFrames >= 1, `the flagged frame is counted: ${JSON.stringify(stats.trust)}`);
});

test('a restore resampled to the model\'s pixel size (matchPixelSize) succeeds; its report is unavailable and says why', async () => {
  // 5 nm LR pixels: outside em's 18.4-80 nm, so the engine restores a resampled copy.
  const lr = await makeEmStack(dir.path, { frames: 1, lrSize: 48, name: 'fine.tif' });
  const src = await openTiffStack(lr.path);
  const frame = await src.readFrame(0);
  await src.close();
  const path = join(dir.path, 'fine-5nm.tif');
  const sink = await createTiffStackWriter(path, { ...lr.info, pixelSize: { x: 5, y: 5, unit: 'nm' } }, { overwrite: true });
  await sink.writeFrame(frame);
  await sink.commit();
  const done = await restore(path, 'fine-5nm.tif', { matchPixelSize: true });
  const trust = parseRestoreTrust(done.metrics['trust'])!;
  assert.equal(trust.status, 'unavailable');
  assert.match(trust.reason ?? '', /resampled to the model's pixel size \(matchPixelSize\)/);
  assert.equal(await tdb.db.jobs.report(done.id, groupId), null);
  const out = (await tdb.db.stacks.get(done.outputStackId!, groupId))!;
  assert.deepEqual([out.height, out.width], [192, 192], 'the result is still 4x the input');
});

test('a report that fails is contained: logged, partial files removed, the outcome says why', async () => {
  const log = pino({ level: 'silent' });
  const base = { model: em!, input: { frames: 2, height: 16, width: 16, dtype: 'uint8' as const, axis: 'T' as const }, tta: false, inputName: 'in.tif', restoredName: 'out.tif', software: 'test', log };
  // The report folder cannot be created (its parent is missing).
  const unopened = await TrustRecorder.open({ ...base, dir: join(dir.path, 'missing', 'report') });
  await unopened.onFrame({ index: 0, input: new Uint8Array(256), output: new Uint8Array(4096), uncertainty: null });
  const a = await unopened.finish();
  assert.equal(a.status, 'unavailable');
  assert.match(a.status === 'unavailable' ? a.reason : '', /failed while opening the report \(OUTPUT_NOT_WRITABLE: .*\); the restoration itself is complete/);

  // A frame the report cannot take (out of order): the partial report is removed and later frames ignored.
  const work = join(dir.path, 'contained');
  await mkdir(work);
  const recorder = await TrustRecorder.open({ ...base, dir: join(work, 'report') });
  await recorder.onFrame({ index: 1, input: new Uint8Array(256), output: new Uint8Array(4096), uncertainty: null });
  await recorder.onFrame({ index: 0, input: new Uint8Array(256), output: new Uint8Array(4096), uncertainty: null });
  const b = await recorder.finish();
  assert.equal(b.status, 'unavailable');
  assert.match(b.status === 'unavailable' ? b.reason : '', /while assessing frame 2/);
  assert.deepEqual(await readdir(work), [], 'nothing of the report is left');
});
