/**
 * Consistency of a restoration with the measured LR frame, without ground truth (issue 8, after
 * NanoJ-SQUIRREL, Culley et al. 2018): map the restored frame back onto the LR grid with the card's
 * noise-free sampling geometry (docs/CONTRACTS.md: mean of the 2x2 HR pixels around each LR pixel centre),
 * fit intensity linearly to the normalised LR frame, and measure what is left. A restoration that invents
 * or drops structure the acquisition does not support leaves residual well above the noise. What survives
 * the downsampling unseen (errors finer than an LR pixel that average out) cannot show up here.
 */
import { PssrError } from '../errors.js';
import { downsample4 } from '../interp.js';
import type { Normalization } from '../modelcard.js';
import { normalizationRange } from '../normalize.js';
import type { NormRange } from '../normalize.js';
import { percentiles } from '../stats.js';
import type { FrameArray } from '../types.js';
import { pearson } from './correlation.js';

/** Edge (LR pixels) of the window over which the local residual map is averaged (about a vesicle's size at 4x). */
export const LOCAL_WINDOW = 5;

export interface ConsistencyResult {
  /** Root-mean-square residual, in units of the LR frame's normalisation range (hi - lo). */
  rse: number;
  /** rse divided by the LR frame's estimated noise sigma (null when the frame looks noise-free). */
  rseToNoise: number | null;
  /** Pearson correlation of the LR frame and the restoration mapped back onto the LR grid. */
  rsp: number;
  /** Estimated LR noise sigma, normalised units (see estimateNoiseSigma). */
  noise: number;
  /** LR ~ gain * downsampled(restored) + offset, in the input's intensity units. */
  fit: { gain: number; offset: number };
  /** |LR - fit| per LR pixel, in the input's intensity units (the consistency map). */
  residual: Float32Array;
  /** RMS residual over a LOCAL_WINDOW x LOCAL_WINDOW window around each LR pixel, normalised units. */
  local: Float32Array;
  /** 99.9th percentile of `local`: how bad the worst small region is. */
  localPeak: number;
  /** The LR frame's normalisation range (the card's rule) that defines "normalised units". */
  range: NormRange;
  /** With `exclude`: RSE and RSP over the pixels not excluded. */
  outside?: { rse: number; rsp: number };
}

/**
 * Robust noise sigma of a frame (Donoho & Johnstone 1994): the median absolute value of the finest
 * diagonal Haar coefficients, (a - b - c + d) / 2 over disjoint 2x2 blocks, divided by 0.6745. For
 * independent noise of sigma s those coefficients have sigma s; structure adds only a few large ones,
 * which the median ignores. Undersampled frames carry fine structure, so this errs high: on 4x undersampled
 * EM it is mostly sub-pixel texture. The report therefore also uses it as a description of the input
 * (its fine-scale contrast), compared with the model's validation inputs.
 */
export function estimateNoiseSigma(frame: ArrayLike<number>, height: number, width: number): number {
  const bh = Math.floor(height / 2);
  const bw = Math.floor(width / 2);
  if (bh === 0 || bw === 0) return 0;
  const hh = new Float32Array(bh * bw);
  for (let i = 0; i < bh; i++) {
    const r0 = 2 * i * width;
    const r1 = r0 + width;
    for (let j = 0; j < bw; j++) {
      const c = 2 * j;
      hh[i * bw + j] = Math.abs(frame[r0 + c]! - frame[r0 + c + 1]! - frame[r1 + c]! + frame[r1 + c + 1]!) / 2;
    }
  }
  return percentiles(hh, [50])[0]! / 0.6745;
}

/**
 * The consistency check of one frame: `lr` (height x width, as measured) against `restored`
 * (4 height x 4 width, any dtype), with the LR frame normalised by the card's `normalization`.
 * `exclude` (1 per LR pixel to leave out) keeps already found local defects out of the intensity fit,
 * which they would skew everywhere; `outside` then gives RSE and RSP over the other pixels.
 */
