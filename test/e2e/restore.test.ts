/**
 * End to end over HTTP: upload a real EM stack (ssTEM sections degraded with the PSSR EM recipe), restore it
 * with the bundled `em` model, follow the job's server-sent events to `done`, download the result and check
 * its shape, dtype, pixel size and PSNR gain over bicubic upsampling.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { psnr, upsampleBicubic4 } from '@pssr/core';
import { openTiffStack } from '@pssr/tiff';
import { api, followEvents, startService, type SseEvent, type TestService } from './support/service.js';
import { makeEmStack, type EmTestStack } from './support/stacks.js';

const modelName = 'em';
let svc: TestService;
let auth: { authorization: string; groupId: string };
let stack: EmTestStack;
let result: { frames: Float32Array[]; height: number; width: number; dtype: string } | null = null;

before(async () => {
  svc = await startService('e2e_restore');
  auth = await svc.key('em-lab');
  stack = await makeEmStack(svc.dir, { frames: 2, lrSize: 96, y0: 300, x0: 200 });
});
after(async () => {
  await svc?.close();
});

test('upload an EM stack, restore it with the bundled em model, follow the events, download the result', async () => {
  const up = await fetch(`${svc.base}/v1/stacks?name=vnc-sections-16-17.tif`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: await readFile(stack.path) });
  assert.equal(up.status, 201, await up.clone().text());
  const uploaded = (await up.json()) as { id: string; frames: number; height: number; width: number; dtype: string; sha256: string };
  assert.deepEqual([uploaded.frames, uploaded.height, uploaded.width, uploaded.dtype], [2, 96, 96, 'uint8']);

  const models = await api(svc.base, auth, 'GET', '/v1/models');
  assert.ok(models.json.items.some((m: { name: string }) => m.name === modelName), `model ${modelName} is listed`);

  const submit = await api(svc.base, auth, 'POST', '/v1/jobs', { type: 'restore', stackId: uploaded.id, model: modelName }, { 'idempotency-key': `restore-${uploaded.id}` });
  assert.equal(submit.status, 202, JSON.stringify(submit.json));
  const jobId = submit.json.id as string;

  const events: SseEvent[] = await followEvents(svc.base, auth, jobId);
  const names = events.map((e) => e.event);
  assert.equal(names[0], 'status');
  assert.equal(names.at(-1), 'done');
  const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
  assert.equal(statuses.at(-1), 'succeeded', JSON.stringify(events.at(-1)));
  const done = events.at(-1)!.data;
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.progress, 1);
  for (const k of ['tiles', 'megapixelsPerSecond', 'provider', 'batchSize', 'model', 'inputSha256', 'outputSha256', 'workerHost', 'timings']) {
    assert.ok(done.metrics[k] !== undefined, `metrics.${k}`);
  }
  assert.equal(done.metrics.inputSha256, uploaded.sha256);
  assert.equal(done.metrics.model.name, modelName);

  const job = await api(svc.base, auth, 'GET', `/v1/jobs/${jobId}`);
  assert.equal(job.json.outputStackId, done.outputStackId);
  const out = await api(svc.base, auth, 'GET', `/v1/stacks/${done.outputStackId}`);
  assert.deepEqual([out.json.frames, out.json.height, out.json.width, out.json.dtype, out.json.status], [2, 384, 384, 'uint8', 'ready']);
  assert.equal(out.json.sha256, done.metrics.outputSha256);

  // fetch follows the redirect to the presigned S3 URL.
  const data = await fetch(`${svc.base}/v1/stacks/${done.outputStackId}/data`, { headers: auth });
  assert.equal(data.status, 200);
  const path = join(svc.dir, 'restored.tif');
  await writeFile(path, Buffer.from(await data.arrayBuffer()));
  const reader = await openTiffStack(path);
  try {
    assert.deepEqual([reader.info.frames, reader.info.height, reader.info.width, reader.info.dtype], [2, 384, 384, 'uint8']);
    // The upload says 18.4 nm per LR pixel: the result is 4x finer.
    assert.deepEqual(reader.info.pixelSize && [reader.info.pixelSize.unit, Math.round(reader.info.pixelSize.x * 1e6) / 1e6, Math.round(reader.info.pixelSize.y * 1e6) / 1e6], ['nm', 4.6, 4.6]);
    const frames: Float32Array[] = [];
    for (let f = 0; f < 2; f++) frames.push(Float32Array.from(await reader.readFrame(f)));
    result = { frames, height: 384, width: 384, dtype: reader.info.dtype };
  } finally {
    await reader.close();
  }

  const metrics = await fetch(`${svc.base}/metrics`).then((r) => r.text());
  assert.match(metrics, /pssr_jobs_finished_total\{type="restore",status="succeeded"\} 1/);
  assert.match(metrics, /pssr_restore_megapixels_per_second_count\{provider="cpu"\} 1/);
});

test('the em model restores better than bicubic upsampling (PSNR against the HR sections)', () => {
  assert.ok(result, 'the restore test produced a result');
  let model = 0;
  let bicubic = 0;
  for (let f = 0; f < 2; f++) {
    const hr = stack.hr[f]!;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of hr) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const range = hi - lo;
    model += psnr(hr, result.frames[f]!, range) / 2;
    const up = upsampleBicubic4(stack.lr[f]!, stack.lrSize, stack.lrSize);
    const clipped = up.map((v) => Math.min(255, Math.max(0, Math.round(v))));
    bicubic += psnr(hr, clipped, range) / 2;
  }
  console.log(`# PSNR em ${model.toFixed(2)} dB, bicubic ${bicubic.toFixed(2)} dB`);
  assert.ok(model > bicubic + 0.1, `em ${model.toFixed(2)} dB vs bicubic ${bicubic.toFixed(2)} dB`);
});
