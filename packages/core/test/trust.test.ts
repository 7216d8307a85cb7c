/** The trust statistics of issue 8: consistency, noise, SNR, pixel size, flags, correlations, dihedral transforms. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DIHEDRAL_COUNT,
  LOCAL_WINDOW,
  assessFrame,
  backgroundBlock,
  bilinearSnr,
  checkPixelSize,
  consistency,
  createRng,
  dihedral,
  dihedralShape,
  downsample4,
  estimateNoiseSigma,
  flaggedRegions,
  frameFlags,
  pearson,
  ranks,
  snr,
  spearman,
  summarize,
  trustThresholds,
  upsampleBilinear4,
} from '../src/index.js';
import type { Normalization, TrustCalibration } from '../src/index.js';

const NORM: Normalization = { mode: 'percentile', low: 0.1, high: 99.9 };

/** A smooth HR test image (blobs on a gradient), H x W, values roughly 20..230. */
function smoothImage(H: number, W: number, seed = 1): Float32Array {
  const rng = createRng(seed);
  const blobs = Array.from({ length: 12 }, () => ({ y: rng.uniform() * H, x: rng.uniform() * W, r: 6 + rng.uniform() * 20, a: 40 + rng.uniform() * 80 }));
  const img = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 20 + (60 * x) / W;
      for (const b of blobs) v += b.a * Math.exp(-((y - b.y) ** 2 + (x - b.x) ** 2) / (2 * b.r * b.r));
      img[y * W + x] = Math.min(v, 250);
    }
  }
  return img;
}

function withNoise(a: Float32Array, sigma: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return a.map((v) => v + sigma * rng.normal());
}

test('spearman and pearson: monotone maps give 1, reversal -1, ties get average ranks (as scipy)', () => {
  const a = [3, 1, 4, 1, 5, 9, 2, 6];
  assert.ok(Math.abs(spearman(a, a.map((v) => Math.exp(v))) - 1) < 1e-12);
  assert.ok(Math.abs(spearman(a, a.map((v) => -v)) + 1) < 1e-12);
  assert.deepEqual([...ranks([10, 20, 20, 30])], [1, 2.5, 2.5, 4]);
  // scipy.stats.spearmanr on the same series
  assert.ok(Math.abs(spearman([1, 2, 2, 3, 10], [3, 1, 4, 1, 5]) - 0.2894736842105264) < 1e-12);
  assert.ok(Math.abs(spearman([0.5, 0.5, 0.5, 1, 2], [1, 2, 3, 4, 5]) - 0.8944271909999159) < 1e-12);
  assert.equal(pearson([1, 1, 1], [1, 2, 3]), 0, 'a constant series has no correlation');
});

test('the noise estimate recovers the sigma of pure Gaussian noise and errs high, not low, on structure', () => {
  const noise = withNoise(new Float32Array(256 * 256).fill(100), 5, 7);
  const est = estimateNoiseSigma(noise, 256, 256);
  assert.ok(Math.abs(est / 5 - 1) < 0.05, `estimated ${est} for sigma 5`);
  const structured = withNoise(downsample4(smoothImage(512, 512), 512, 512).data, 2, 8);
  const est2 = estimateNoiseSigma(structured, 128, 128);
  assert.ok(est2 >= 2 * 0.9, `estimated ${est2} for sigma 2 on a smooth image`);
});

test('a restoration that maps back onto the measured frame exactly is consistent; noise shows as residual at the noise level', () => {
  const H = 256;
  const hr = smoothImage(H, H);
  const lr = downsample4(hr, H, H).data;
  const exact = consistency(lr, hr, H / 4, H / 4, NORM);
  assert.ok(exact.rse < 1e-5, `rse ${exact.rse}`);
  assert.ok(exact.rsp > 0.99999, `rsp ${exact.rsp}`);
  // Intensity is fitted linearly (as NanoJ-SQUIRREL does): a rescaled restoration is just as consistent.
  const rescaled = consistency(lr, hr.map((v) => 0.5 * v + 30), H / 4, H / 4, NORM);
  assert.ok(rescaled.rse < 1e-5, `rescaled rse ${rescaled.rse}`);
  assert.ok(Math.abs(rescaled.fit.gain - 2) < 1e-3, `gain ${rescaled.fit.gain}`);
  // A noisy measurement of the same scene: the residual is the noise, rseToNoise about 1.
  const noisy = withNoise(lr, 3, 9);
  const c = consistency(noisy, hr, H / 4, H / 4, NORM);
  const span = c.range.hi - c.range.lo;
  assert.ok(Math.abs((c.rse * span) / 3 - 1) < 0.1, `rse ${c.rse * span} in intensity units for noise sigma 3`);
  assert.ok(c.rseToNoise !== null && c.rseToNoise > 0.7 && c.rseToNoise < 1.3, `rse/noise ${c.rseToNoise}`);
  assert.equal(c.residual.length, (H / 4) ** 2);
});

