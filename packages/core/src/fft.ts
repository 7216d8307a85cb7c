/** A small in-place radix-2 complex FFT (core takes no dependencies), used by the FRC metric. */
import { PssrError } from './errors.js';

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array; rev: Uint32Array }>();

function plan(n: number): { cos: Float64Array; sin: Float64Array; rev: Uint32Array } {
  let p = twiddleCache.get(n);
  if (p) return p;
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let k = 0; k < n / 2; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = -Math.sin((2 * Math.PI * k) / n);
  }
  const rev = new Uint32Array(n);
  const bits = Math.log2(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  p = { cos, sin, rev };
  twiddleCache.set(n, p);
  return p;
}

/**
 * In-place forward DFT X[k] = sum x[j] exp(-2 pi i jk/n) of (re, im), n a power of two; `inverse`
 * computes the unscaled inverse (divide by n yourself).
 */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (im.length !== n || n < 1 || (n & (n - 1)) !== 0) {
    throw new PssrError('INVALID_ARGUMENT', `fft: length ${n} is not a power of two (or re/im lengths differ).`, false);
  }
  const { cos, sin, rev } = plan(n);
  for (let i = 0; i < n; i++) {
    const j = rev[i]!;
    if (j > i) {
      let t = re[i]!;
      re[i] = re[j]!;
      re[j] = t;
      t = im[i]!;
      im[i] = im[j]!;
      im[j] = t;
    }
  }
  const sign = inverse ? -1 : 1;
  for (let size = 2; size <= n; size *= 2) {
    const half = size / 2;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step]!;
        const wi = sign * sin[k * step]!;
        const a = start + k;
        const b = a + half;
        const xr = re[b]! * wr - im[b]! * wi;
        const xi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a]! += xr;
        im[a]! += xi;
      }
    }
  }
}

/** In-place 2D forward DFT of a rows x cols complex image (both powers of two), row-major. */
export function fft2d(re: Float64Array, im: Float64Array, rows: number, cols: number): void {
  const rr = new Float64Array(cols);
  const ri = new Float64Array(cols);
  for (let y = 0; y < rows; y++) {
    rr.set(re.subarray(y * cols, (y + 1) * cols));
    ri.set(im.subarray(y * cols, (y + 1) * cols));
    fft(rr, ri);
    re.set(rr, y * cols);
    im.set(ri, y * cols);
  }
  const cr = new Float64Array(rows);
  const ci = new Float64Array(rows);
  for (let x = 0; x < cols; x++) {
    for (let y = 0; y < rows; y++) {
      cr[y] = re[y * cols + x]!;
      ci[y] = im[y * cols + x]!;
    }
    fft(cr, ci);
    for (let y = 0; y < rows; y++) {
      re[y * cols + x] = cr[y]!;
      im[y * cols + x] = ci[y]!;
    }
  }
}
