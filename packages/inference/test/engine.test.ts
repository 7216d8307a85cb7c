import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DIHEDRAL_COUNT, PssrError, dihedral, dihedralShape, minMax, planAxis, psnr, resizeImage, ssim, toDType, upsampleBicubic4, upsampleBilinear4 } from '@pssr/core';
import type { FrameArray, StackInfo } from '@pssr/core';
import { resolveModel } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine, verifyExport } from '../src/index.js';
import { buildFixtures, lcg, maxAbsDiff, testImage, withCard } from './fixtures.js';
import type { Fixtures } from './fixtures.js';

// Inputs restored whole by PyTorch in make_model.py (reflect-padded by the halo), for comparison.
const H = 70;
const W = 90;
const single = testImage(H, W, 1);
const multiFrames = [2, 3, 4, 5, 6].map((s) => testImage(H, W, s));

let fx: Fixtures;
let singleModel: ModelBundle;
let multiModel: ModelBundle;

before(() => {
  fx = buildFixtures([
    { kind: 'single', name: 'single', frames: [single], height: H, width: W },
    { kind: 'multi', name: 'multi', frames: multiFrames, height: H, width: W },
  ]);
});
before(async () => {
  singleModel = await resolveModel(fx.single);
  multiModel = await resolveModel(fx.multi);
});
after(() => fx.cleanup());

const floatInfo = (height: number, width: number): Omit<StackInfo, 'frames'> => ({ height, width, dtype: 'float32', axis: 'T' });

async function restoreFrames(model: ModelBundle, frames: FrameArray[], info: Omit<StackInfo, 'frames'>, opts: { tileSize?: number; batchSize?: number } = {}) {
  const engine = await RestoreEngine.load(model, { device: 'cpu' });
  const source = MemoryFrameSource.fromFrames(info, frames);
  const sink = new MemoryFrameSink(engine.outputInfo(source.info));
  const timing = await engine.restore(source, sink, opts);
  await sink.commit();
  return { frames: sink.frames, timing };
}

// float32 output of the fixtures is the network output itself (range normalisation 0..1); onnxruntime and
// PyTorch agree to ~1e-6 and blending adds float32 rounding, so 1e-4 on values of order 1 is a tight bound.
const WHOLE_VS_TILED_BOUND = 1e-4;

test('tiled restore equals the whole-frame PyTorch result (single-frame model, several tile sizes)', async () => {
  const reference = fx.references.get('single')!;
  for (const tileSize of [24, 32, 48, 112]) {
    const { frames, timing } = await restoreFrames(singleModel, [single], floatInfo(H, W), { tileSize });
    const diff = maxAbsDiff(frames[0]!, reference);
    assert.ok(diff < WHOLE_VS_TILED_BOUND, `tile ${tileSize} (${timing.tilesPerFrame} tiles): max abs diff ${diff}`);
    if (tileSize === 24) assert.ok(timing.tilesPerFrame > 20, 'small tiles really tile the frame');
  }
});

test('tiled restore equals the whole-frame PyTorch result (5-frame model, centre frame)', async () => {
  // Output frame 2 of a 5-frame stack sees exactly frames 0..4, as the PyTorch reference did.
  const { frames } = await restoreFrames(multiModel, multiFrames, floatInfo(H, W), { tileSize: 24 });
  assert.equal(frames.length, 5);
  const diff = maxAbsDiff(frames[2]!, fx.references.get('multi')!);
  assert.ok(diff < WHOLE_VS_TILED_BOUND, `max abs diff ${diff}`);
});

/** Mean |difference| between neighbouring HR columns, per column. */
function columnSteps(img: Float32Array, height: number, width: number): Float64Array {
  const steps = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    for (let x = 1; x < width; x++) steps[x]! += Math.abs(img[y * width + x]! - img[y * width + x - 1]!) / height;
  }
  return steps;
}

