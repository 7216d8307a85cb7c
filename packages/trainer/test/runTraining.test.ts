/**
 * runTraining end to end: the real Python trainer (tiny network, a few steps) on synthetic HR images, then
 * the trained folder goes through the model-card validator, onnxruntime (export check) and the restore
 * engine. Also: bad input -> TRAIN_BAD_INPUT, abort -> CANCELED, missing interpreter -> TRAIN_FAILED.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPssrError } from '@pssr/core';
import { createTiffStackWriter } from '@pssr/tiff';
import { loadModelDir } from '@pssr/models';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine, verifyExport } from '@pssr/inference';
import { runTraining } from '../src/index.js';
import type { TrainEvent } from '../src/index.js';

let dir = '';

/** Cells-like frame: rings and discs on a dim background, plus a gentle wave (structure to learn). */
function synthetic(h: number, w: number, seed: number): Uint16Array {
  let s = seed * 9301 + 49297;
  const rand = (): number => ((s = (s * 9301 + 49297) % 233280) / 233280);
  const out = new Uint16Array(h * w);
  const blobs = Array.from({ length: 10 }, () => ({ y: rand() * h, x: rand() * w, r: 6 + rand() * 12 }));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 200 + 300 * Math.sin(x / 9) * Math.cos(y / 13);
      for (const b of blobs) {
        const d = Math.hypot(y - b.y, x - b.x);
        v += 2500 * Math.exp(-((d - b.r) ** 2) / 4) + (d < b.r ? 800 : 0);
      }
      out[y * w + x] = Math.max(0, Math.min(65535, Math.round(v)));
    }
  }
  return out;
}

async function writeImage(path: string, h: number, w: number, seed: number): Promise<void> {
  const sink = await createTiffStackWriter(path, { frames: 1, height: h, width: w, dtype: 'uint16', axis: 'T' });
  await sink.writeFrame(synthetic(h, w, seed));
  await sink.commit();
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pssr-trainer-test-'));
  await mkdir(join(dir, 'hr'));
  await mkdir(join(dir, 'val'));
  await mkdir(join(dir, 'empty'));
  for (let i = 0; i < 3; i++) await writeImage(join(dir, 'hr', `img${i}.tif`), 160, 176, i + 1);
  await writeImage(join(dir, 'val', 'v.tif'), 128, 128, 42);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('runTraining trains a tiny model whose ONNX export verifies and restores', async () => {
  const events: TrainEvent[] = [];
  const out = join(dir, 'model');
  const { out: outDir, card } = await runTraining(
    { data: [join(dir, 'hr')], valData: [join(dir, 'val')], modality: 'fluo', frames: 1, out, steps: 30,
      width: 8, depth: 1, tile: 16, batch: 8, lr: 0.003, threads: 2, seed: 3, name: 'tiny', validations: 2 },
    { onEvent: (e) => events.push(e) },
  );
  assert.equal(outDir, out);
  assert.equal(events[0]?.event, 'start');
  assert.ok(events.some((e) => e.event === 'progress' && typeof e['loss'] === 'number' && typeof e['eta'] === 'number'));
  assert.ok(events.some((e) => e.event === 'validation' && e['final'] === true && typeof e['bicubicPsnr'] === 'number'));
  assert.equal(events.at(-1)?.event, 'done');
  assert.equal(card.name, 'tiny');
  assert.equal(card.training.steps, 30);
  assert.equal(card.modality, 'fluorescence');
  assert.ok(card.validation && Number.isFinite(card.validation.psnr.model) && Number.isFinite(card.validation.psnr.bicubic));
  assert.ok((await stat(join(out, 'weights.pt'))).size > 0);

  // the card passes the engine's validator (sha256 of model.onnx included) and the export runs the same in onnxruntime
  const bundle = await loadModelDir(out);
  assert.equal(bundle.card.sha256, card.sha256);
  const check = await verifyExport(out);
  assert.ok(check.maxAbsDiff < 1e-4, `maxAbsDiff ${check.maxAbsDiff}`);

  // and the engine restores a 2-frame LR stack with it, 4x per axis, tiled with the card's halo
  const lr = [synthetic(40, 48, 5).map((v) => Math.round(v / 2)), synthetic(40, 48, 6)];
  const source = MemoryFrameSource.fromFrames({ height: 40, width: 48, dtype: 'uint16', axis: 'T' }, lr);
  const engine = await RestoreEngine.load(bundle, { device: 'cpu' });
  const sink = new MemoryFrameSink(engine.outputInfo(source.info));
  const timing = await engine.restore(source, sink);
  await sink.commit();
  assert.equal(timing.frames, 2);
  assert.equal(sink.frames.length, 2);
  const first = sink.frames[0]!;
  assert.equal(first.length, 160 * 192);
  let min = Infinity;
  let max = -Infinity;
  for (const v of first) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.ok(max - min > 500, `restored frame has structure (range ${min}..${max})`);
});

test('bad training input is TRAIN_BAD_INPUT with the trainer message', async () => {
  await assert.rejects(
    runTraining({ data: [join(dir, 'empty')], modality: 'em', frames: 1, out: join(dir, 'x'), steps: 1 }),
    (err: unknown) => isPssrError(err) && err.code === 'TRAIN_BAD_INPUT' && err.message.includes('no TIFF images'),
  );
  await assert.rejects(
    runTraining({ data: [join(dir, 'val', 'v.tif')], modality: 'em', frames: 5, out: join(dir, 'x'), steps: 1, tile: 16 }),
    (err: unknown) => isPssrError(err) && err.code === 'TRAIN_BAD_INPUT' && err.message.includes('at least 3 frames'),
  );
});

test('aborting a run kills the trainer and rejects with CANCELED', async () => {
  const ac = new AbortController();
  const run = runTraining(
    { data: [join(dir, 'hr')], valFraction: 0, modality: 'fluo', frames: 1, out: join(dir, 'aborted'), steps: 100000,
      width: 8, depth: 1, tile: 16, batch: 4, threads: 1 },
    { signal: ac.signal, onEvent: (e) => { if (e.event === 'progress') ac.abort(); } },
  );
  await assert.rejects(run, (err: unknown) => isPssrError(err) && err.code === 'CANCELED');
  await assert.rejects(stat(join(dir, 'aborted', 'model.onnx')));
});

test('a missing Python interpreter is TRAIN_FAILED', async () => {
  await assert.rejects(
    runTraining({ data: [join(dir, 'hr')], modality: 'em', frames: 1, out: join(dir, 'y'), steps: 1 }, { python: join(dir, 'no-python') }),
    (err: unknown) => isPssrError(err) && err.code === 'TRAIN_FAILED' && err.message.includes('PSSR_PYTHON'),
  );
});