test('a structure pasted into the restoration shows in the local residual map at its place, and only there', () => {
  const H = 256;
  const hr = smoothImage(H, H, 3);
  const lr = withNoise(downsample4(hr, H, H).data, 1, 4);
  const pasted = hr.slice();
  const [cy, cx, r] = [150, 90, 6];
  for (let y = cy - r; y <= cy + r; y++) for (let x = cx - r; x <= cx + r; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= r * r) pasted[y * H + x] = 5;
  const clean = consistency(lr, hr, H / 4, H / 4, NORM);
  const c = consistency(lr, pasted, H / 4, H / 4, NORM);
  assert.ok(c.localPeak > 3 * clean.localPeak, `local peak ${c.localPeak} vs clean ${clean.localPeak}`);
  const regions = flaggedRegions(c.local, H / 4, H / 4, 3 * clean.localPeak);
  assert.equal(regions.length, 1, JSON.stringify(regions));
  const g = regions[0]!;
  const inside = (v: number, lo: number, len: number) => v >= lo && v < lo + len;
  assert.ok(inside(Math.floor(cx / 4), g.x, g.w) && inside(Math.floor(cy / 4), g.y, g.h), `region ${JSON.stringify(g)} holds the disc at LR (${cx / 4}, ${cy / 4})`);
  assert.ok(g.w <= Math.ceil((2 * r) / 4) + LOCAL_WINDOW && g.h <= Math.ceil((2 * r) / 4) + LOCAL_WINDOW, `region ${g.w}x${g.h} is about the disc's size`);
  assert.equal(flaggedRegions(clean.local, H / 4, H / 4, 3 * clean.localPeak).length, 0);
});

test('consistency refuses frames of the wrong size with a clear message', () => {
  assert.throws(() => consistency(new Float32Array(16), new Float32Array(100), 4, 4, NORM), /4x restoration of 4x4 has 256/);
});

test('SNR is (max - background mean) / background sd on the darkest block of the grid', () => {
  const H = 64;
  const img = new Float32Array(H * H).fill(100);
  const rng = createRng(5);
  // A dark, noisy block (rows 8..15, cols 16..23 of the 8x8 grid of 8-px blocks) and one bright pixel.
  for (let y = 8; y < 16; y++) for (let x = 16; x < 24; x++) img[y * H + x] = 10 + (rng.uniform() < 0.5 ? -2 : 2);
  img[40 * H + 40] = 200;
  const b = backgroundBlock(img, H, H);
  assert.deepEqual(b, { y: 8, x: 16, h: 8, w: 8 });
  const value = snr(img, H, H, b)!;
  let m = 0;
  let s = 0;
  for (let y = 8; y < 16; y++) for (let x = 16; x < 24; x++) m += img[y * H + x]! / 64;
  for (let y = 8; y < 16; y++) for (let x = 16; x < 24; x++) s += (img[y * H + x]! - m) ** 2 / 64;
  assert.ok(Math.abs(value - (200 - m) / Math.sqrt(s)) < 1e-6, `snr ${value}`);
  assert.equal(snr(new Float32Array(64).fill(3), 8, 8), null, 'a flat image has no defined SNR');
});

