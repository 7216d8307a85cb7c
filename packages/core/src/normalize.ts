/**
 * Model input/output normalisation, exactly as the model card's `normalization` field says
 * (docs/CONTRACTS.md "Normalisation"): the trainer records it, the engine applies it.
 */
import { PssrError } from './errors.js';
import type { Normalization } from './modelcard.js';
import { percentiles } from './stats.js';
import type { DType, FrameArray } from './types.js';

/** The intensity range mapped to 0..1: network input is (x - lo) / (hi - lo). */
export interface NormRange {
  lo: number;
  hi: number;
}

/**
 * The range for one frame: its `low`/`high` percentiles (numpy 'linear'; `hi <= lo` -> `hi = lo + 1`, so
 * a constant frame normalises to 0 rather than dividing by zero), or the card's fixed `min`/`max`.
 */
export function normalizationRange(frame: FrameArray, norm: Normalization): NormRange {
  if (norm.mode === 'percentile') {
    if (!(norm.low >= 0 && norm.high <= 100 && norm.low < norm.high)) {
      throw new PssrError(
        'INVALID_ARGUMENT',
        `normalization percentiles low=${norm.low}, high=${norm.high} are invalid; need 0 <= low < high <= 100.`,
      );
    }
    const [lo, hi] = percentiles(frame, [norm.low, norm.high]) as [number, number];
    return { lo, hi: hi <= lo ? lo + 1 : hi };
  }
  if (norm.mode === 'range') {
    if (!(Number.isFinite(norm.min) && Number.isFinite(norm.max) && norm.max > norm.min)) {
      throw new PssrError(
        'INVALID_ARGUMENT',
        `normalization range min=${norm.min}, max=${norm.max} is invalid; need finite numbers with max > min.`,
      );
    }
    return { lo: norm.min, hi: norm.max };
  }
  throw new PssrError('INVALID_ARGUMENT', `unknown normalization mode ${JSON.stringify((norm as { mode: unknown }).mode)}; allowed: percentile, range.`);
}

/** (x - lo) / (hi - lo) for every sample, computed in float64, written to `out` (allocated if absent). */
export function normalizeInto(frame: FrameArray, range: NormRange, out?: Float32Array): Float32Array {
  const n = frame.length;
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) {
    throw new PssrError('INVALID_ARGUMENT', `normalizeInto: output holds ${dst.length} samples, the frame has ${n}.`, false);
  }
  const { lo } = range;
  const span = range.hi - range.lo;
  for (let i = 0; i < n; i++) dst[i] = (frame[i]! - lo) / span;
  return dst;
}

/**
 * Maps network output back: y * (hi - lo) + lo. For uint8/uint16 rounds half away from zero and clips
 * to the dtype range (NaN -> 0); float32 output is neither rounded nor clipped.
 */
export function denormalize(values: Float32Array, range: NormRange, dtype: DType): FrameArray {
  const n = values.length;
  const { lo } = range;
  const span = range.hi - range.lo;
  if (dtype === 'float32') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = values[i]! * span + lo;
    return out;
  }
  const max = dtype === 'uint8' ? 255 : 65535;
  const out = dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const y = values[i]! * span + lo;
    // Values <= 0 (and NaN) clip to 0, so only positive values are rounded: Math.round is then
    // half-away-from-zero and exact (no y + 0.5 precision trap).
    out[i] = y > 0 ? (y >= max ? max : Math.round(y)) : 0;
  }
  return out;
}

/** Rounds (half away from zero) and clips float values to an integer dtype; float32 is copied as is. */
export function toDType(values: Float32Array, dtype: DType): FrameArray {
  return denormalize(values, { lo: 0, hi: 1 }, dtype);
}
