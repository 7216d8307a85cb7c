import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import { minMax, percentiles } from '../src/stats.js';
import { loadVectors, typed } from './helpers.js';

interface PercentileCase { name: string; dtype: string; values: number[]; percentiles: number[]; expected: number[] }

test('percentiles match numpy.percentile on the shared vectors', () => {
  const { cases } = loadVectors<{ cases: PercentileCase[] }>('percentiles.json');
  assert.ok(cases.length >= 9);
  for (const c of cases) {
    const got = percentiles(typed(c.dtype, c.values), c.percentiles);
    c.expected.forEach((want, i) => {
      const tol = c.dtype.startsWith('uint') ? 0 : Math.abs(want) * 1e-15;
      assert.ok(Math.abs(got[i]! - want) <= tol, `${c.name} p=${c.percentiles[i]}: got ${got[i]}, numpy ${want}`);
    });
  }
});

test('histogram path (uint16) agrees with the sorting path (float64) on a large frame', () => {
  const n = 1024 * 1024;
  const u16 = new Uint16Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    u16[i] = (s >>> 8) % 40000;
  }
  const ps = [0.1, 50, 99.9];
  assert.deepEqual(percentiles(u16, ps), percentiles(Float64Array.from(u16), ps));
});

test('percentiles reject empty arrays and out-of-range percentiles; NaN propagates as in numpy', () => {
  assert.throws(() => percentiles(new Uint8Array(0), [50]), (e) => e instanceof PssrError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => percentiles(new Uint8Array(3), [101]), PssrError);
  assert.throws(() => percentiles(new Uint8Array(3), [-1]), PssrError);
  assert.ok(Number.isNaN(percentiles(Float32Array.from([1, NaN, 3]), [50])[0]));
});

test('minMax skips NaN', () => {
  assert.deepEqual(minMax(Float32Array.from([3, NaN, -2, 8])), { min: -2, max: 8 });
});
