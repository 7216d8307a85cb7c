import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import { downsample4, upsampleBicubic4, upsampleBilinear4 } from '../src/interp.js';
import { loadVectors, maxAbsDiff } from './helpers.js';

interface UpsampleCase { name: string; height: number; width: number; input: number[]; bilinear: number[]; bicubic: number[] }
const { cases } = loadVectors<{ cases: UpsampleCase[] }>('upsample.json');

test('bilinear matches PyTorch F.interpolate(scale_factor=4, bilinear, align_corners=False)', () => {
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const got = upsampleBilinear4(Float32Array.from(c.input), c.height, c.width);
    assert.equal(got.length, 16 * c.height * c.width);
    const scale = Math.max(1, ...c.input.map(Math.abs));
    assert.ok(maxAbsDiff(got, c.bilinear) <= 1e-6 * scale, `${c.name}: ${maxAbsDiff(got, c.bilinear)}`);
  }
});

test('bicubic matches the Keys a=-0.5, half-pixel, edge-clamp reference', () => {
  for (const c of cases) {
    const got = upsampleBicubic4(Float32Array.from(c.input), c.height, c.width);
    const scale = Math.max(1, ...c.input.map(Math.abs));
    assert.ok(maxAbsDiff(got, c.bicubic) <= 1e-6 * scale, `${c.name}: ${maxAbsDiff(got, c.bicubic)}`);
  }
});

test('downsample4 takes the mean of the 2x2 HR pixels around each LR centre and crops to multiples of 4', () => {
  const h = 9;
  const w = 10;
  const hr = new Float32Array(h * w);
  for (let i = 0; i < hr.length; i++) hr[i] = i;
  const { data, height, width } = downsample4(hr, h, w);
  assert.equal(height, 2);
  assert.equal(width, 2);
  // LR (0,0) = mean of HR (1,1),(1,2),(2,1),(2,2) = mean(11,12,21,22)
  assert.deepEqual(Array.from(data), [16.5, 20.5, 56.5, 60.5]);
  assert.throws(() => downsample4(new Float32Array(12), 3, 4), PssrError);
  assert.throws(() => downsample4(new Float32Array(15), 4, 4), PssrError);
});

test('degrading a linear ramp and upsampling it back causes no shift away from the borders', () => {
  // The pixel-centre geometry of CONTRACTS.md: the LR sample of HR pixels 4i..4i+3 sits at 4i+1.5, and
  // upsampling puts HR pixel j at LR coordinate (j-1.5)/4, so a ramp is reproduced exactly where the
  // interpolation needs no clamped edge samples.
  const h = 32;
  const w = 48;
  const hr = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) hr[y * w + x] = 3 * x - 2 * y + 100;
  const lr = downsample4(hr, h, w);
  for (const [name, up, border] of [
    ['bilinear', upsampleBilinear4, 2],
    ['bicubic', upsampleBicubic4, 6],
  ] as const) {
    const back = up(lr.data, lr.height, lr.width);
    let worst = 0;
    for (let y = border; y < h - border; y++) {
      for (let x = border; x < w - border; x++) worst = Math.max(worst, Math.abs(back[y * w + x]! - hr[y * w + x]!));
    }
    assert.ok(worst < 1e-4, `${name}: max interior error ${worst}`);
    // A corner-aligned grid would be off here by up to 1.5 px times the slope; the centre row is exact.
    const yc = 16;
    const rowMean = (a: Float32Array) => a.slice(yc * w + border, yc * w + w - border).reduce((s, v) => s + v, 0) / (w - 2 * border);
    assert.ok(Math.abs(rowMean(back) - rowMean(hr)) < 1e-4, `${name}: mean shift`);
  }
});

test('constant images stay constant; shapes are validated', () => {
  const c = new Float32Array(3 * 5).fill(7.25);
  for (const up of [upsampleBilinear4, upsampleBicubic4]) {
    const r = up(c, 3, 5);
    assert.equal(r.length, 12 * 20);
    assert.ok(maxAbsDiff(r, new Float32Array(240).fill(7.25)) < 1e-6);
    assert.throws(() => up(c, 3, 4), PssrError);
    assert.throws(() => up(c, 0, 5), PssrError);
  }
});
