/**
 * Image quality metrics (docs/CONTRACTS.md "Quality metrics"): PSNR and SSIM as scikit-image 0.19
 * computes them, and Fourier ring correlation (FRC) resolution. All in float64.
 */
import { PssrError } from './errors.js';
import { fft2d, nextPow2 } from './fft.js';
import { minMax } from './stats.js';

function checkPair(reference: ArrayLike<number>, test: ArrayLike<number>, what: string): void {
  if (reference.length !== test.length || reference.length === 0) {
    throw new PssrError(
      'INVALID_ARGUMENT',
      `${what}: reference and test images must have the same non-zero size (got ${reference.length} and ${test.length} samples).`,
    );
  }
}

function checkShape(n: number, height: number, width: number, what: string, min: number): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height * width !== n) {
    throw new PssrError('INVALID_ARGUMENT', `${what}: ${n} samples do not form a ${height}x${width} image.`);
  }
  if (height < min || width < min) {
    throw new PssrError('INVALID_ARGUMENT', `${what}: a ${height}x${width} image is too small; both sides must be at least ${min}.`);
  }
}

/** Default data range of CONTRACTS.md: max(reference) - min(reference). */
function referenceRange(reference: ArrayLike<number>): number {
  const { min, max } = minMax(reference);
  return max - min;
}

/**
 * Peak signal-to-noise ratio in dB: 10 log10(dataRange^2 / MSE), as skimage `peak_signal_noise_ratio`.
 * `dataRange` defaults to max(reference) - min(reference) (not skimage's dtype range). Identical images
 * give Infinity.
 */
export function psnr(reference: ArrayLike<number>, test: ArrayLike<number>, dataRange?: number): number {
  checkPair(reference, test, 'psnr');
  const dr = dataRange ?? referenceRange(reference);
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = reference[i]! - test[i]!;
    sum += d * d;
  }
  return 10 * Math.log10((dr * dr) / (sum / reference.length));
}

const WIN = 7;

/**
 * Mean structural similarity as skimage 0.19 `structural_similarity` with its defaults: 7x7 uniform
 * window, K1 = 0.01, K2 = 0.03, sample covariance (N/(N-1)), averaged over the positions whose window
 * lies inside the image (skimage crops (7-1)/2 = 3 pixels at each border, so its reflect padding never
 * matters). Box sums are separable 7-tap sums, O(n); `dataRange` defaults to max(ref) - min(ref).
 */
export function ssim(reference: ArrayLike<number>, test: ArrayLike<number>, height: number, width: number, dataRange?: number): number {
  checkPair(reference, test, 'ssim');
  checkShape(reference.length, height, width, 'ssim', WIN);
  const dr = dataRange ?? referenceRange(reference);
  const n = reference.length;
  // Second moments are taken of data shifted by the reference mean, so that E[x^2] - E[x]^2 does not
  // lose digits on frames with a large offset (uint16 data); SSIM's luminance term uses unshifted means.
  let shift = 0;
  for (let i = 0; i < n; i++) shift += reference[i]!;
  shift /= n;

  const ow = width - WIN + 1;
  const oh = height - WIN + 1;
  // Horizontal 7-tap sums of x, y, x^2, y^2, xy (shifted), for every row and window start.
  const hx = new Float64Array(height * ow);
  const hy = new Float64Array(height * ow);
  const hxx = new Float64Array(height * ow);
  const hyy = new Float64Array(height * ow);
  const hxy = new Float64Array(height * ow);
  const rx = new Float64Array(width);
  const ry = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) {
      rx[x] = reference[base + x]! - shift;
      ry[x] = test[base + x]! - shift;
    }
    const o = y * ow;
    for (let x = 0; x < ow; x++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let k = x; k < x + WIN; k++) {
        const a = rx[k]!;
        const b = ry[k]!;
        sx += a;
        sy += b;
        sxx += a * a;
        syy += b * b;
        sxy += a * b;
      }
      hx[o + x] = sx;
      hy[o + x] = sy;
      hxx[o + x] = sxx;
      hyy[o + x] = syy;
      hxy[o + x] = sxy;
    }
  }

  const np = WIN * WIN;
  const covNorm = np / (np - 1);
  const c1 = (0.01 * dr) ** 2;
  const c2 = (0.03 * dr) ** 2;
  let total = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let k = y; k < y + WIN; k++) {
        const i = k * ow + x;
        sx += hx[i]!;
        sy += hy[i]!;
        sxx += hxx[i]!;
        syy += hyy[i]!;
        sxy += hxy[i]!;
      }
      const mx = sx / np; // shifted means
      const my = sy / np;
      const vx = covNorm * (sxx / np - mx * mx);
      const vy = covNorm * (syy / np - my * my);
      const vxy = covNorm * (sxy / np - mx * my);
      const ux = mx + shift;
      const uy = my + shift;
      total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
    }
  }
  return total / (oh * ow);
}

