/**
 * End to end: a small CPU train job on HR EM crops registers a model version owned by the group, its trust
 * statistics calibrated on the held-out stack; a restore job then uses it by name and gets calibrated flags;
 * another group cannot see it. Also: canceling a running restore through the API.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackInfo } from '@pssr/core';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';
import { api, followEvents, startService, type TestService } from './support/service.js';
import { EM_DIR, makeEmStack, makePatternStack } from './support/stacks.js';

let svc: TestService;
let lab: { authorization: string; groupId: string };
let other: { authorization: string; groupId: string };

before(async () => {
  svc = await startService('e2e_train');
  lab = await svc.key('train-lab');
  other = await svc.key('other-lab');
});
after(async () => {
  await svc?.close();
});

/** Uploads an HR crop (uint8) of one ssTEM section as a stack. */
async function uploadHr(section: number, size = 256): Promise<string> {
  const src = await openTiffStack(join(EM_DIR, `stack1_${String(section).padStart(2, '0')}.tif`));
  const full = await src.readFrame(0);
  const w = src.info.width;
  await src.close();
  const crop = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) crop[y * size + x] = full[(100 + y) * w + 100 + x]!;
  const info: StackInfo = { frames: 1, height: size, width: size, dtype: 'uint8', axis: 'Z' };
  const path = join(svc.dir, `hr-${section}.tif`);
  const sink = await createTiffStackWriter(path, info, { overwrite: true });
  await sink.writeFrame(crop);
  await sink.commit();
  const res = await fetch(`${svc.base}/v1/stacks?name=hr-${section}.tif`, { method: 'POST', headers: { ...lab, 'content-type': 'image/tiff' }, body: await readFile(path) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

test('a small CPU train job registers a model version that a restore job then uses by name', async () => {
  const stackIds = [await uploadHr(0), await uploadHr(1)];
  const submit = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'train', stackIds, name: 'vnc-quick', modality: 'em', steps: 12, valFraction: 0.5, seed: 1 });
  assert.equal(submit.status, 202, JSON.stringify(submit.json));
  const jobId = submit.json.id as string;
  let sawProgress = false;
  const events = await followEvents(svc.base, lab, jobId, (e) => {
    if (e.event === 'progress' && e.data.progress > 0 && e.data.progress < 1) sawProgress = true;
  }, 300_000);
  const done = events.at(-1)!.data;
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.ok(sawProgress, 'progress events while training');
  assert.ok(done.trainedModelId);
  assert.equal(done.metrics.model.name, 'vnc-quick');
  assert.equal(done.metrics.model.version, '1');
  assert.ok(done.metrics.export.maxAbsDiff <= done.metrics.export.tolerance);
  assert.ok(done.metrics.validation, 'validation metrics recorded');
  // valFraction 0.5 holds out the bottom half of each single-image stack: 2 strips x 3 noise seeds.
  assert.equal(done.metrics.calibration.frames, 6);
  assert.ok(done.metrics.timings.calibrateSeconds > 0);

  const points = await api(svc.base, lab, 'GET', `/v1/jobs/${jobId}/points?name=loss`);
  assert.ok(points.json.items.length >= 1, 'loss curve recorded');
  assert.ok(points.json.items.every((p: { name: string; value: number }) => p.name === 'loss' && Number.isFinite(p.value)));

  const model = await api(svc.base, lab, 'GET', '/v1/models/vnc-quick');
  assert.equal(model.status, 200);
  assert.equal(model.json.versions[0].id, done.trainedModelId);
  assert.equal(model.json.versions[0].public, false);
  assert.equal(model.json.versions[0].card.modality, 'em');
  const calibration = model.json.versions[0].card.calibration;
  assert.equal(calibration.frames, 6);
  assert.match(calibration.data, /restored with TTA/);
  assert.ok(calibration.rse.p95 > 0 && calibration.uncertainty.p95 > 0, JSON.stringify(calibration));
  assert.equal((await api(svc.base, other, 'GET', '/v1/models/vnc-quick')).status, 404, 'private to the group');

  const lr = await makeEmStack(svc.dir, { frames: 1, lrSize: 48, name: 'lr-for-trained.tif' });
  const up = await fetch(`${svc.base}/v1/stacks`, { method: 'POST', headers: { ...lab, 'content-type': 'image/tiff' }, body: await readFile(lr.path) });
  const stackId = ((await up.json()) as { id: string }).id;
  const restore = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId, model: 'vnc-quick' });
  assert.equal(restore.status, 202, JSON.stringify(restore.json));
  assert.equal(restore.json.modelId, done.trainedModelId);
  const restored = (await followEvents(svc.base, lab, restore.json.id)).at(-1)!.data;
  assert.equal(restored.status, 'succeeded', JSON.stringify(restored.error));
  assert.equal(restored.metrics.model.name, 'vnc-quick');
  const report = await api(svc.base, lab, 'GET', restored.trust.report);
  assert.match(report.json.thresholds.source, /^vnc-quick card calibration \(6 frames/, 'flags come from the new calibration');
  const out = await api(svc.base, lab, 'GET', `/v1/stacks/${restored.outputStackId}`);
  assert.deepEqual([out.json.height, out.json.width], [192, 192]);
});

test('DELETE on a running restore stops it within seconds; the events end with done: canceled; no result', async () => {
  const path = join(svc.dir, 'long.tif');
  await makePatternStack(path, 32, 128, 128);
  const up = await fetch(`${svc.base}/v1/stacks?name=long.tif`, { method: 'POST', headers: { ...lab, 'content-type': 'image/tiff' }, body: await readFile(path) });
  const stackId = ((await up.json()) as { id: string }).id;
  // Tiny tiles, one per batch, with the bundled em model: many steps, so it is still running when canceled.
  const submit = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId, model: 'em', options: { tileSize: 80, batchSize: 1 } });
  assert.equal(submit.status, 202, JSON.stringify(submit.json));
  const jobId = submit.json.id as string;
  const cancel: { request: Promise<{ status: number; json: any }> | null; at: number } = { request: null, at: 0 };
  const events = await followEvents(svc.base, lab, jobId, (e) => {
    if (!cancel.request && e.event === 'progress' && e.data.progress > 0.03) {
      cancel.at = Date.now();
      cancel.request = api(svc.base, lab, 'DELETE', `/v1/jobs/${jobId}`);
    }
  });
  assert.ok(cancel.request, 'the job made progress before it was canceled');
  assert.equal((await cancel.request).status, 200);
  const done = events.at(-1)!.data;
  assert.equal(done.status, 'canceled');
  assert.equal(done.outputStackId, null);
  assert.ok(done.progress < 1);
  // The worker is free again: a small job runs next.
  const small = join(svc.dir, 'small.tif');
  await makePatternStack(small, 1, 16, 16);
  const up2 = await fetch(`${svc.base}/v1/stacks`, { method: 'POST', headers: { ...lab, 'content-type': 'image/tiff' }, body: await readFile(small) });
  const next = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId: ((await up2.json()) as { id: string }).id, model: 'em' });
  const nextDone = (await followEvents(svc.base, lab, next.json.id)).at(-1)!.data;
  assert.equal(nextDone.status, 'succeeded');
  const job = await svc.tdb.db.jobs.get(jobId);
  assert.equal(job?.status, 'canceled', 'the worker did not overwrite the cancel');
  assert.ok(job!.updatedAt.getTime() - cancel.at < 30_000);
  const results = await svc.tdb.db.stacks.list(lab.groupId);
  assert.deepEqual(results.items.filter((s) => s.name.startsWith('long')).map((s) => s.name), ['long.tif'], 'no result stack of the canceled job');
});
