import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { minMax, psnr } from '@pssr/core';
import type { FrameArray } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { buildFixtures, withCard } from '../../inference/test/fixtures.js';
import type { Fixtures } from '../../inference/test/fixtures.js';
import { lines, pssr, tiff, u8Page } from './helpers.js';

let fx: Fixtures;
let work: string;
let model: string; // fixture single-frame model with percentile normalisation (uint8 friendly)
let input: string; // 2 frames of 24x20 uint8
let hrRef: string; // a 2-frame 96x80 "reference"

const pattern = (k: number) => (x: number, y: number) => 128 + 90 * Math.sin(x / 3 + k) * Math.cos(y / 4) + 20 * Math.sin((x * y) / 17);

before(() => {
  fx = buildFixtures();
  work = mkdtempSync(join(tmpdir(), 'pssr-cli-'));
  model = withCard(fx.single, join(work, 'model-u8'), (card) => {
    card.normalization = { mode: 'percentile', low: 0.1, high: 99.9 };
  });
  input = join(work, 'in.tif');
  writeFileSync(input, tiff([u8Page(24, 20, pattern(0)), u8Page(24, 20, pattern(1))]));
  hrRef = join(work, 'hr.tif');
  writeFileSync(hrRef, tiff([u8Page(96, 80, (x, y) => pattern(0)(x / 4, y / 4)), u8Page(96, 80, (x, y) => pattern(1)(x / 4, y / 4))]));
});
after(() => {
  fx.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** A fresh empty folder for one test's outputs, so "nothing left behind" is checkable. */
function outDir(name: string): string {
  const d = join(work, 'out', name);
  mkdirSync(d, { recursive: true });
  return d;
}

async function readAll(path: string): Promise<{ info: { frames: number; height: number; width: number; dtype: string }; frames: FrameArray[] }> {
  const r = await openTiffStack(path);
  const frames: FrameArray[] = [];
  for (let i = 0; i < r.info.frames; i++) frames.push(await r.readFrame(i));
  await r.close();
  return { info: r.info, frames };
}

test('restore writes a 4x stack of the same dtype with exactly what the engine computes, and one summary line', async () => {
  const dir = outDir('ok');
  const output = join(dir, 'restored.tif');
  const r = await pssr(['restore', input, '-o', output, '--model', model, '--device', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
  const summary = lines(r.stdout);
  assert.equal(summary.length, 1);
  assert.match(summary[0]!, /restored .*in\.tif -> .*restored\.tif: 2 frames 24x20 -> 96x80 uint8, model fixture-single on cpu, [\d.]+ s, [\d.]+ MP\/s/);
  assert.deepEqual(readdirSync(dir), ['restored.tif']);

  const written = await readAll(output);
  assert.deepEqual({ ...written.info }, { ...written.info, frames: 2, height: 80, width: 96, dtype: 'uint8' });
  // the same frames restored in-process
  const source = await readAll(input);
  const engine = await RestoreEngine.load(await resolveModel(model), { device: 'cpu' });
  const memory = MemoryFrameSource.fromFrames({ height: 20, width: 24, dtype: 'uint8', axis: 'T' }, source.frames);
  const sink = new MemoryFrameSink(engine.outputInfo(memory.info));
  await engine.restore(memory, sink);
  for (let t = 0; t < 2; t++) assert.deepEqual(written.frames[t], sink.frames[t]);
});

test('restore --reference prints PSNR/SSIM of the model, bicubic and bilinear', async () => {
  const output = join(outDir('ref'), 'restored.tif');
  const r = await pssr(['restore', input, '-o', output, '-m', model, '--device', 'cpu', '--reference', hrRef]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  const value = (label: string) => Number(new RegExp(`${label}\\s+PSNR\\s+([\\d.]+)\\s+SSIM ([\\d.]+)`).exec(out)?.[1]);
  for (const label of ['fixture-single \\(model\\)', 'bicubic', 'bilinear']) assert.ok(Number.isFinite(value(label)), `${label} in:\n${out}`);
  // the printed model PSNR is the PSNR of the written file against the reference (data range of the reference)
  const restored = await readAll(output);
  const hr = await readAll(hrRef);
  let expected = 0;
  for (let t = 0; t < 2; t++) {
    const { min, max } = minMax(hr.frames[t]!);
    expected += psnr(hr.frames[t]!, restored.frames[t]!, max - min) / 2;
  }
  assert.ok(Math.abs(value('fixture-single \\(model\\)') - expected) < 0.006, `${value('fixture-single \\(model\\)')} vs ${expected}`);
});

describe('bad input: exit 2, at most three lines on stderr, no stack, no output file', { concurrency: 3 }, () => {
  const bad = (name: string) => join(work, 'bad', name);
  before(() => {
    mkdirSync(join(work, 'bad'), { recursive: true });
    const good = tiff([u8Page(24, 20, pattern(0)), u8Page(24, 20, pattern(1))]);
    writeFileSync(bad('empty.tif'), '');
    writeFileSync(bad('random.tif'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)));
    writeFileSync(bad('truncated.tif'), good.subarray(0, 300));
    writeFileSync(bad('png.tif'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200)]));
    writeFileSync(bad('complex.tif'), tiff([{ width: 8, height: 8, bitsPerSample: 64, sampleFormat: 6 }]));
    writeFileSync(bad('bilevel.tif'), tiff([{ width: 16, height: 8, bitsPerSample: 1 }]));
    writeFileSync(bad('rgb.tif'), tiff([{ width: 8, height: 8, samplesPerPixel: 3 }]));
    writeFileSync(bad('huge.tif'), tiff([{ width: 8, height: 8, declareWidth: 200000, declareHeight: 200000 }]));
    writeFileSync(bad('loop.tif'), tiff([u8Page(8, 8, () => 1), u8Page(8, 8, () => 2)], { loop: true }));
    writeFileSync(bad('sizes.tif'), tiff([u8Page(16, 16, () => 1), u8Page(20, 16, () => 2)]));
    mkdirSync(bad('no-card'));
    writeFileSync(join(bad('no-card'), 'model.onnx'), readFileSync(join(fx.single, 'model.onnx')));
    withCard(fx.single, bad('broken-card'), (card) => {
      card.tile = { size: 48, halo: 8 };
    });
    writeFileSync(bad('not-a-dir'), 'a file');
  });

  const cases: [string, () => string[], RegExp][] = [
    ['a missing file', () => ['restore', bad('missing.tif')], /missing\.tif.*no such file/i],
    ['an empty file', () => ['restore', bad('empty.tif')], /empty/i],
    ['random bytes', () => ['restore', bad('random.tif')], /not a TIFF/i],
    ['a truncated TIFF', () => ['restore', bad('truncated.tif')], /truncated|ends|short/i],
    ['a PNG named .tif', () => ['restore', bad('png.tif')], /PNG/],
    ['complex samples', () => ['restore', bad('complex.tif')], /complex|sample/i],
    ['1-bit samples', () => ['restore', bad('bilevel.tif')], /1-bit|bit/i],
    ['RGB without --channel', () => ['restore', bad('rgb.tif')], /channel/i],
    ['enormous declared dimensions', () => ['restore', bad('huge.tif')], /200000|limit|large/i],
    ['an IFD chain that loops', () => ['restore', bad('loop.tif')], /loop/i],
    ['frames of different sizes', () => ['restore', bad('sizes.tif')], /size|20x16|16x16/i],
    ['a model folder without a card', () => ['restore', input, '--model', bad('no-card')], /model\.json/],
    ['a model card with a missing field', () => ['restore', input, '--model', bad('broken-card')], /"tile\.multiple"/],
    ['an unknown model name', () => ['restore', input, '--model', 'no-such-model'], /not found/],
    ['CUDA requested where it cannot load', () => ['restore', input, '--device', 'cuda'], /CUDA/],
    ['a zero batch size', () => ['restore', input, '--batch', '0'], /--batch/],
    ['an unknown option', () => ['restore', input, '--frobnicate'], /unknown option/],
  ];
  for (const [label, args, message] of cases) {
    test(label, async () => {
      const dir = outDir(`bad-${label.replace(/\W+/g, '-')}`);
      const output = join(dir, 'out.tif');
      const argv = [...args(), '-o', output];
      if (!argv.includes('--model') && !argv.includes('-m')) argv.push('--model', model);
      const r = await pssr(argv);
      if (label.startsWith('CUDA') && r.code === 0) return; // a GPU host with the provider installed
      assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
      const errLines = lines(r.stderr);
      assert.ok(errLines.length >= 1 && errLines.length <= 3, `1-3 lines:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at .*:\d+:\d+/, 'no stack trace');
      assert.match(r.stderr, message);
      assert.deepEqual(readdirSync(dir), [], 'no output or partial file');
    });
  }

  test('an output path that cannot be written', async () => {
    for (const output of [join(bad('not-a-dir'), 'out.tif'), join(work, 'no-such-folder', 'out.tif')]) {
      const r = await pssr(['restore', input, '-o', output, '--model', model]);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(lines(r.stderr).length <= 3);
      assert.match(r.stderr, /out\.tif/);
      assert.ok(!existsSync(output));
    }
  });

  test('an existing output without --force is kept; with --force it is replaced', async () => {
    const dir = outDir('exists');
    const output = join(dir, 'out.tif');
    writeFileSync(output, 'precious');
    const r = await pssr(['restore', input, '-o', output, '--model', model]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(lines(r.stderr).length <= 3);
    assert.match(r.stderr, /exists|--force/);
    assert.equal(readFileSync(output, 'utf8'), 'precious');
    const forced = await pssr(['restore', input, '-o', output, '--model', model, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await readAll(output)).info.frames, 2);
    assert.deepEqual(readdirSync(dir), ['out.tif']);
  });

  test('the output cannot be the input', async () => {
    const copy = join(outDir('same'), 'in.tif');
    writeFileSync(copy, readFileSync(input));
    const r = await pssr(['restore', copy, '-o', copy, '--model', model, '--force']);
    assert.equal(r.code, 2);
    assert.deepEqual(readFileSync(copy), readFileSync(input));
  });
});

test('Ctrl-C (SIGINT) during a restore exits 130 and leaves no output or partial file', async () => {
  const dir = outDir('sigint');
  const big = join(work, 'big.tif');
  writeFileSync(big, tiff(Array.from({ length: 150 }, (_, k) => u8Page(96, 96, pattern(k)))));
  const output = join(dir, 'out.tif');
  let pid = 0;
  const running = pssr(['restore', big, '-o', output, '--model', model, '--device', 'cpu', '--batch', '1', '--tile', '24'], { onSpawn: (p) => (pid = p) });
  // wait until the writer has created its temporary file: the restore is under way
  const started = Date.now();
  while (readdirSync(dir).length === 0 && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(readdirSync(dir).length > 0, 'the restore started');
  process.kill(pid, 'SIGINT');
  const r = await running;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /cancel/i);
  assert.ok(lines(r.stderr).length <= 3);
  assert.deepEqual(readdirSync(dir), []);
});

test('models lists cards (text and --json)', async () => {
  const r = await pssr(['models', '--json', '-m', model]);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { name: string; card: { tile: { halo: number } } }[];
  assert.equal(list.length, 1);
  assert.equal(list[0]!.name, 'fixture-single');
  assert.equal(list[0]!.card.tile.halo, 8);
  const text = await pssr(['models', '-m', model]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /fixture-single\s+v0\.0\.1\s+em, 1 frame in/);
  const bundled = await pssr(['models', '--json']);
  assert.equal(bundled.code, 0, bundled.stderr);
  assert.ok(Array.isArray(JSON.parse(bundled.stdout)));
});

test('evaluate degrades, restores and compares model, bicubic and bilinear (PSNR, SSIM, FRC)', async () => {
  const hr = join(work, 'eval-hr.tif');
  writeFileSync(hr, tiff([0, 1, 2].map((k) => u8Page(64, 48, (x, y) => pattern(k)(x / 3, y / 3)))));
  const r = await pssr(['evaluate', '--hr', hr, '--model', model, '--device', 'cpu', '--frames', '2..3', '--seed', '5', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { frames: number[]; degradation: string; quality: { frames: number; psnr: Record<string, number>; ssim: Record<string, number>; frc: Record<string, number> } };
  assert.deepEqual(result.frames, [2, 3]);
  assert.equal(result.degradation, 'em');
  assert.equal(result.quality.frames, 2);
  for (const m of ['model', 'bicubic', 'bilinear']) {
    assert.ok(result.quality.psnr[m]! > 5 && result.quality.psnr[m]! < 80, `${m} psnr ${result.quality.psnr[m]}`);
    assert.ok(result.quality.ssim[m]! > -1 && result.quality.ssim[m]! <= 1);
    assert.ok(m in result.quality.frc);
  }
  // bicubic and bilinear of the same LR frames are close to each other but not identical
  assert.notEqual(result.quality.psnr.bicubic, result.quality.psnr.bilinear);
  // same seed, same numbers; another seed, other noise
  const again = JSON.parse((await pssr(['evaluate', '--hr', hr, '--model', model, '--device', 'cpu', '--frames', '2..3', '--seed', '5', '--json'])).stdout);
  assert.deepEqual(again.quality, result.quality);
  const text = await pssr(['evaluate', '--hr', hr, '--model', model, '--degrade', 'fluo', '--frames', '1']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /degradation fluo/);
  assert.match(text.stdout, /bicubic\s+PSNR\s+[\d.]+\s+SSIM [\d.]+\s+FRC/);
  const badRange = await pssr(['evaluate', '--hr', hr, '--model', model, '--frames', '3..9']);
  assert.equal(badRange.code, 2);
  assert.match(badRange.stderr, /--frames/);
  assert.ok(lines(badRange.stderr).length <= 3);
});

test('a bad --reference is refused before anything is restored or written', async () => {
  const dir = outDir('ref-bad');
  const output = join(dir, 'out.tif');
  const missing = await pssr(['restore', input, '-o', output, '-m', model, '--reference', join(work, 'no-ref.tif')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no-ref\.tif/);
  const wrongSize = await pssr(['restore', input, '-o', output, '-m', model, '--reference', input]);
  assert.equal(wrongSize.code, 2);
  assert.match(wrongSize.stderr, /4x its size/);
  assert.ok(lines(wrongSize.stderr).length <= 3);
  assert.deepEqual(readdirSync(dir), []);
});

test('train runs the trainer, checks the export with onnxruntime and the model restores at once', async () => {
  const data = join(work, 'train-data');
  mkdirSync(data);
  // three 160x160 HR images with structure at several scales
  for (let k = 0; k < 3; k++) writeFileSync(join(data, `hr${k}.tif`), tiff([u8Page(160, 160, (x, y) => pattern(k)(x / 5, y / 5) + 30 * Math.sin(x / 2 + y / 3 + k))]));
  const out = join(work, 'trained');
  const r = await pssr(['train', '--data', data, '--modality', 'em', '--steps', '3', '--width', '8', '--depth', '1', '--device', 'cpu', '--seed', '1', '--ema', '0.9', '--phase-jitter',
    '--scale-range', '1,1.5', '--scale-prob', '0.5', '--noise-sigma', '2,4', '--contrast-jitter', '0.2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /final validation: PSNR [\d.]+ dB \(bicubic [\d.]+, bilinear [\d.]+\)/);
  assert.match(r.stdout, /ONNX export checked with onnxruntime-node 1\.29\.0: max abs difference/);
  const card = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { export: { maxAbsDiff: number; checkedWith: string }; training: { command: string; steps: number; augmentation: string; weightAverage: unknown } };
  assert.ok(card.export.maxAbsDiff >= 0 && card.export.maxAbsDiff < 1e-3, String(card.export.maxAbsDiff));
  assert.equal(card.export.checkedWith, 'onnxruntime-node 1.29.0');
  assert.match(card.training.command, /^pssr train --data .* --steps 3 /);
  assert.equal(card.training.steps, 3);
  assert.deepEqual(card.training.weightAverage, { kind: 'ema', decay: 0.9 });
  assert.match(card.training.augmentation, /any 4x sampling phase/);
  assert.match(card.training.augmentation, /contrast x exp\(\+-0\.2\).*HR resampled to 1-1\.5x the source pixel size .* on 50% of tiles, noise sigma U\(2, 4\)/);
  // Trust calibration on the held-out image (the last of the three), 3 noise seeds; rerunnable from the kept config.
  assert.match(r.stdout, /trust statistics calibrated on 3 validation frames/);
  const calibration = (JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { calibration: { frames: number; uncertainty: unknown } }).calibration;
  assert.equal(calibration.frames, 3);
  assert.ok(calibration.uncertainty !== null);
  const again = await pssr(['calibrate', '--model', out, '--no-tta', '--device', 'cpu']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { calibration: { uncertainty: unknown } }).calibration.uncertainty, null);
  const output = join(outDir('trained'), 'restored.tif');
  const restored = await pssr(['restore', input, '-o', output, '--model', out, '--device', 'cpu']);
  assert.equal(restored.code, 0, restored.stderr);
  assert.equal((await readAll(output)).info.width, 96);
});

test('train with bad input fails with a short message and exit 2', async () => {
  const empty = join(work, 'empty-data');
  mkdirSync(empty);
  const r = await pssr(['train', '--data', empty, '--modality', 'em', '--steps', '2', '--out', join(work, 'never')]);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(lines(r.stderr).length <= 3, r.stderr);
  assert.match(r.stderr, /empty-data/);
  assert.ok(!existsSync(join(work, 'never', 'model.onnx')));
  const usage = await pssr(['train', '--data', empty, '--out', join(work, 'never')]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--modality/);
  const ema = await pssr(['train', '--data', empty, '--modality', 'em', '--ema', '2', '--out', join(work, 'never')]);
  assert.equal(ema.code, 2);
  assert.match(ema.stderr, /weight-averaging decay must be 0 \(off\) or between 0 and 1/);
  const pair = await pssr(['train', '--data', empty, '--modality', 'em', '--scale-range', '0.5,2', '--out', join(work, 'never')]);
  assert.equal(pair.code, 2);
  assert.match(pair.stderr, /--scale-range must be two numbers lo,hi with 1 <= lo <= hi \(got "0\.5,2"\)/);
});

test('restore warns when the pixel size is outside the model card; --match-pixel-size resamples and keeps 4x', async () => {
  const { createTiffStackWriter } = await import('@pssr/tiff');
  const dir = outDir('pixel-size');
  const px = join(work, 'px40.tif');
  const writer = await createTiffStackWriter(px, { frames: 1, height: 20, width: 24, dtype: 'uint8', axis: 'Z', pixelSize: { x: 40, y: 40, unit: 'nm' } }, {});
  await writer.writeFrame(Uint8Array.from({ length: 20 * 24 }, (_, i) => pattern(0)(i % 24, Math.floor(i / 24))));
  await writer.commit();
  const at20 = withCard(fx.single, join(work, 'model-px20'), (card) => {
    card.normalization = { mode: 'percentile', low: 0.1, high: 99.9 };
    card.inputPixelSize = { value: 20, unit: 'nm' };
  });
  const plain = await pssr(['restore', px, '-o', join(dir, 'plain.tif'), '--model', at20, '--device', 'cpu']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /^warning: the input's pixel size \(40 nm\) is outside what the model was trained for \(20 nm\); results may be worse/);
  const matched = await pssr(['restore', px, '-o', join(dir, 'matched.tif'), '--model', at20, '--device', 'cpu', '--match-pixel-size']);
  assert.equal(matched.code, 0, matched.stderr);
  assert.match(matched.stderr, /resampled to 48x40, output resampled back to 96x80/);
  const a = await readAll(join(dir, 'plain.tif'));
  const b = await readAll(join(dir, 'matched.tif'));
  assert.deepEqual([b.info.width, b.info.height], [96, 80]);
  assert.notDeepEqual(a.frames[0], b.frames[0]);
});