/**
 * Seam score of a restored horizontal gradient. The fixture network has an 8-pixel output pattern
 * (PixelShuffle x4 and a stride-2 level) that changes only slowly along a smooth ramp, so each column step
 * is close to the mean of the steps 8 columns left and right of it. Returns the largest deviation from that
 * mean at columns inside `seams` (HR column ranges) and at columns at least `clearance` away from them,
 * relative to the mean step (columns within the receptive field of the image's own edges are left out).
 */
function seamScores(img: Float32Array, height: number, width: number, seams: [number, number][], clearance: number) {
  const steps = columnSteps(img, height, width);
  const margin = 4 * 10; // the fixture's receptive field (7 LR px) plus room
  const columns = Array.from({ length: width - 2 * margin }, (_, i) => i + margin);
  const meanStep = columns.reduce((a, x) => a + steps[x]!, 0) / columns.length;
  let seam = 0;
  let interior = 0;
  for (const x of columns) {
    const dev = Math.abs(steps[x]! - (steps[x - 8]! + steps[x + 8]!) / 2) / meanStep;
    if (seams.some(([a, b]) => x >= a && x <= b)) seam = Math.max(seam, dev);
    else if (seams.every(([a, b]) => x < a - clearance || x > b + clearance)) interior = Math.max(interior, dev);
  }
  return { seam, interior };
}

test('a smooth gradient restored with small tiles shows no seam; naive stitching would', async () => {
  const h = 40;
  const w = 160;
  const ramp = (width: number, x0: number) => Float32Array.from({ length: h * width }, (_, i) => 0.1 + 0.7 * ((x0 + (i % width)) / w) + 0.1 * (Math.floor(i / width) / h));
  const gradient = ramp(w, 0);
  const tiled = (await restoreFrames(singleModel, [gradient], floatInfo(h, w), { tileSize: 32 })).frames[0] as Float32Array;
  const whole = (await restoreFrames(singleModel, [gradient], floatInfo(h, w), { tileSize: 192 })).frames[0] as Float32Array;
  assert.ok(maxAbsDiff(tiled, whole) < WHOLE_VS_TILED_BOUND);
  // the blended overlaps of the engine's tiling (HR columns)
  const plan = planAxis(w, { size: 32, halo: 8, multiple: 2 });
  const overlaps: [number, number][] = plan.starts.slice(1).map((s, k) => [4 * (s + 8) - 2, 4 * (plan.starts[k]! + 8 + plan.core) + 2]);
  assert.ok(overlaps.length >= 5);
  const good = seamScores(tiled, 4 * h, 4 * w, overlaps, 0);
  // Border columns deviate no more than interior ones (measured: 2.9e-4 vs 3.3e-4 of a step, the network's
  // own slow pattern drift); naive stitching below deviates ~50x more at its seams than in its interior.
  assert.ok(good.seam <= 2 * good.interior + 1e-4, `tiled: ${JSON.stringify(good)}`);

  // Control: restoring four 40-pixel strips separately and pasting them (no halo, no blending) leaves seams
  // that the same statistic sees.
  const pieces = [];
  for (let x0 = 0; x0 < w; x0 += 40) pieces.push((await restoreFrames(singleModel, [ramp(40, x0)], floatInfo(h, 40))).frames[0] as Float32Array);
  const pasted = new Float32Array(16 * h * w);
  for (let y = 0; y < 4 * h; y++) pieces.forEach((p, k) => pasted.set(p.subarray(y * 160, (y + 1) * 160), y * 4 * w + k * 160));
  const naive = seamScores(pasted, 4 * h, 4 * w, [[152, 168], [312, 328], [472, 488]], 40);
  assert.ok(naive.seam > 10 * naive.interior, `naive stitching must be detectable: ${JSON.stringify(naive)}`);
});