test('bilinearSnr equals snr of the whole bilinear upsampling, computed without making it', () => {
  for (const [h, w, seed] of [[32, 32, 1], [20, 28, 2], [9, 13, 3]] as const) {
    const lr = withNoise(downsample4(smoothImage(4 * h, 4 * w, seed), 4 * h, 4 * w).data, 2, seed);
    const up = upsampleBilinear4(lr, h, w);
    const b = backgroundBlock(lr, h, w);
    // float32 upsampling vs float64 here: equal to 1e-6 relative
    const expected = snr(up, 4 * h, 4 * w, { y: 4 * b.y, x: 4 * b.x, h: 4 * b.h, w: 4 * b.w })!;
    const got = bilinearSnr(lr, h, w, b)!;
    assert.ok(Math.abs(got - expected) < 1e-6 * Math.abs(expected), `${h}x${w}: ${got} vs ${expected}`);
  }
});

test('pixel size: units are converted, a difference above 25% warns, missing sizes are unknown', () => {
  const card = { inputPixelSize: { value: 18.4, unit: 'nm' } };
  assert.equal(checkPixelSize(card, { x: 0.0184, y: 0.0184, unit: 'um' }, 'em').status, 'ok');
  assert.equal(checkPixelSize(card, { x: 0.0184, y: 0.0184, unit: 'micron' }, 'em').status, 'ok');
  const far = checkPixelSize(card, { x: 40, y: 40, unit: 'nm' }, 'em');
  assert.equal(far.status, 'mismatch');
  assert.match(far.message, /40 nm is 2\.17x the 18\.4 nm em was trained for/);
  assert.equal(checkPixelSize(card, { x: 22, y: 22, unit: 'nm' }, 'em').status, 'ok', '20% off is within tolerance');
  assert.equal(checkPixelSize(card, undefined, 'em').status, 'unknown');
  assert.equal(checkPixelSize({ inputPixelSize: null }, { x: 1, y: 1, unit: 'um' }, 'fluo').status, 'unknown');
  assert.equal(checkPixelSize(card, { x: 1, y: 1, unit: 'furlong' }, 'em').status, 'unknown');
  // a card with a trained range (em 2.0.0: 18.4-80 nm) accepts anything inside it
  const range = { ...card, inputPixelSizeRange: { min: 18.4, max: 80, unit: 'nm' } };
  assert.equal(checkPixelSize(range, { x: 40, y: 40, unit: 'nm' }, 'em').status, 'ok');
  // the range's end as a TIFF rational reads it back (18.39999997 nm) is inside
  assert.equal(checkPixelSize(range, { x: 18.39999996829778, y: 18.39999996829778, unit: 'nm' }, 'em').status, 'ok');
  const coarse = checkPixelSize(range, { x: 0.1, y: 0.1, unit: 'um' }, 'em');
  assert.equal(coarse.status, 'mismatch');
  assert.match(coarse.message, /100 nm is outside the 18\.4-80 nm em was trained for/);
});

const CAL: TrustCalibration = {
  data: 'test',
  frames: 10,
  seeds: [1],
  rse: { median: 0.01, p05: 0.008, p95: 0.012 },
  rsp: { median: 0.99, p05: 0.98, p95: 0.995 },
  localPeak: { median: 0.03, p05: 0.02, p95: 0.04 },
  uncertainty: { median: 0.005, p05: 0.004, p95: 0.006 },
  noise: { median: 0.1, p05: 0.09, p95: 0.11 },
  command: 'test',
  computedWith: 'test',
};

