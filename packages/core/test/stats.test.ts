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

test('float selection path agrees with a full sort on sorted, reversed, constant and few-valued arrays', () => {
  const ps = [0, 0.1, 10, 50, 77.7, 99.9, 100];
  const bySort = (a: Float64Array, p: number) => {
    const s = Float64Array.from(a).sort();
    const v = (s.length - 1) * (p / 100);
    const i = Math.floor(v);
    const j = Math.min(i + 1, s.length - 1);
    const g = v - i;
    const d = s[j]! - s[i]!;
    return g >= 0.5 ? s[j]! - d * (1 - g) : s[i]! + d * g;
  };
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const arrays = [
    Float64Array.from({ length: 1001 }, (_, i) => i),
    Float64Array.from({ length: 1000 }, (_, i) => -i * 0.5),
    new Float64Array(333).fill(2.5),
    Float64Array.from({ length: 5000 }, () => Math.floor(rand() * 3)),
    Float64Array.from({ length: 4097 }, () => rand() * 1e6 - 5e5),
  ];
  for (const a of arrays) {
    const got = percentiles(a, ps);
    ps.forEach((p, i) => assert.equal(got[i], bySort(a, p), `n=${a.length} p=${p}`));
  }
});
