import assert from 'node:assert/strict';
import { test } from 'node:test';
import { degradationRange, degradationSpec, degrade } from '../src/degrade.js';
import { PssrError } from '../src/errors.js';
import { downsample4 } from '../src/interp.js';
import type { DegradationSpec } from '../src/modelcard.js';
import type { FrameArray } from '../src/types.js';
import { loadVectors, maxAbsDiff, mean, std, typed } from './helpers.js';

interface DegradeCase {
  name: string; dtype: string; height: number; width: number; input: number[]; recipe: 'none';
  percentiles: [number, number]; lo: number; hi: number; lrHeight: number; lrWidth: number; expected: number[];
}

test("recipe 'none' matches the shared vectors (numpy reference of CONTRACTS.md)", () => {
  const { cases } = loadVectors<{ cases: DegradeCase[] }>('degrade.json');
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const frame = typed(c.dtype, c.input) as FrameArray;
    const spec = degradationSpec(c.recipe);
    assert.deepEqual(spec.percentiles, c.percentiles);
    const { lo, hi } = degradationRange(frame, c.height, c.width, spec);
    assert.ok(Math.abs(lo - c.lo) <= 1e-12 * Math.max(1, Math.abs(c.lo)), `${c.name}: lo ${lo} vs ${c.lo}`);
    assert.ok(Math.abs(hi - c.hi) <= 1e-12 * Math.max(1, Math.abs(c.hi)), `${c.name}: hi ${hi} vs ${c.hi}`);
    const lr = degrade(frame, c.height, c.width, spec, 1);
    assert.equal(lr.height, c.lrHeight);
    assert.equal(lr.width, c.lrWidth);
    const tol = 1e-4 * Math.max(1, c.hi - c.lo) * 1e-2;
    assert.ok(maxAbsDiff(lr.data, c.expected) <= tol, `${c.name}: max diff ${maxAbsDiff(lr.data, c.expected)}`);
  }
});

test("recipe 'none' is the centre-mean downsampling of the frame", () => {
  const h = 40;
  const w = 36;
  const hr = new Uint16Array(h * w);
  for (let i = 0; i < hr.length; i++) hr[i] = (i * 7919) % 4001;
  const lr = degrade(hr, h, w, degradationSpec('none'), 0);
  assert.ok(maxAbsDiff(lr.data, downsample4(Float32Array.from(hr), h, w).data) < 1e-9 * 4001 + 2e-4);
});

/** A 256x256 uint16 test frame with lo = 1000, hi = 2000: a smooth ramp with a plateau inside the range. */
function testFrame(): { frame: Uint16Array; h: number; w: number } {
  const h = 256;
  const w = 256;
  const frame = new Uint16Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) frame[y * w + x] = 1000 + Math.round((1000 * (x + y)) / (h + w - 2));
  return { frame, h, w };
}

/** Difference between a noisy and the noiseless LR, on the 0-255 scale of the HR frame. */
function noiseOn255(spec: DegradationSpec, seed: number): Float64Array {
  const { frame, h, w } = testFrame();
  const { lo, hi } = degradationRange(frame, h, w, spec);
  const clean = degrade(frame, h, w, degradationSpec('none'), seed);
  const noisy = degrade(frame, h, w, spec, seed);
  const d = new Float64Array(clean.data.length);
  for (let i = 0; i < d.length; i++) d[i] = ((noisy.data[i]! - clean.data[i]!) / (hi - lo)) * 255;
  return d;
}

test('EM recipe: Gaussian sigma 3 on the 0-255 scale (sigma/2 after averaging 2x2 pixels)', () => {
  const d = noiseOn255(degradationSpec('em'), 7);
  assert.ok(Math.abs(mean(d)) < 0.05, `mean ${mean(d)}`);
  // 4096 LR samples: the standard error of the std is ~1.1%.
  assert.ok(Math.abs(std(d) - 1.5) < 0.06, `std ${std(d)}`);
});