test('N frames in give N frames out in the input dtype, 4x the size, with pixel size / 4', async () => {
  const dir = withCard(fx.single, join(fx.dir, 'percentile'), (card) => {
    card.normalization = { mode: 'percentile', low: 0.1, high: 99.9 };
  });
  const model = await resolveModel(dir);
  const engine = await RestoreEngine.load(model, { device: 'cpu' });
  const rnd = lcg(9);
  for (const dtype of ['uint8', 'uint16', 'float32'] as const) {
    const max = dtype === 'uint8' ? 255 : dtype === 'uint16' ? 4095 : 1;
    const frames = [0, 1, 2, 3, 4, 5, 6].map((s) => {
      const img = testImage(20, 28, s + 10);
      const out = dtype === 'uint8' ? new Uint8Array(img.length) : dtype === 'uint16' ? new Uint16Array(img.length) : new Float32Array(img.length);
      for (let i = 0; i < img.length; i++) out[i] = dtype === 'float32' ? img[i]! : Math.round(img[i]! * max * (0.9 + 0.1 * rnd()));
      return out;
    });
    const source = MemoryFrameSource.fromFrames({ height: 20, width: 28, dtype, axis: 'Z', pixelSize: { x: 40, y: 40, unit: 'nm' } }, frames);
    const info = engine.outputInfo(source.info);
    assert.deepEqual(info, { frames: 7, height: 80, width: 112, dtype, axis: 'Z', pixelSize: { x: 10, y: 10, unit: 'nm' } });
    const sink = new MemoryFrameSink(info);
    const timing = await engine.restore(source, sink);
    assert.equal(sink.frames.length, 7);
    for (const f of sink.frames) {
      assert.equal(f.length, 80 * 112);
      assert.equal(f.constructor, frames[0]!.constructor);
    }
    // denormalised back to the input's intensity scale: the restored mean tracks the input mean
    const mean = (a: ArrayLike<number>) => {
      let sum = 0;
      for (let i = 0; i < a.length; i++) sum += a[i]!;
      return sum / a.length;
    };
    assert.ok(Math.abs(mean(sink.frames[3]!) - mean(frames[3]!)) < 0.1 * max, `${dtype} mean`);
    assert.equal(timing.frames, 7);
    assert.ok(Math.abs(timing.outputMegapixels - (7 * 80 * 112) / 1e6) < 1e-12);
  }
});

test('batches span frames: tiny frames are restored several per session run', async () => {
  const frames = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => testImage(12, 12, s));
  const { frames: out, timing } = await restoreFrames(singleModel, frames, floatInfo(12, 12), { batchSize: 4 });
  assert.equal(timing.tilesPerFrame, 1);
  assert.equal(timing.batchSize, 4);
  assert.equal(out.length, 10);
  // each frame restored alone gives the same result as inside a mixed batch
  for (const k of [0, 5, 9]) {
    const alone = (await restoreFrames(singleModel, [frames[k]!], floatInfo(12, 12))).frames[0]!;
    assert.ok(maxAbsDiff(out[k]!, alone) < 1e-5);
  }
});

test('5-frame model: stack ends are mirrored (t-2..t+2 -> frames 2,1,0,1,2 for t = 0), N in -> N out', async () => {
  const [f0, f1, f2] = multiFrames as [Float32Array, Float32Array, Float32Array];
  const { frames: three } = await restoreFrames(multiModel, [f0, f1, f2], floatInfo(H, W));
  assert.equal(three.length, 3);
  const { frames: mirroredStart } = await restoreFrames(multiModel, [f2, f1, f0, f1, f2], floatInfo(H, W));
  assert.ok(maxAbsDiff(three[0]!, mirroredStart[2]!) < 1e-6, 'frame 0 = centre of 2,1,0,1,2');
  const { frames: mirroredEnd } = await restoreFrames(multiModel, [f0, f1, f2, f1, f0], floatInfo(H, W));
  assert.ok(maxAbsDiff(three[2]!, mirroredEnd[2]!) < 1e-6, 'frame 2 = centre of 0,1,2,1,0');
  // and it differs from a single-frame reading (the other frames matter)
  const { frames: still } = await restoreFrames(multiModel, [f0, f0, f0, f0, f0], floatInfo(H, W));
  assert.ok(maxAbsDiff(three[0]!, still[2]!) > 1e-3);
  // a one-frame stack still restores to one frame
  const { frames: one } = await restoreFrames(multiModel, [f0], floatInfo(H, W));
  assert.equal(one.length, 1);
  assert.ok(maxAbsDiff(one[0]!, still[2]!) < 1e-6);
});