test('flags: each statistic outside its calibrated range gets a plain reason naming the model; in range, none', () => {
  const t = trustThresholds({ name: 'em', calibration: CAL })!;
  const normal = { noise: 0.1, rse: 0.012, rsp: 0.98, localPeak: 0.04, uncertainty: 0.006 };
  assert.deepEqual(frameFlags(normal, [], CAL, t, 'em'), []);
  const bad = frameFlags({ noise: 0.03, rse: 0.0372, rsp: 0.9, localPeak: 0.2, uncertainty: 0.02 }, [{ x: 3, y: 4, w: 2, h: 2, pixels: 4, peak: 0.2 }], CAL, t, 'em');
  assert.deepEqual(bad.map((f) => f.kind), ['region', 'input', 'residual', 'correlation', 'uncertainty']);
  assert.equal(bad[2]!.reason, "residual 3.1x this model's validation 95th percentile: the input may not be the kind of data em was trained on");
  assert.match(bad[1]!.reason, /0\.3x this model's validation 5th percentile/);
  assert.match(bad[0]!.reason, /output pixels x 12\.\.19, y 16\.\.23/);
  assert.equal(trustThresholds({ name: 'x' }), null, 'no calibration, no thresholds');
});

test('summarize gives median and 5th/95th percentiles', () => {
  const s = summarize(Array.from({ length: 101 }, (_, i) => i));
  assert.deepEqual(s, { median: 50, p05: 5, p95: 95 });
});

test('dihedral: 8 distinct transforms, each undone by its inverse, on non-square planes', () => {
  const [h, w, planes] = [3, 5, 2];
  const x = Float32Array.from({ length: planes * h * w }, (_, i) => i);
  const seen = new Set<string>();
  for (let g = 0; g < DIHEDRAL_COUNT; g++) {
    const [H, W] = dihedralShape(g, h, w);
    const y = dihedral(x, planes, h, w, g);
    seen.add(Array.from(y).join(','));
    assert.deepEqual(Array.from(dihedral(y, planes, H, W, g, true)), Array.from(x), `g=${g}`);
  }
  assert.equal(seen.size, DIHEDRAL_COUNT);
  // g = 4 is the plain transpose.
  const t = dihedral(x, 1, h, w, 4);
  assert.equal(t[1 * h + 2], x[2 * w + 1]);
});

test('assessFrame reports statistics without flags when the card has no calibration, and flags with one', () => {
  const H = 128;
  const hr = smoothImage(H, H, 11);
  const lr = Float32Array.from(withNoise(downsample4(hr, H, H).data, 1, 12));
  const card = { name: 'm', normalization: NORM };
  const plain = assessFrame({ index: 0, lr, restored: hr, height: H / 4, width: H / 4 }, card, null);
  assert.deepEqual(plain.stats.flags, []);
  assert.equal(plain.stats.uncertainty, null);
  assert.ok(plain.stats.snr.bilinear !== null && plain.stats.snr.restored !== null);
  // A calibration whose residual tail lies far below this frame's: flagged as a residual outlier.
  const tight = { ...CAL, rse: { median: plain.stats.rse / 10, p05: plain.stats.rse / 12, p95: plain.stats.rse / 8 }, noise: { median: plain.stats.noise, p05: plain.stats.noise, p95: plain.stats.noise } };
  const calibrated = { ...card, calibration: tight };
  const flagged = assessFrame({ index: 0, lr, restored: hr, height: H / 4, width: H / 4 }, calibrated, trustThresholds(calibrated));
  assert.ok(flagged.stats.flags.some((f) => f.kind === 'residual'), JSON.stringify(flagged.stats.flags));
});

test('a local disagreement is reported as a region only: the frame-level residual outside it is in range', () => {
  const H = 256;
  const hr = smoothImage(H, H, 21);
  const lr = Float32Array.from(withNoise(downsample4(hr, H, H).data, 1, 22));
  const card = { name: 'm', normalization: NORM };
  const clean = assessFrame({ index: 0, lr, restored: hr, height: H / 4, width: H / 4 }, card, null).stats;
  const cal: TrustCalibration = {
    ...CAL,
    rse: { median: clean.rse, p05: clean.rse, p95: clean.rse },
    rsp: { median: clean.rsp, p05: clean.rsp, p95: clean.rsp },
    localPeak: { median: clean.localPeak, p05: clean.localPeak, p95: clean.localPeak },
    noise: { median: 0.1, p05: 0, p95: 10 },
  };
  const calibrated = { ...card, calibration: cal };
  const pasted = hr.slice();
  for (let y = 120; y < 130; y++) for (let x = 80; x < 90; x++) pasted[y * H + x] = 0;
  const s = assessFrame({ index: 0, lr, restored: pasted, height: H / 4, width: H / 4 }, calibrated, trustThresholds(calibrated)).stats;
  assert.ok(s.rse > 1.5 * clean.rse, 'the disc raises the frame residual');
  assert.deepEqual(s.flags.map((f) => f.kind), ['region'], JSON.stringify({ clean: [clean.rse, clean.rsp], s: [s.rse, s.rsp], regions: s.regions, flags: s.flags.map((f) => [f.value, f.threshold]) }));
});