test('fluorescence recipe: salt-and-pepper on 0.5% of HR pixels, then Gaussian sigma 5', () => {
  const spOnly = { ...degradationSpec('fluo'), gaussianSigma: 0 };
  let hit = 0;
  let total = 0;
  for (const seed of [1, 2, 3, 4, 5]) {
    const d = noiseOn255(spOnly, seed);
    total += d.length;
    for (const v of d) if (Math.abs(v) > 1e-3) hit++;
  }
  // An LR pixel changes when any of its 4 sampled HR pixels is hit: 1 - 0.995^4 = 1.99%.
  const expected = 1 - 0.995 ** 4;
  const se = Math.sqrt((expected * (1 - expected)) / total);
  assert.ok(Math.abs(hit / total - expected) < 4 * se, `fraction ${hit / total}, expected ${expected}`);

  const gaussOnly = { ...degradationSpec('fluo'), saltPepper: 0 };
  assert.ok(Math.abs(std(noiseOn255(gaussOnly, 9)) - 2.5) < 0.1);
  const full = noiseOn255(degradationSpec('fluo'), 11);
  assert.ok(std(full) > 2.6, `salt-and-pepper adds to the Gaussian part: std ${std(full)}`);
});

test('Poisson recipe: s = Poisson(s/255 * peak) / peak * 255', () => {
  const h = 64;
  const w = 64;
  const frame = new Uint8Array(h * w).fill(200);
  // lo = 0, hi = 200 via row 0, which no LR pixel samples: the sampled pixels all sit at s = 255.
  frame.fill(0, 0, w);
  const spec = degradationSpec('poisson');
  assert.equal(spec.poissonPeak, 30);
  const { lo, hi } = degradationRange(frame, h, w, spec);
  assert.equal(lo, 0);
  assert.equal(hi, 200);
  const lr = degrade(frame, h, w, spec, 3);
  const s = Array.from(lr.data, (v) => ((v - lo) / (hi - lo)) * 255);
  // mean of 4 Poisson(30) draws scaled by 255/30: mean 255, std 255 / sqrt(30) / 2 = 23.3
  assert.ok(Math.abs(mean(s) - 255) < 2.5, `mean ${mean(s)}`);
  assert.ok(Math.abs(std(s) - 23.28) < 1.5, `std ${std(s)}`);
  for (const v of s) assert.ok(Math.abs((v / 255) * 30 * 4 - Math.round((v / 255) * 30 * 4)) < 1e-3, 'sums of integer counts');
});

test('the same seed gives the same LR frame; another seed another one', () => {
  const { frame, h, w } = testFrame();
  for (const recipe of ['em', 'fluo', 'poisson'] as const) {
    const a = degrade(frame, h, w, degradationSpec(recipe), 42);
    const b = degrade(frame, h, w, degradationSpec(recipe), 42);
    const c = degrade(frame, h, w, degradationSpec(recipe), 43);
    assert.deepEqual(a.data, b.data);
    assert.ok(maxAbsDiff(a.data, c.data) > 0);
  }
});

test('bad specs and sizes are refused with INVALID_ARGUMENT', () => {
  const f = new Uint8Array(64);
  const code = (e: unknown) => e instanceof PssrError && e.code === 'INVALID_ARGUMENT';
  assert.throws(() => degradationSpec('blur' as 'em'), code);
  assert.throws(() => degrade(f, 8, 8, { ...degradationSpec('em'), gaussianSigma: -1 }, 0), code);
  assert.throws(() => degrade(f, 8, 8, { ...degradationSpec('em'), scale: 2 as 4 }, 0), code);
  assert.throws(() => degrade(f, 8, 8, { ...degradationSpec('fluo'), saltPepper: 2 }, 0), code);
  assert.throws(() => degrade(f, 8, 8, { ...degradationSpec('em'), percentiles: [50, 10] }, 0), code);
  assert.throws(() => degrade(new Uint8Array(9), 3, 3, degradationSpec('none'), 0), code);
  assert.throws(() => degrade(f, 4, 8, degradationSpec('none'), 0), PssrError);
});
