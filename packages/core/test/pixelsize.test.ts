import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import {
  ResampledSink,
  ResampledSource,
  describePixelSizeMatch,
  pixelSizeMatch,
  resizeImage,
} from '../src/pixelsize.js';
import { trainedPixelRange } from '../src/trust/pixelsize.js';
import type { FrameArray, FrameSink, FrameSource, StackInfo } from '../src/types.js';
import { loadVectors, maxAbsDiff } from './helpers.js';

interface ResizeCase { name: string; height: number; width: number; outHeight: number; outWidth: number; input: number[]; expected: number[] }
const { cases } = loadVectors<{ cases: ResizeCase[] }>('resize.json');

test('resizeImage matches Pillow antialiased bicubic, shrinking and enlarging', () => {
  assert.ok(cases.length >= 6);
  for (const c of cases) {
    const got = resizeImage(Float32Array.from(c.input), c.height, c.width, c.outHeight, c.outWidth);
    assert.equal(got.length, c.outHeight * c.outWidth, c.name);
    assert.ok(maxAbsDiff(got, c.expected) <= 1e-3, `${c.name}: ${maxAbsDiff(got, c.expected)}`);
  }
});

test('resizeImage rejects impossible shapes with a clear error', () => {
  assert.throws(() => resizeImage(new Float32Array(6), 2, 3, 0, 4), (e: unknown) => e instanceof PssrError && /output height 0/.test(e.message));
  assert.throws(() => resizeImage(new Float32Array(5), 2, 3, 4, 4), /holds 5 samples, 2x3 needs 6/);
});

const range = { inputPixelSize: { value: 18.4, unit: 'nm' }, inputPixelSizeRange: { min: 18.4, max: 60, unit: 'nm' } };
const single = { inputPixelSize: { value: 18.4, unit: 'nm' } };

test('the trained range: the card range, else the single pixel size within the trust tolerance (25 %)', () => {
  assert.deepEqual(trainedPixelRange(range), [18.4, 60]);
  const [lo, hi] = trainedPixelRange(single)!;
  assert.ok(Math.abs(lo - 13.8) < 1e-9 && Math.abs(hi - 23) < 1e-9);
  assert.equal(trainedPixelRange({ inputPixelSize: null }), undefined);
});

test('pixelSizeMatch: nothing inside the range or when unknown; else the nearest end (or the single size)', () => {
  assert.equal(pixelSizeMatch(undefined, range), null);
  assert.equal(pixelSizeMatch({ x: 40, y: 40, unit: 'nm' }, range), null);
  assert.equal(pixelSizeMatch({ x: 1, y: 1, unit: 'pixel' }, range), null);
  assert.equal(pixelSizeMatch({ x: 22, y: 22, unit: 'nm' }, single), null); // within 25 %
  assert.deepEqual(pixelSizeMatch({ x: 0.08, y: 0.08, unit: 'um' }, range)?.to, { x: 60, y: 60 });
  assert.deepEqual(pixelSizeMatch({ x: 10, y: 40, unit: 'nm' }, range)?.to, { x: 18.4, y: 40 });
  const m = pixelSizeMatch({ x: 40, y: 40, unit: 'nm' }, single)!;
  assert.deepEqual(m.to, { x: 18.4, y: 18.4 });
  assert.equal(describePixelSizeMatch(m), "the input's pixel size (40 nm) is outside what the model was trained for (18.4 nm)");
  assert.match(describePixelSizeMatch(pixelSizeMatch({ x: 10, y: 12, unit: 'nm' }, range)!), /\(10 x 12 nm\) .* \(18\.4-60 nm\)/);
});

function memorySource(info: StackInfo, frames: FrameArray[]): FrameSource {
  return { info, readFrame: async (i) => frames[i]!, close: async () => undefined };
}

test('ResampledSource and ResampledSink: the model sees its pixel size and the output stays 4x the input', async () => {
  const info: StackInfo = { frames: 1, height: 20, width: 30, dtype: 'uint8', axis: 'Z', pixelSize: { x: 40, y: 40, unit: 'nm' } };
  const frame = new Uint8Array(20 * 30).map((_, i) => (i % 30) * 8);
  const m = pixelSizeMatch(info.pixelSize, single)!;
  const src = new ResampledSource(memorySource(info, [frame]), m);
  assert.equal(src.info.height, 43);
  assert.equal(src.info.width, 65);
  assert.ok(Math.abs(src.info.pixelSize!.x - 18.46) < 0.01);
  const lr = await src.readFrame(0);
  assert.ok(lr instanceof Uint8Array && lr.length === 43 * 65);
  // a horizontal ramp stays a ramp (monotone along x in the interior)
  for (let x = 3; x < 60; x++) assert.ok(lr[10 * 65 + x + 1]! >= lr[10 * 65 + x]!, `x ${x}`);

  const written: FrameArray[] = [];
  let committed = false;
  const outInfo: StackInfo = { ...info, height: 80, width: 120 };
  const inner: FrameSink = { info: outInfo, writeFrame: async (d) => void written.push(d), commit: async () => void (committed = true), abort: async () => undefined };
  const sink = new ResampledSink(inner, { ...src.info, height: 4 * 43, width: 4 * 65 });
  await sink.writeFrame(new Uint8Array(4 * 43 * 4 * 65).fill(77));
  await sink.commit();
  assert.equal(written[0]!.length, 80 * 120);
  assert.ok(written[0]!.every((v) => v === 77));
  assert.ok(committed);
});