test('memory stays bounded: frames are read just ahead of the frames written', async () => {
  const engine = await RestoreEngine.load(multiModel, { device: 'cpu' });
  const n = 30;
  let maxAhead = 0;
  let written = 0;
  const reads = new Map<number, number>();
  const source = new MemoryFrameSource({ frames: n, height: 30, width: 30, dtype: 'float32', axis: 'T' }, (i) => {
    reads.set(i, (reads.get(i) ?? 0) + 1);
    maxAhead = Math.max(maxAhead, i - written);
    return testImage(30, 30, i);
  });
  const sink = new MemoryFrameSink(engine.outputInfo(source.info), () => {
    written++;
  });
  await engine.restore(source, sink, { batchSize: 2 });
  assert.equal(written, n);
  // a 5-frame window reaches 2 ahead; the pipeline prepares one batch ahead; nothing near the whole stack
  assert.ok(maxAhead <= 5, `read ${maxAhead} frames ahead of the writer`);
  // each frame is decoded once (kept while its window needs it)
  assert.ok([...reads.values()].every((c) => c === 1), JSON.stringify([...reads]));
});

test('an AbortSignal cancels between batches with CANCELED; the engine stays usable', async () => {
  const engine = await RestoreEngine.load(singleModel, { device: 'cpu' });
  const frames = [0, 1, 2, 3, 4, 5].map((s) => testImage(40, 40, s));
  const source = MemoryFrameSource.fromFrames(floatInfo(40, 40), frames);
  const sink = new MemoryFrameSink(engine.outputInfo(source.info));
  const controller = new AbortController();
  let progressCalls = 0;
  await assert.rejects(
    engine.restore(source, sink, {
      batchSize: 2,
      signal: controller.signal,
      onProgress: (p) => {
        progressCalls++;
        assert.ok(p.tilesDone <= p.tilesTotal && p.framesTotal === 6);
        if (p.tilesDone >= 2) controller.abort();
      },
    }),
    (err: unknown) => err instanceof PssrError && err.code === 'CANCELED',
  );
  assert.ok(progressCalls >= 1);
  assert.ok(sink.frames.length < 6, 'stopped before the end');
  const { frames: again } = await restoreFrames(singleModel, frames, floatInfo(40, 40));
  assert.equal(again.length, 6);
});

test('unload frees a model\'s session: the old engine can no longer run, a new load restores the same pixels', async () => {
  const frames = [testImage(40, 40, 7)];
  const before = await restoreFrames(singleModel, frames, floatInfo(40, 40));
  const old = await RestoreEngine.load(singleModel, { device: 'cpu' });
  await RestoreEngine.unload(singleModel);
  const source = MemoryFrameSource.fromFrames(floatInfo(40, 40), frames);
  await assert.rejects(old.restore(source, new MemoryFrameSink(old.outputInfo(source.info))), /no session for/);
  const fresh = await RestoreEngine.load(singleModel, { device: 'cpu' });
  assert.notEqual(fresh, old, 'a new engine');
  const after = await restoreFrames(singleModel, frames, floatInfo(40, 40));
  assert.deepEqual(after.frames, before.frames);
});

test('progress reports tiles, frames, throughput and an ETA', async () => {
  const engine = await RestoreEngine.load(singleModel, { device: 'cpu' });
  const source = MemoryFrameSource.fromFrames(floatInfo(40, 40), [testImage(40, 40, 1), testImage(40, 40, 2)]);
  const seen: number[] = [];
  let last;
  await engine.restore(source, new MemoryFrameSink(engine.outputInfo(source.info)), {
    batchSize: 3,
    onProgress: (p) => {
      seen.push(p.tilesDone);
      last = p;
    },
  });
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.ok(last);
  const p = last as unknown as { tilesDone: number; tilesTotal: number; framesDone: number; etaSeconds: number; megapixelsPerSecond: number };
  assert.equal(p.tilesDone, p.tilesTotal);
  assert.equal(p.framesDone, 2);
  assert.equal(p.etaSeconds, 0);
  assert.ok(p.megapixelsPerSecond > 0);
});