/** Result of `frcResolution`. */
export interface FrcResult {
  /** Resolution at the 1/7 threshold, in pixels (or in `pixelSize` units when given): 1 / crossing frequency. */
  resolution: number;
  /** FRC value per ring; ring r has spatial frequency `frequencies[r]`. */
  curve: number[];
  /** Ring frequencies in cycles per pixel (or per `pixelSize` unit). */
  frequencies: number[];
  /** false when the curve never falls below the threshold: resolution is then the Nyquist limit, 2 pixels. */
  crossed: boolean;
}

export const FRC_THRESHOLD = 1 / 7;

/**
 * Fourier ring correlation between two images of the same field (e.g. two independent acquisitions, or a
 * restoration and its reference): FRC(r) = Re sum A B* / sqrt(sum |A|^2 sum |B|^2) over rings of radius r
 * (in units of 1/N cycles per pixel, N = the padded square size). Each image has its mean removed and is
 * multiplied by a separable Hann window so the image edges do not put spurious correlated power into high
 * frequencies; both are zero-padded to a power-of-two square and transformed together as one complex image.
 * The resolution is 1 / the frequency where the curve first falls below 1/7 (linear interpolation
 * between rings).
 */
export function frcResolution(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  height: number,
  width: number,
  pixelSize?: number,
): FrcResult {
  checkPair(a, b, 'frcResolution');
  checkShape(a.length, height, width, 'frcResolution', 8);
  if (pixelSize !== undefined && !(pixelSize > 0 && Number.isFinite(pixelSize))) {
    throw new PssrError('INVALID_ARGUMENT', `frcResolution: pixel size ${pixelSize} must be a positive number.`);
  }
  const n = nextPow2(Math.max(height, width));
  const re = new Float64Array(n * n);
  const im = new Float64Array(n * n);
  const hann = (len: number) => Float64Array.from({ length: len }, (_, i) => Math.sin((Math.PI * (i + 0.5)) / len) ** 2);
  const wy = hann(height);
  const wx = hann(width);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const w = wy[y]! * wx[x]!;
      re[y * n + x] = (a[y * width + x]! - ma) * w;
      im[y * n + x] = (b[y * width + x]! - mb) * w;
    }
  }
  // z = a + i b; A(k) = (Z(k) + conj Z(-k)) / 2, B(k) = (Z(k) - conj Z(-k)) / 2i.
  fft2d(re, im, n, n);
  const rings = n / 2 + 1;
  const num = new Float64Array(rings);
  const da = new Float64Array(rings);
  const db = new Float64Array(rings);
  for (let ky = 0; ky < n; ky++) {
    const fy = ky <= n / 2 ? ky : ky - n;
    const my = (n - ky) % n;
    for (let kx = 0; kx < n; kx++) {
      const fx = kx <= n / 2 ? kx : kx - n;
      const r = Math.round(Math.sqrt(fx * fx + fy * fy));
      if (r >= rings) continue;
      const mx = (n - kx) % n;
      const zr = re[ky * n + kx]!;
      const zi = im[ky * n + kx]!;
      const mr = re[my * n + mx]!;
      const mi = im[my * n + mx]!;
      const ar = (zr + mr) / 2;
      const ai = (zi - mi) / 2;
      const br = (zi + mi) / 2;
      const bi = (mr - zr) / 2;
      num[r]! += ar * br + ai * bi;
      da[r]! += ar * ar + ai * ai;
      db[r]! += br * br + bi * bi;
    }
  }
  const curve: number[] = [];
  for (let r = 0; r < rings; r++) {
    const d = Math.sqrt(da[r]! * db[r]!);
    curve.push(d > 0 ? num[r]! / d : 0);
  }
  const unit = pixelSize ?? 1;
  const frequencies = curve.map((_, r) => r / n / unit);
  // Ring 0 is the (removed) mean; search from ring 1, interpolating the crossing from the previous ring.
  let crossing = n / 2;
  let crossed = false;
  for (let r = 1; r < rings; r++) {
    if (curve[r]! < FRC_THRESHOLD) {
      crossed = true;
      const prev = curve[r - 1]!;
      crossing = r === 1 || prev <= curve[r]! ? r : r - 1 + (prev - FRC_THRESHOLD) / (prev - curve[r]!);
      break;
    }
  }
  return { resolution: (n / crossing) * unit, curve, frequencies, crossed };
}
