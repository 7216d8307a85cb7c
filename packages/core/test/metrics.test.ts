import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import { fft, fft2d } from '../src/fft.js';
import { frcResolution, psnr, ssim } from '../src/metrics.js';
import { createRng } from '../src/rng.js';
import { loadVectors } from './helpers.js';

interface MetricCase { name: string; height: number; width: number; reference: number[]; test: number[]; dataRange: number; psnr: number; ssim: number }
const { cases } = loadVectors<{ cases: MetricCase[] }>('metrics.json');

test('PSNR and SSIM match scikit-image 0.19 within 1e-3 (real ssTEM/fluorescence crops and synthetic images)', () => {
  assert.ok(cases.length >= 6);
  for (const c of cases) {
    const ref = Float64Array.from(c.reference);
    const tst = Float32Array.from(c.test);
    const p = psnr(ref, tst);
    const s = ssim(ref, tst, c.height, c.width);
    assert.ok(Math.abs(p - c.psnr) < 1e-6, `${c.name}: psnr ${p} vs skimage ${c.psnr}`);
    assert.ok(Math.abs(s - c.ssim) < 1e-6, `${c.name}: ssim ${s} vs skimage ${c.ssim}`);
    // explicit data range gives the same numbers
    assert.ok(Math.abs(ssim(ref, tst, c.height, c.width, c.dataRange) - c.ssim) < 1e-6);
    assert.ok(Math.abs(psnr(ref, tst, c.dataRange) - c.psnr) < 1e-6);
  }
});

test('identical images: PSNR is Infinity, SSIM is 1; size errors are PssrErrors', () => {
  const a = Float32Array.from({ length: 100 }, (_, i) => (i * 37) % 11);
  assert.equal(psnr(a, a), Infinity);
  assert.ok(Math.abs(ssim(a, a, 10, 10) - 1) < 1e-12);
  assert.throws(() => psnr(a, a.subarray(1)), PssrError);
  assert.throws(() => ssim(a, a, 5, 20), PssrError);
  assert.throws(() => ssim(a, a, 9, 10), PssrError);
});

test('SSIM keeps its precision on uint16-like data with a large offset (two-pass reference)', () => {
  const h = 24;
  const w = 20;
  const r = createRng(1);
  const ref = Float64Array.from({ length: h * w }, () => 60000 + 100 * r.normal());
  const tst = Float64Array.from(ref, (v) => v + 30 * r.normal());
  const dr = 1000;
  // Direct, centred per-window statistics: no cancellation in E[x^2] - E[x]^2.
  let total = 0;
  let count = 0;
  for (let y = 3; y < h - 3; y++) {
    for (let x = 3; x < w - 3; x++) {
      const xs: number[] = [];
      const ys: number[] = [];
      for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
        xs.push(ref[(y + dy) * w + x + dx]!);
        ys.push(tst[(y + dy) * w + x + dx]!);
      }
      const ux = xs.reduce((s, v) => s + v, 0) / 49;
      const uy = ys.reduce((s, v) => s + v, 0) / 49;
      let vx = 0;
      let vy = 0;
      let vxy = 0;
      for (let i = 0; i < 49; i++) {
        vx += (xs[i]! - ux) ** 2;
        vy += (ys[i]! - uy) ** 2;
        vxy += (xs[i]! - ux) * (ys[i]! - uy);
      }
      vx /= 48;
      vy /= 48;
      vxy /= 48;
      const c1 = (0.01 * dr) ** 2;
      const c2 = (0.03 * dr) ** 2;
      total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      count++;
    }
  }
  const got = ssim(ref, tst, h, w, dr);
  assert.ok(got > 0.8 && got < 1);
  assert.ok(Math.abs(got - total / count) < 1e-9, `${got} vs ${total / count}`);
});

