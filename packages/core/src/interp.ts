/**
 * 4x resampling with the pixel-centre geometry of docs/CONTRACTS.md (PSSR, Fang et al.: 4x undersampling
 * per axis). LR pixel i covers HR pixels 4i..4i+3 and sits at HR coordinate 4i+1.5, so HR pixel j sits at
 * LR coordinate (j - 1.5) / 4 = (j + 0.5) / 4 - 0.5: PyTorch `align_corners=False`, ONNX `half_pixel`.
 * A corner-aligned grid would shift images by up to 1.5 HR pixels towards the borders.
 */
import { PssrError } from './errors.js';
import type { FrameArray } from './types.js';

export const SCALE = 4;

/** Per output index along one axis: K source indices (edge-clamped) and their weights. */
interface AxisTaps {
  k: number;
  index: Int32Array;
  weight: Float64Array;
}

function checkShape(src: ArrayLike<number>, h: number, w: number, what: string, min = 1): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < min || w < min) {
    throw new PssrError('INVALID_ARGUMENT', `${what}: image size ${h}x${w} is invalid; need integer sides >= ${min}.`, false);
  }
  if (src.length !== h * w) {
    throw new PssrError('INVALID_ARGUMENT', `${what}: the array holds ${src.length} samples, ${h}x${w} needs ${h * w}.`, false);
  }
}

const clampIndex = (i: number, n: number): number => (i < 0 ? 0 : i > n - 1 ? n - 1 : i);

function bilinearTaps(n: number): AxisTaps {
  const m = n * SCALE;
  const index = new Int32Array(m * 2);
  const weight = new Float64Array(m * 2);
  for (let j = 0; j < m; j++) {
    // PyTorch clamps negative source coordinates to 0 for linear modes; with edge clamping that is the
    // same value, and it keeps the taps identical to F.interpolate's.
    const src = Math.max((j + 0.5) / SCALE - 0.5, 0);
    const i0 = Math.floor(src);
    const t = src - i0;
    index[2 * j] = clampIndex(i0, n);
    index[2 * j + 1] = clampIndex(i0 + 1, n);
    weight[2 * j] = 1 - t;
    weight[2 * j + 1] = t;
  }
  return { k: 2, index, weight };
}

/** Keys cubic convolution kernel with a = -0.5 (PIL's BICUBIC; PyTorch and OpenCV use -0.75). */
export function keysCubic(x: number, a = -0.5): number {
  const ax = Math.abs(x);
  if (ax <= 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return ((ax - 5) * ax + 8) * ax * a - 4 * a;
  return 0;
}

function bicubicTaps(n: number): AxisTaps {
  const m = n * SCALE;
  const index = new Int32Array(m * 4);
  const weight = new Float64Array(m * 4);
  for (let j = 0; j < m; j++) {
    const src = (j + 0.5) / SCALE - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    for (let k = 0; k < 4; k++) {
      index[4 * j + k] = clampIndex(i0 - 1 + k, n);
      weight[4 * j + k] = keysCubic(t + 1 - k);
    }
  }
  return { k: 4, index, weight };
}

/** Separable resampling: rows first (into a float64 buffer), then columns. */
function resample(src: ArrayLike<number>, h: number, w: number, rows: AxisTaps, cols: AxisTaps): Float32Array {
  const W = cols.index.length / cols.k;
  const H = rows.index.length / rows.k;
  const tmp = new Float64Array(h * W);
  const ck = cols.k;
  const ci = cols.index;
  const cw = cols.weight;
  for (let y = 0; y < h; y++) {
    const base = y * w;
    const o = y * W;
    // Unrolled for the two kernels: this loop dominates the cost.
    if (ck === 2) {
      for (let x = 0; x < W; x++) {
        const t = 2 * x;
        tmp[o + x] = cw[t]! * src[base + ci[t]!]! + cw[t + 1]! * src[base + ci[t + 1]!]!;
      }
    } else {
      for (let x = 0; x < W; x++) {
        const t = 4 * x;
        tmp[o + x] =
          cw[t]! * src[base + ci[t]!]! +
          cw[t + 1]! * src[base + ci[t + 1]!]! +
          cw[t + 2]! * src[base + ci[t + 2]!]! +
          cw[t + 3]! * src[base + ci[t + 3]!]!;
      }
    }
  }
  const out = new Float32Array(H * W);
  const acc = new Float64Array(W);
  const rk = rows.k;
  for (let y = 0; y < H; y++) {
    acc.fill(0);
    for (let k = 0; k < rk; k++) {
      const wt = rows.weight[y * rk + k]!;
      if (wt === 0) continue;
      const r = rows.index[y * rk + k]! * W;
      for (let x = 0; x < W; x++) acc[x]! += wt * tmp[r + x]!;
    }
    out.set(acc, y * W);
  }
  return out;
}

/** Bilinear 4x upsampling (h x w -> 4h x 4w), pixel centres, edge clamp: PyTorch F.interpolate bilinear. */
export function upsampleBilinear4(src: Float32Array, h: number, w: number): Float32Array {
  checkShape(src, h, w, 'upsampleBilinear4');
  return resample(src, h, w, bilinearTaps(h), bilinearTaps(w));
}

/** Bicubic 4x upsampling (Keys a = -0.5), pixel centres, edge clamp. */
export function upsampleBicubic4(src: Float32Array, h: number, w: number): Float32Array {
  checkShape(src, h, w, 'upsampleBicubic4');
  return resample(src, h, w, bicubicTaps(h), bicubicTaps(w));
}

/**
 * 4x first-order downsampling at LR pixel centres: LR (i, j) = mean of HR (4i+1..4i+2) x (4j+1..4j+2).
 * An HR image whose sides are not multiples of 4 is cropped at the bottom/right.
 */
export function downsample4(src: Float32Array | FrameArray, h: number, w: number): { data: Float32Array; height: number; width: number } {
  checkShape(src, h, w, 'downsample4', SCALE);
  const height = Math.floor(h / SCALE);
  const width = Math.floor(w / SCALE);
  const data = new Float32Array(height * width);
  for (let i = 0; i < height; i++) {
    const r1 = (SCALE * i + 1) * w;
    const r2 = r1 + w;
    for (let j = 0; j < width; j++) {
      const c = SCALE * j + 1;
      data[i * width + j] = (src[r1 + c]! + src[r1 + c + 1]! + src[r2 + c]! + src[r2 + c + 1]!) / 4;
    }
  }
  return { data, height, width };
}
