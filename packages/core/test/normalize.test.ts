import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import { denormalize, normalizationRange, normalizeInto } from '../src/normalize.js';
import { percentiles } from '../src/stats.js';

test('percentile normalisation range is the frame percentiles; a constant frame gets hi = lo + 1', () => {
  const frame = new Uint16Array(1000);
  for (let i = 0; i < frame.length; i++) frame[i] = i * 3;
  const [lo, hi] = percentiles(frame, [0.1, 99.9]);
  assert.deepEqual(normalizationRange(frame, { mode: 'percentile', low: 0.1, high: 99.9 }), { lo, hi });
  assert.equal(lo, 2.997);
  assert.deepEqual(normalizationRange(new Uint8Array(50).fill(9), { mode: 'percentile', low: 0.1, high: 99.9 }), { lo: 9, hi: 10 });
  assert.deepEqual(normalizationRange(frame, { mode: 'range', min: 0, max: 255 }), { lo: 0, hi: 255 });
  assert.throws(() => normalizationRange(frame, { mode: 'range', min: 5, max: 5 }), PssrError);
  assert.throws(() => normalizationRange(frame, { mode: 'percentile', low: 50, high: 10 }), PssrError);
});

test('normalizeInto maps lo -> 0 and hi -> 1 and reuses the output buffer', () => {
  const frame = Uint8Array.from([10, 20, 30, 110]);
  const out = new Float32Array(4);
  const r = normalizeInto(frame, { lo: 10, hi: 110 }, out);
  assert.equal(r, out);
  assert.deepEqual(Array.from(r), [0, 0.10000000149011612, 0.20000000298023224, 1]);
  assert.throws(() => normalizeInto(frame, { lo: 0, hi: 1 }, new Float32Array(3)), PssrError);
});

test('denormalize rounds half away from zero and clips integer dtypes; float32 is not clipped', () => {
  // Exactly representable halves: 0.5, 1.5, 2.5 -> 1, 2, 3 (half away from zero, not numpy's half-to-even).
  const v = Float32Array.from([0.125, 0.375, 0.625, -0.5, 50, 0.1, NaN, 0.1249]);
  assert.deepEqual(Array.from(denormalize(v, { lo: 0, hi: 4 }, 'uint8')), [1, 2, 3, 0, 200, 0, 0, 0]);
  assert.deepEqual(Array.from(denormalize(Float32Array.from([-0.125, 0.625]), { lo: 2, hi: 6 }, 'uint8')), [2, 5]);
  assert.deepEqual(Array.from(denormalize(Float32Array.from([10, 0.123]), { lo: 0, hi: 1000 }, 'uint8')), [255, 123]);
  assert.deepEqual(Array.from(denormalize(Float32Array.from([700, -1]), { lo: 0, hi: 100 }, 'uint16')), [65535, 0]);
  const f = denormalize(Float32Array.from([-0.5, 1.5]), { lo: 10, hi: 20 }, 'float32');
  assert.ok(f instanceof Float32Array);
  assert.deepEqual(Array.from(f), [5, 25]);
});

test('normalize then denormalize round-trips a uint16 frame exactly', () => {
  const frame = new Uint16Array(4096);
  for (let i = 0; i < frame.length; i++) frame[i] = (i * 7919) % 65536;
  const range = normalizationRange(frame, { mode: 'percentile', low: 0.1, high: 99.9 });
  const back = denormalize(normalizeInto(frame, range), range, 'uint16');
  assert.deepEqual(back, frame);
});