test('timing separates session time from the whole restore', async () => {
  const { timing } = await restoreFrames(singleModel, [testImage(64, 64, 3)], floatInfo(64, 64));
  assert.equal(timing.provider, 'cpu');
  assert.ok(timing.sessionSeconds > 0 && timing.sessionSeconds <= timing.seconds);
  assert.ok(Math.abs(timing.megapixelsPerSecond - timing.outputMegapixels / timing.seconds) < 1e-9);
});

test('session.run happens off the main thread: the event loop keeps turning during a run', async () => {
  const engine = await RestoreEngine.load(singleModel, { device: 'cpu' });
  let turns = 0;
  let spinning = true;
  const spin = () => {
    turns++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  // one large batch: onnxruntime-node's own run() would block this thread for all of it
  const { output } = await engine.runBatch(new Float32Array(8 * 256 * 256).fill(0.5), 8, 256, 256);
  spinning = false;
  assert.equal(output.length, 8 * 1024 * 1024);
  assert.ok(turns > 20, `the event loop turned ${turns} times during the run`);
});

test('devices: cuda without the CUDA provider is DEVICE_UNAVAILABLE; auto falls back to cpu and says so', async () => {
  const auto = await RestoreEngine.load(singleModel, { device: 'auto' });
  assert.ok(auto.provider === 'cpu' || auto.provider === 'cuda');
  if (auto.provider === 'cpu') {
    assert.ok(auto.cudaUnavailableReason);
    await assert.rejects(RestoreEngine.load(singleModel, { device: 'cuda' }), (err: unknown) => err instanceof PssrError && err.code === 'DEVICE_UNAVAILABLE' && /--device/.test(err.message));
  }
  await assert.rejects(RestoreEngine.load(singleModel, { device: 'tpu' as 'cpu' }), /Unknown device/);
});

test('one engine (one session) per model and device', async () => {
  const a = await RestoreEngine.load(singleModel, { device: 'cpu' });
  const b = await RestoreEngine.load(await resolveModel(fx.single), { device: 'cpu' });
  assert.equal(a, b);
});

test('a card whose inputFrames contradicts the ONNX input is refused', async () => {
  const dir = withCard(fx.single, join(fx.dir, 'wrong-frames'), (card) => {
    card.inputFrames = 5;
  });
  await assert.rejects(RestoreEngine.load(await resolveModel(dir), { device: 'cpu' }), (err: unknown) => err instanceof PssrError && err.code === 'MODEL_CARD_INVALID' && /inputFrames 5/.test(err.message));
});

test('bad options are user errors', async () => {
  const engine = await RestoreEngine.load(singleModel, { device: 'cpu' });
  const source = MemoryFrameSource.fromFrames(floatInfo(20, 20), [testImage(20, 20, 1)]);
  const sink = new MemoryFrameSink(engine.outputInfo(source.info));
  await assert.rejects(engine.restore(source, sink, { tileSize: 20 }), (e: unknown) => e instanceof PssrError && e.code === 'INVALID_ARGUMENT' && /--tile/.test(e.message));
  await assert.rejects(engine.restore(source, sink, { batchSize: 0 }), (e: unknown) => e instanceof PssrError && e.code === 'INVALID_ARGUMENT');
  const short = new MemoryFrameSource({ frames: 1, height: 20, width: 20, dtype: 'float32', axis: 'T' }, () => new Float32Array(19 * 20));
  await assert.rejects(engine.restore(short, sink), (e: unknown) => e instanceof PssrError && e.code === 'FRAME_SIZE_MISMATCH');
});

test('verifyExport runs export-check.json through onnxruntime and reports the max abs difference', async () => {
  for (const dir of [fx.single, fx.multi]) {
    const { maxAbsDiff: d, tolerance, values } = await verifyExport(dir);
    assert.ok(d < 1e-5, `${dir}: ${d}`);
    assert.equal(tolerance, 1e-3);
    assert.equal(values, 2 * 96 * 80);
  }
  // an export that does not compute what PyTorch computed is caught
  const other = withCard(fx.single, join(fx.dir, 'swapped'), () => {});
  const { copyFileSync } = await import('node:fs');
  copyFileSync(join(fx.multi, 'export-check.json'), join(other, 'export-check.json'));
  await assert.rejects(verifyExport(other), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID');
  await assert.rejects(verifyExport(join(fx.dir, 'nowhere')), /Cannot read the export check/);
});

const sample = (name: string) => fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url));