export function consistency(lr: FrameArray, restored: FrameArray, height: number, width: number, normalization: Normalization, exclude?: Uint8Array): ConsistencyResult {
  checkSizes(lr, restored, height, width);
  const range = normalizationRange(lr, normalization);
  const span = range.hi - range.lo;
  const back = downsample4(restored, 4 * height, 4 * width).data;
  const fit = linearFit(back, lr, exclude);
  const n = lr.length;
  const residual = new Float32Array(n);
  const squared = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const r = lr[i]! - (fit.gain * back[i]! + fit.offset);
    residual[i] = Math.abs(r);
    squared[i] = (r / span) ** 2;
    sum += squared[i]!;
  }
  const rse = Math.sqrt(sum / n);
  const noise = estimateNoiseSigma(lr, height, width) / span;
  const local = localRms(squared, height, width, LOCAL_WINDOW);
  return {
    ...(exclude ? { outside: statsOutside(lr, back, squared, exclude) } : {}),
    rse,
    rseToNoise: noise > 0 ? rse / noise : null,
    rsp: pearson(lr, back),
    noise,
    fit,
    residual,
    local,
    localPeak: percentiles(local, [99.9])[0]!,
    range,
  };
}

function statsOutside(lr: FrameArray, back: Float32Array, squared: Float64Array, exclude: Uint8Array): { rse: number; rsp: number } {
  const keep: number[] = [];
  for (let i = 0; i < lr.length; i++) if (!exclude[i]) keep.push(i);
  if (keep.length < 2) return { rse: 0, rsp: 1 };
  let sum = 0;
  for (const i of keep) sum += squared[i]!;
  return { rse: Math.sqrt(sum / keep.length), rsp: pearson(Float64Array.from(keep, (i) => lr[i]!), Float64Array.from(keep, (i) => back[i]!)) };
}

function checkSizes(lr: FrameArray, restored: FrameArray, height: number, width: number): void {
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 1 && width >= 1) || lr.length !== height * width) {
    throw new PssrError('INVALID_ARGUMENT', `consistency: the LR frame holds ${lr.length} samples, ${width}x${height} needs ${height * width}.`, false);
  }
  if (restored.length !== 16 * height * width) {
    throw new PssrError('INVALID_ARGUMENT', `consistency: the restored frame holds ${restored.length} samples; a 4x restoration of ${width}x${height} has ${16 * height * width}.`, false);
  }
}

/** Least squares y ~ gain * x + offset over the pixels not excluded (gain 0 when x is constant). */
function linearFit(x: Float32Array, y: FrameArray, exclude?: Uint8Array): { gain: number; offset: number } {
  let n = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < x.length; i++) {
    if (exclude?.[i]) continue;
    mx += x[i]!;
    my += y[i]!;
    n++;
  }
  if (n === 0) return { gain: 0, offset: 0 };
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < x.length; i++) {
    if (exclude?.[i]) continue;
    const dx = x[i]! - mx;
    sxy += dx * (y[i]! - my);
    sxx += dx * dx;
  }
  const gain = sxx > 0 ? sxy / sxx : 0;
  return { gain, offset: my - gain * mx };
}

/** sqrt of the mean of `squared` over a size x size window (clipped at the borders), via a summed-area table. */
function localRms(squared: Float64Array, height: number, width: number, size: number): Float32Array {
  const W = width + 1;
  const sat = new Float64Array((height + 1) * W);
  for (let i = 0; i < height; i++) {
    let row = 0;
    for (let j = 0; j < width; j++) {
      row += squared[i * width + j]!;
      sat[(i + 1) * W + j + 1] = sat[i * W + j + 1]! + row;
    }
  }
  const r = Math.floor(size / 2);
  const out = new Float32Array(height * width);
  for (let i = 0; i < height; i++) {
    const y0 = Math.max(0, i - r);
    const y1 = Math.min(height, i + r + 1);
    for (let j = 0; j < width; j++) {
      const x0 = Math.max(0, j - r);
      const x1 = Math.min(width, j + r + 1);
      const s = sat[y1 * W + x1]! - sat[y0 * W + x1]! - sat[y1 * W + x0]! + sat[y0 * W + x0]!;
      out[i * width + j] = Math.sqrt(Math.max(0, s) / ((y1 - y0) * (x1 - x0)));
    }
  }
  return out;
}
