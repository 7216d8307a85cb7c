import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng, logGamma } from '../src/rng.js';
import { mean, std } from './helpers.js';

test('same seed, same stream; different seeds, different streams', () => {
  const a = createRng(5);
  const b = createRng(5);
  const c = createRng(6);
  const big = createRng(2 ** 40 + 5);
  const sa = Array.from({ length: 8 }, () => a.uint32());
  assert.deepEqual(sa, Array.from({ length: 8 }, () => b.uint32()));
  assert.notDeepEqual(sa, Array.from({ length: 8 }, () => c.uint32()));
  assert.notDeepEqual(sa, Array.from({ length: 8 }, () => big.uint32()));
});

test('uniform, normal and Poisson draws have the right moments', () => {
  const r = createRng(123);
  const n = 200_000;
  const u = Float64Array.from({ length: n }, () => r.uniform());
  assert.ok(u.every((v) => v >= 0 && v < 1));
  assert.ok(Math.abs(mean(u) - 0.5) < 0.003);
  const g = Float64Array.from({ length: n }, () => r.normal());
  assert.ok(Math.abs(mean(g)) < 0.01);
  assert.ok(Math.abs(std(g) - 1) < 0.01);
  for (const lambda of [0.5, 3, 9.9, 10, 30, 400]) {
    const p = Float64Array.from({ length: 50_000 }, () => r.poisson(lambda));
    assert.ok(p.every((v) => Number.isInteger(v) && v >= 0));
    const se = Math.sqrt(lambda / p.length);
    assert.ok(Math.abs(mean(p) - lambda) < 5 * se, `lambda ${lambda}: mean ${mean(p)}`);
    assert.ok(Math.abs(std(p) ** 2 / lambda - 1) < 0.05, `lambda ${lambda}: var ${std(p) ** 2}`);
  }
  assert.equal(r.poisson(0), 0);
});

test('logGamma matches log((x-1)!)', () => {
  let f = 0;
  for (let k = 1; k < 30; k++) {
    assert.ok(Math.abs(logGamma(k) - f) < 1e-10 * Math.max(1, f), `logGamma(${k})`);
    f += Math.log(k);
  }
  assert.ok(Math.abs(logGamma(0.5) - Math.log(Math.sqrt(Math.PI))) < 1e-10);
});