test('the bundled em model beats bicubic and bilinear on the degraded EM sample (held-out sections)', async () => {
  // examples/em-lr.tif: sections 16-18 of the ssTEM stack (never trained on by the em model) degraded with
  // the paper's EM recipe; examples/em-hr.tif: the originals.
  const engine = await RestoreEngine.load(await resolveModel('em'), { device: 'cpu' });
  const lr = await openTiffStack(sample('em-lr.tif'));
  const hr = await openTiffStack(sample('em-hr.tif'));
  const sink = new MemoryFrameSink(engine.outputInfo(lr.info));
  await engine.restore(lr, sink);
  const { height: h, width: w } = lr.info;
  const score = { model: { psnr: 0, ssim: 0 }, bicubic: { psnr: 0, ssim: 0 }, bilinear: { psnr: 0, ssim: 0 } };
  for (let t = 0; t < lr.info.frames; t++) {
    const ref = await hr.readFrame(t);
    const { min, max } = minMax(ref);
    const low = Float32Array.from(await lr.readFrame(t));
    const images = { model: sink.frames[t]!, bicubic: toDType(upsampleBicubic4(low, h, w), 'uint8'), bilinear: toDType(upsampleBilinear4(low, h, w), 'uint8') };
    for (const [k, img] of Object.entries(images) as [keyof typeof score, FrameArray][]) {
      score[k].psnr += psnr(ref, img, max - min) / lr.info.frames;
      score[k].ssim += ssim(ref, img, 4 * h, 4 * w, max - min) / lr.info.frames;
    }
  }
  await lr.close();
  await hr.close();
  const best = Math.max(score.bicubic.psnr, score.bilinear.psnr);
  assert.ok(score.model.psnr > best, `PSNR model ${score.model.psnr} vs bicubic ${score.bicubic.psnr}, bilinear ${score.bilinear.psnr}`);
  assert.ok(score.model.ssim > Math.max(score.bicubic.ssim, score.bilinear.ssim), `SSIM ${JSON.stringify(score)}`);
});

test('TTA output is the mean of the 8 dihedral restores and its uncertainty their standard deviation (non-square frame)', async () => {
  const engine = await RestoreEngine.load(singleModel, { device: 'cpu' });
  // The reference: each orientation of the whole frame restored plainly, turned back.
  const outs: Float32Array[] = [];
  for (let g = 0; g < DIHEDRAL_COUNT; g++) {
    const [h, w] = dihedralShape(g, H, W);
    const { frames } = await restoreFrames(singleModel, [dihedral(single, 1, H, W, g)], floatInfo(h, w), { tileSize: 32 });
    outs.push(dihedral(frames[0] as Float32Array, 1, 4 * h, 4 * w, g, true));
  }
  const mean = new Float32Array(16 * H * W);
  const std = new Float32Array(16 * H * W);
  for (let i = 0; i < mean.length; i++) {
    const vs = outs.map((o) => o[i]!);
    const m = vs.reduce((a, b) => a + b, 0) / vs.length;
    mean[i] = m;
    std[i] = Math.sqrt(vs.reduce((a, b) => a + (b - m) ** 2, 0) / vs.length);
  }
  const source = MemoryFrameSource.fromFrames(floatInfo(H, W), [single]);
  const sink = new MemoryFrameSink(engine.outputInfo(source.info));
  const seen: { input: FrameArray; uncertainty: Float32Array | null }[] = [];
  const timing = await engine.restore(source, sink, { tileSize: 32, tta: true, onFrame: (f) => void seen.push({ input: f.input, uncertainty: f.uncertainty }) });
  assert.equal(timing.tta, true);
  assert.ok(maxAbsDiff(sink.frames[0]!, mean) < WHOLE_VS_TILED_BOUND, `mean: max abs diff ${maxAbsDiff(sink.frames[0]!, mean)}`);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.input, single, 'onFrame hands over the input frame as read');
  const unc = seen[0]!.uncertainty!;
  // float32 range normalisation 0..1 of the fixture: the std is in the same units.
  assert.ok(maxAbsDiff(unc, std) < WHOLE_VS_TILED_BOUND, `std: max abs diff ${maxAbsDiff(unc, std)}`);
  assert.ok(minMax(std).max > 1e-3, 'the fixture network is not rotation-invariant, so the test can see the std');
});

