/** TrustReportWriter: the report folder's files, their shapes and fields, and that failures leave nothing. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadImage } from '@napi-rs/canvas';
import { createRng, downsample4 } from '@pssr/core';
import type { StackInfo } from '@pssr/core';
import { resolveModel } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { REPORT_FILES, TrustReportWriter } from '../src/index.js';
import type { TrustReport } from '../src/index.js';

const h = 24;
const w = 32;
const info: StackInfo = { frames: 3, height: h, width: w, dtype: 'float32', axis: 'T', pixelSize: { x: 18.4, y: 18.4, unit: 'nm' } };
let dir: string;
let em: ModelBundle;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pssr-report-'));
  em = await resolveModel('em');
});
after(() => rm(dir, { recursive: true, force: true }));

/** Frame t: a smooth HR scene, its noisy LR measurement and a made-up uncertainty map. */
function frame(t: number) {
  const rng = createRng(t + 1);
  const hr = new Float32Array(16 * h * w);
  for (let y = 0; y < 4 * h; y++) for (let x = 0; x < 4 * w; x++) hr[y * 4 * w + x] = 100 + 50 * Math.sin((x + 7 * t) / 9) * Math.cos(y / 11);
  const lr = downsample4(hr, 4 * h, 4 * w).data.map((v) => v + rng.normal());
  return { index: t, input: lr, output: hr, uncertainty: hr.map((v) => Math.abs(v - 100) / 50) };
}

async function writeReport(name: string, tta: boolean, overwrite = false): Promise<TrustReport> {
  const writer = await TrustReportWriter.create(join(dir, name), { model: em, input: info, tta, inputName: 'lr.tif', restoredName: 'out.tif', overwrite });
  for (let t = 0; t < info.frames; t++) {
    const f = frame(t);
    await writer.addFrame(tta ? f : { ...f, uncertainty: null });
  }
  return writer.finish();
}

test('a TTA report holds report.json, consistency.tif (LR size), uncertainty.tif (output size) and preview.png', async () => {
  const report = await writeReport('tta', true);
  const folder = join(dir, 'tta');
  assert.deepEqual((await readdir(folder)).sort(), Object.values(REPORT_FILES).sort());
  const json = JSON.parse(await readFile(join(folder, REPORT_FILES.report), 'utf8')) as TrustReport;
  assert.deepEqual(json.summary, report.summary);
  assert.equal(typeof json.summary.flagged, 'boolean');
  assert.equal(json.model.name, 'em');
  assert.equal(json.model.sha256, em.card.sha256);
  assert.equal(json.frames.length, 3);
  json.frames.forEach((f, i) => {
    assert.equal(f.index, i);
    for (const k of ['rse', 'rsp', 'localPeak', 'uncertainty'] as const) assert.equal(typeof f[k], 'number', k);
    assert.ok(f.snr.bilinear !== undefined && f.snr.restored !== undefined);
    assert.ok(Array.isArray(f.flags));
  });
  assert.equal(json.pixelSize.status, 'ok');
  assert.equal(json.files.uncertainty, REPORT_FILES.uncertainty);

  const consistency = await openTiffStack(join(folder, REPORT_FILES.consistency));
  const uncertainty = await openTiffStack(join(folder, REPORT_FILES.uncertainty));
  try {
    assert.deepEqual([consistency.info.frames, consistency.info.height, consistency.info.width, consistency.info.dtype], [3, h, w, 'float32']);
    assert.deepEqual([uncertainty.info.frames, uncertainty.info.height, uncertainty.info.width, uncertainty.info.dtype], [3, 4 * h, 4 * w, 'float32']);
    const u1 = await uncertainty.readFrame(1);
    assert.deepEqual(Array.from(u1.subarray(0, 8)), Array.from(frame(1).uncertainty.subarray(0, 8)));
    // The residual of a noisy measurement of an exact restoration is about the noise (sigma 1).
    const c0 = (await consistency.readFrame(0)) as Float32Array;
    const rms = Math.sqrt(c0.reduce((a, v) => a + v * v, 0) / c0.length);
    assert.ok(rms > 0.5 && rms < 1.5, `residual rms ${rms} for noise sigma 1`);
  } finally {
    await Promise.all([consistency.close(), uncertainty.close()]);
  }
  const png = await loadImage(await readFile(join(folder, REPORT_FILES.preview)));
  assert.ok(png.width >= 4 * 300 && png.height > 300, `preview ${png.width}x${png.height} has four panels`);
});

test('without TTA there is no uncertainty map; overwriting an older TTA report removes its stale map', async () => {
  await writeReport('plain', true);
  const report = await writeReport('plain', false, true);
  assert.equal(report.files.uncertainty, null);
  assert.equal(report.frames[0]!.uncertainty, null);
  assert.deepEqual((await readdir(join(dir, 'plain'))).sort(), [REPORT_FILES.consistency, REPORT_FILES.preview, REPORT_FILES.report].sort());
});

test('a non-empty folder is refused unless overwriting, and nothing is created', async () => {
  const folder = join(dir, 'busy');
  await mkdir(folder);
  await writeFile(join(folder, 'notes.txt'), 'mine');
  await assert.rejects(TrustReportWriter.create(folder, { model: em, input: info, tta: false }), (e: Error & { code?: string }) => e.code === 'OUTPUT_EXISTS' && /not empty/.test(e.message));
  await assert.rejects(TrustReportWriter.create(join(dir, 'no', 'such', 'parent'), { model: em, input: info, tta: false }), (e: Error & { code?: string }) => e.code === 'OUTPUT_NOT_WRITABLE');
  assert.deepEqual(await readdir(folder), ['notes.txt']);
  assert.ok(!(await readdir(dir)).some((n) => n.includes('.partial-')), 'no staging folder left');
});

test('abort (a failed or canceled restore) leaves no report and no staging folder', async () => {
  const writer = await TrustReportWriter.create(join(dir, 'aborted'), { model: em, input: info, tta: false });
  await writer.addFrame({ ...frame(0), uncertainty: null });
  await assert.rejects(writer.addFrame({ ...frame(2), uncertainty: null }), /must come in order/);
  await writer.abort();
  await writer.abort();
  assert.ok(!existsSync(join(dir, 'aborted')));
  assert.ok(!(await readdir(dir)).some((n) => n.includes('.partial-')), 'no staging folder left');
});