test('fft matches a direct DFT, and the inverse undoes it', () => {
  const n = 64;
  const r = createRng(3);
  const xr = Float64Array.from({ length: n }, () => r.normal());
  const xi = Float64Array.from({ length: n }, () => r.normal());
  const re = Float64Array.from(xr);
  const im = Float64Array.from(xi);
  fft(re, im);
  for (const k of [0, 1, 7, 31, 32, 63]) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < n; j++) {
      const ang = (-2 * Math.PI * j * k) / n;
      sr += xr[j]! * Math.cos(ang) - xi[j]! * Math.sin(ang);
      si += xr[j]! * Math.sin(ang) + xi[j]! * Math.cos(ang);
    }
    assert.ok(Math.abs(re[k]! - sr) < 1e-9 && Math.abs(im[k]! - si) < 1e-9, `bin ${k}`);
  }
  fft(re, im, true);
  for (let j = 0; j < n; j++) assert.ok(Math.abs(re[j]! / n - xr[j]!) < 1e-12);
  // 2D: a pure cosine along x lands in bins (0, 3) and (0, n-3)
  const re2 = new Float64Array(16 * 16);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) re2[y * 16 + x] = Math.cos((2 * Math.PI * 3 * x) / 16);
  const im2 = new Float64Array(256);
  fft2d(re2, im2, 16, 16);
  assert.ok(Math.abs(re2[3]! - 128) < 1e-9 && Math.abs(re2[13]! - 128) < 1e-9);
  assert.ok(Math.abs(re2[16 + 3]!) < 1e-9);
  assert.throws(() => fft(new Float64Array(6), new Float64Array(6)), PssrError);
});

/** A 256x256 random texture blurred with a Gaussian of `sigma` pixels, scaled to unit variance. */
function texture(seed: number, sigma: number, size = 256): Float64Array {
  const r = createRng(seed);
  let img = Float64Array.from({ length: size * size }, () => r.normal());
  const rad = Math.ceil(3 * sigma);
  const k = Float64Array.from({ length: 2 * rad + 1 }, (_, i) => Math.exp(-((i - rad) ** 2) / (2 * sigma * sigma)));
  const ksum = k.reduce((s, v) => s + v, 0);
  for (const horizontal of [true, false]) {
    const out = new Float64Array(img.length);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let s = 0;
        for (let t = -rad; t <= rad; t++) {
          const yy = horizontal ? y : (y + t + size) % size;
          const xx = horizontal ? (x + t + size) % size : x;
          s += k[t + rad]! * img[yy * size + xx]!;
        }
        out[y * size + x] = s / ksum;
      }
    }
    img = out;
  }
  let m = 0;
  for (const v of img) m += v;
  m /= img.length;
  let v2 = 0;
  for (const v of img) v2 += (v - m) ** 2;
  const sd = Math.sqrt(v2 / img.length);
  return img.map((v) => (v - m) / sd);
}

function plusNoise(signal: Float64Array, sigma: number, seed: number): Float64Array {
  const r = createRng(seed);
  return signal.map((v) => v + sigma * r.normal());
}

test('FRC: two noisy acquisitions of one field give a finite resolution; blurring makes it coarser', () => {
  const n = 256;
  const sharp = texture(10, 1.5);
  const frcSharp = frcResolution(plusNoise(sharp, 0.5, 1), plusNoise(sharp, 0.5, 2), n, n);
  assert.ok(frcSharp.crossed);
  assert.ok(frcSharp.curve[5]! > 0.9, `low frequencies correlate: ${frcSharp.curve[5]}`);
  assert.ok(frcSharp.resolution > 2 && frcSharp.resolution < 32, `sharp: ${frcSharp.resolution}`);

  const blurred = texture(10, 4);
  const frcBlur = frcResolution(plusNoise(blurred, 0.5, 1), plusNoise(blurred, 0.5, 2), n, n);
  assert.ok(frcBlur.crossed);
  assert.ok(frcBlur.resolution > 1.5 * frcSharp.resolution, `blurred ${frcBlur.resolution} vs sharp ${frcSharp.resolution}`);

  // the result scales with the pixel size; frequencies are in cycles per unit
  const nm = frcResolution(plusNoise(sharp, 0.5, 1), plusNoise(sharp, 0.5, 2), n, n, 4.6);
  assert.ok(Math.abs(nm.resolution - 4.6 * frcSharp.resolution) < 1e-9);
  assert.equal(nm.curve.length, n / 2 + 1);
  assert.ok(Math.abs(nm.frequencies[n / 2]! - 0.5 / 4.6) < 1e-12);
});

test('FRC: an image with itself never crosses (Nyquist, 2 px); unrelated noise crosses at once', () => {
  const img = texture(20, 1, 64);
  const same = frcResolution(img, img, 64, 64);
  assert.equal(same.crossed, false);
  assert.equal(same.resolution, 2);
  assert.ok(same.curve.slice(1).every((v) => Math.abs(v - 1) < 1e-9));
  const r = createRng(5);
  const a = Float64Array.from({ length: 64 * 48 }, () => r.normal());
  const b = Float64Array.from({ length: 64 * 48 }, () => r.normal());
  const unrelated = frcResolution(a, b, 48, 64);
  assert.ok(unrelated.crossed);
  assert.ok(unrelated.resolution > 16, `unrelated: ${unrelated.resolution}`);
});