test('without TTA onFrame gets no uncertainty and the output is unchanged', async () => {
  const engine = await RestoreEngine.load(singleModel, { device: 'cpu' });
  const source = MemoryFrameSource.fromFrames(floatInfo(H, W), [single]);
  const sink = new MemoryFrameSink(engine.outputInfo(source.info));
  const got: (Float32Array | null)[] = [];
  await engine.restore(source, sink, { tileSize: 32, onFrame: (f) => void got.push(f.uncertainty) });
  assert.deepEqual(got, [null]);
  assert.ok(maxAbsDiff(sink.frames[0]!, fx.references.get('single')!) < WHOLE_VS_TILED_BOUND);
});

test('pixel-size matching: warns by default; with matchPixelSize restores at the model pixel size, output 4x the input', async () => {
  const dir = withCard(fx.single, join(fx.dir, 'px20'), (card) => {
    card.inputPixelSize = { value: 20, unit: 'nm' };
  });
  const engine = await RestoreEngine.load(await resolveModel(dir), { device: 'cpu' });
  const info: StackInfo = { frames: 1, height: 20, width: 28, dtype: 'float32', axis: 'Z', pixelSize: { x: 0.04, y: 0.04, unit: 'um' } };
  const frame = testImage(20, 28, 21);
  const run = async (matchPixelSize: boolean, input: FrameArray, inInfo: StackInfo) => {
    const warnings: string[] = [];
    const sink = new MemoryFrameSink(engine.outputInfo(inInfo));
    await engine.restore(MemoryFrameSource.fromFrames(inInfo, [input]), sink, { matchPixelSize, onWarning: (m) => warnings.push(m) });
    await sink.commit();
    return { out: sink.frames[0]!, warnings };
  };
  const plain = await run(false, frame, info);
  assert.equal(plain.warnings.length, 1);
  assert.match(plain.warnings[0]!, /pixel size \(40 nm\) is outside what the model was trained for \(20 nm\); results may be worse/);

  const matched = await run(true, frame, info);
  assert.equal(matched.out.length, 80 * 112);
  assert.match(matched.warnings[0]!, /resampled to 56x40, output resampled back to 112x80/);
  // the same as resampling by hand, restoring at 20 nm (no warning there) and resampling the output back
  const lr = resizeImage(frame, 20, 28, 40, 56);
  const atModel = await run(false, lr, { ...info, height: 40, width: 56, pixelSize: { x: 0.02, y: 0.02, unit: 'um' } });
  assert.equal(atModel.warnings.length, 0);
  const back = resizeImage(atModel.out, 160, 224, 80, 112);
  assert.ok(maxAbsDiff(matched.out, back) < 1e-5);
  assert.ok(maxAbsDiff(matched.out, plain.out) > 1e-3); // and it is a different restoration

  // unknown pixel size: nothing to match, no warning
  const { pixelSize: _known, ...unknown } = info;
  const none = await run(true, frame, unknown);
  assert.equal(none.warnings.length, 0);
  assert.ok(maxAbsDiff(none.out, plain.out) < 1e-6);
});
