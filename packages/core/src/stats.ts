/**
 * Order statistics over whole frames. `percentiles` reproduces numpy's default (`method='linear'`,
 * Hyndman & Fan type 7) to the last bit for integer frames, because the trainer (numpy) and the engine
 * must compute the same normalisation and degradation ranges (docs/CONTRACTS.md).
 */
import { PssrError } from './errors.js';
import type { FrameArray } from './types.js';

export type NumericArray = FrameArray | Float32Array | Float64Array;

/**
 * Percentiles `ps` (0..100) of `values`, as `numpy.percentile(values, ps)` computes them.
 * uint8/uint16 frames use a histogram (O(n), milliseconds for a 1024x1024 frame); float arrays are
 * copied and sorted. A NaN anywhere in a float array makes every result NaN, as in numpy.
 */
export function percentiles(values: NumericArray, ps: number[]): number[] {
  const n = values.length;
  if (n === 0) throw new PssrError('INVALID_ARGUMENT', 'percentiles: the array is empty.');
  for (const p of ps) {
    if (!(p >= 0 && p <= 100)) {
      throw new PssrError('INVALID_ARGUMENT', `percentiles: ${p} is not a percentile; allowed are numbers in 0..100.`);
    }
  }
  const orderStat = orderStatistics(values);
  const float32 = values instanceof Float32Array;
  return ps.map((p) => {
    // numpy: virtual index (n-1)*q with q = p/100; previous = floor, next = previous+1, both clipped.
    const virtual = (n - 1) * (p / 100);
    let prevIdx = Math.floor(virtual);
    let nextIdx = prevIdx + 1;
    if (virtual >= n - 1) prevIdx = nextIdx = n - 1;
    const gamma = virtual - prevIdx;
    const a = orderStat(prevIdx);
    const b = nextIdx === prevIdx ? a : orderStat(nextIdx);
    // numpy's _lerp: b - a is taken in the array's dtype (float32 rounds it), then one of two
    // symmetric forms chosen by gamma, which keeps the result monotone in p.
    const diff = float32 ? Math.fround(b - a) : b - a;
    return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
  });
}

/** Minimum and maximum of an array (NaN entries are skipped; an all-NaN array gives NaN, NaN). */
export function minMax(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min > max) return { min: NaN, max: NaN };
  return { min, max };
}

/** Returns k -> k-th smallest value (0-based) of `values`. */
function orderStatistics(values: NumericArray): (k: number) => number {
  if (values instanceof Uint8Array || values instanceof Uint16Array) {
    const bins = values instanceof Uint8Array ? 256 : 65536;
    const counts = new Float64Array(bins);
    for (let i = 0; i < values.length; i++) counts[values[i]!]!++;
    // cumulative[v] = number of samples <= v
    for (let v = 1; v < bins; v++) counts[v]! += counts[v - 1]!;
    return (k) => {
      // smallest v with cumulative[v] > k
      let lo = 0;
      let hi = bins - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (counts[mid]! > k) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
  }
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]!)) return () => NaN;
  }
  // Float frames: quickselect on a copy, O(n) per requested rank (a full sort of a 1024x1024 frame
  // takes ~150 ms; the normalisation needs only two ranks per frame).
  const work = Float64Array.from(values);
  const known = new Map<number, number>();
  return (k) => {
    let v = known.get(k);
    if (v === undefined) {
      v = select(work, k);
      known.set(k, v);
    }
    return v;
  };
}

/**
 * k-th smallest element of `a` (which it partially reorders): Hoare-partition quickselect with a
 * median-of-three pivot, narrowing to the side that holds k.
 */
function select(a: Float64Array, k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    const mid = (left + right) >>> 1;
    // median of three as pivot
    const x = a[left]!;
    const y = a[mid]!;
    const z = a[right]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // now a[left..j] <= pivot <= a[i..right], and a[j+1..i-1] == pivot
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return pivot;
  }
  return a[k]!;
}
