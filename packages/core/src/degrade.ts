/**
 * Degradation ("crappification", PSSR, Fang et al.): an HR frame becomes the LR frame a point-scanning
 * microscope would record at 4x larger pixels. Specification: docs/CONTRACTS.md "Degradation"; the Python
 * trainer implements the same rules and both check test/vectors/degrade.json.
 */
import { PssrError } from './errors.js';
import type { DegradationRecipe, DegradationSpec } from './modelcard.js';
import { createRng } from './rng.js';
import { percentiles } from './stats.js';
import type { FrameArray } from './types.js';

const DEFAULT_POISSON_PEAK = 30;

/**
 * The paper's recipes on the 0-255 scale: EM = Gaussian sigma 3; fluorescence = salt-and-pepper on
 * 0.5% of pixels then Gaussian sigma 5; plus a Poisson option (peak 30) and `none` for exact test vectors.
 */
export function degradationSpec(recipe: DegradationRecipe): DegradationSpec {
  const base = { recipe, scale: 4 as const, sampling: 'centre-mean-2x2' as const, percentiles: [0.1, 99.9] as [number, number] };
  switch (recipe) {
    case 'em':
      return { ...base, gaussianSigma: 3, saltPepper: 0, poissonPeak: null };
    case 'fluo':
      return { ...base, gaussianSigma: 5, saltPepper: 0.005, poissonPeak: null };
    case 'poisson':
      return { ...base, gaussianSigma: 0, saltPepper: 0, poissonPeak: DEFAULT_POISSON_PEAK };
    case 'none':
      return { ...base, gaussianSigma: 0, saltPepper: 0, poissonPeak: null };
    default:
      throw new PssrError(
        'INVALID_ARGUMENT',
        `unknown degradation recipe ${JSON.stringify(recipe)}; allowed: em, fluo, poisson, none.`,
      );
  }
}

function checkSpec(spec: DegradationSpec): void {
  const bad = (what: string) => {
    throw new PssrError('INVALID_ARGUMENT', `degradation spec: ${what}.`);
  };
  if (!['em', 'fluo', 'poisson', 'none'].includes(spec.recipe)) bad(`unknown recipe ${JSON.stringify(spec.recipe)} (allowed: em, fluo, poisson, none)`);
  if (spec.scale !== 4) bad(`scale ${String(spec.scale)} is not supported (allowed: 4)`);
  if (spec.sampling !== 'centre-mean-2x2') bad(`sampling ${JSON.stringify(spec.sampling)} is not supported (allowed: centre-mean-2x2)`);
  if (!(spec.gaussianSigma >= 0 && Number.isFinite(spec.gaussianSigma))) bad(`gaussianSigma ${spec.gaussianSigma} must be a finite number >= 0`);
  if (!(spec.saltPepper >= 0 && spec.saltPepper <= 1)) bad(`saltPepper ${spec.saltPepper} must be in 0..1`);
  if (spec.poissonPeak !== null && !(spec.poissonPeak > 0 && Number.isFinite(spec.poissonPeak))) bad(`poissonPeak ${spec.poissonPeak} must be null or a number > 0`);
  const [pl, ph] = spec.percentiles ?? [];
  if (!(typeof pl === 'number' && typeof ph === 'number' && pl >= 0 && ph <= 100 && pl < ph)) bad('percentiles must be [low, high] with 0 <= low < high <= 100');
}

/** The percentile range of step 1 (`hi <= lo` -> `hi = lo + 1`), over the frame already cropped to multiples of 4. */
export function degradationRange(frame: FrameArray, height: number, width: number, spec: DegradationSpec): { lo: number; hi: number } {
  const h4 = height - (height % 4);
  const w4 = width - (width % 4);
  let cropped: FrameArray = frame;
  if (h4 !== height || w4 !== width) {
    cropped = new (frame.constructor as new (n: number) => FrameArray)(h4 * w4);
    for (let y = 0; y < h4; y++) cropped.set(frame.subarray(y * width, y * width + w4), y * w4);
  }
  const [lo, hi] = percentiles(cropped, spec.percentiles) as [number, number];
  return { lo, hi: hi <= lo ? lo + 1 : hi };
}

/**
 * Degrades an HR frame (height x width, row-major) to LR (floor(height/4) x floor(width/4)), float32 in
 * the frame's own intensity scale:
 * 1. crop to multiples of 4; lo, hi = spec.percentiles of the cropped frame; s = (x - lo) / (hi - lo) * 255;
 * 2. noise on s, per pixel in this order: Poisson (recipe 'poisson': s = Poisson(max(s,0)/255*peak)/peak*255),
 *    salt-and-pepper (probability saltPepper, 0 or 255 with equal odds), Gaussian (sigma gaussianSigma);
 * 3. LR = mean of the 2x2 HR pixels around each LR pixel centre (4i+1..4i+2, 4j+1..4j+2);
 * 4. x = s / 255 * (hi - lo) + lo.
 * Noise is drawn only for the 4 HR pixels each LR pixel samples: the other 12 are discarded by step 3, and
 * the noise is independent per pixel, so the result has the same distribution at a quarter of the cost.
 * The same `seed` gives the same output.
 */
export function degrade(
  frame: FrameArray,
  height: number,
  width: number,
  spec: DegradationSpec,
  seed: number,
): { data: Float32Array; height: number; width: number } {
  checkSpec(spec);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 4 || width < 4) {
    throw new PssrError('INVALID_ARGUMENT', `degrade: image size ${height}x${width} is too small; both sides must be at least 4.`);
  }
  if (frame.length !== height * width) {
    throw new PssrError('INVALID_ARGUMENT', `degrade: the frame holds ${frame.length} samples, ${height}x${width} needs ${height * width}.`, false);
  }
  const { lo, hi } = degradationRange(frame, height, width, spec);
  const span = hi - lo;
  const lh = Math.floor(height / 4);
  const lw = Math.floor(width / 4);
  const data = new Float32Array(lh * lw);

  const rng = createRng(seed);
  const peak = spec.recipe === 'poisson' ? (spec.poissonPeak ?? DEFAULT_POISSON_PEAK) : 0;
  const sp = spec.saltPepper;
  const sigma = spec.gaussianSigma;
  const noisy = peak > 0 || sp > 0 || sigma > 0;
  const noise = (s: number): number => {
    if (peak > 0) s = (rng.poisson((Math.max(s, 0) / 255) * peak) / peak) * 255;
    if (sp > 0 && rng.uniform() < sp) s = rng.uniform() < 0.5 ? 0 : 255;
    if (sigma > 0) s += sigma * rng.normal();
    return s;
  };

  for (let i = 0; i < lh; i++) {
    const r1 = (4 * i + 1) * width;
    const r2 = r1 + width;
    for (let j = 0; j < lw; j++) {
      const c = 4 * j + 1;
      let s00 = ((frame[r1 + c]! - lo) / span) * 255;
      let s01 = ((frame[r1 + c + 1]! - lo) / span) * 255;
      let s10 = ((frame[r2 + c]! - lo) / span) * 255;
      let s11 = ((frame[r2 + c + 1]! - lo) / span) * 255;
      if (noisy) {
        s00 = noise(s00);
        s01 = noise(s01);
        s10 = noise(s10);
        s11 = noise(s11);
      }
      const s = (s00 + s01 + s10 + s11) / 4;
      data[i * lw + j] = (s / 255) * span + lo;
    }
  }
  return { data, height: lh, width: lw };
}
