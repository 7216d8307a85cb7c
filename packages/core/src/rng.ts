/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) with uniform, normal and Poisson draws,
 * so degradation noise is reproducible for a given seed. Streams are not meant to match numpy's.
 */

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number;
  /** Standard normal (Marsaglia polar method). */
  normal(): number;
  /** Poisson(lambda) for finite lambda >= 0 (multiplication method below 10, Hormann's PTRS above). */
  poisson(lambda: number): number;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A generator for `seed` (any finite number; integers up to 2^53 give distinct streams). */
export function createRng(seed: number): Rng {
  const sm = { s: (Math.trunc(seed) >>> 0) ^ Math.imul(Math.floor(Math.trunc(seed) / 4294967296) | 0, 0x27d4eb2f) };
  let a = splitmix32(sm);
  let b = splitmix32(sm);
  let c = splitmix32(sm);
  let d = splitmix32(sm);
  if ((a | b | c | d) === 0) a = 1;

  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const uniform = (): number => ((uint32() >>> 5) * 67108864 + (uint32() >>> 6)) / 9007199254740992;

  let spare = NaN;
  const normal = (): number => {
    if (!Number.isNaN(spare)) {
      const v = spare;
      spare = NaN;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * uniform() - 1;
      v = 2 * uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    spare = v * f;
    return u * f;
  };

  const poisson = (lambda: number): number => {
    if (!(lambda > 0)) return 0;
    if (lambda < 10) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = uniform();
      while (p > limit) {
        k++;
        p *= uniform();
      }
      return k;
    }
    // PTRS: W. Hormann, "The transformed rejection method for generating Poisson random variables" (1993),
    // as in numpy's random_poisson_ptrs.
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const bb = 0.931 + 2.53 * slam;
    const aa = -0.059 + 0.02483 * bb;
    const invalpha = 1.1239 + 1.1328 / (bb - 3.4);
    const vr = 0.9277 - 3.6224 / (bb - 2);
    for (;;) {
      const U = uniform() - 0.5;
      const V = uniform();
      const us = 0.5 - Math.abs(U);
      const k = Math.floor(((2 * aa) / us + bb) * U + lambda + 0.43);
      if (us >= 0.07 && V <= vr) return k;
      if (k < 0 || (us < 0.013 && V > us)) continue;
      if (Math.log(V) + Math.log(invalpha) - Math.log(aa / (us * us) + bb) <= -lambda + k * loglam - logGamma(k + 1)) {
        return k;
      }
    }
  };

  return { uint32, uniform, normal, poisson };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const LOGGAM_COEF = [
  8.333333333333333e-2, -2.777777777777778e-3, 7.936507936507937e-4, -5.952380952380952e-4, 8.417508417508418e-4,
  -1.917526917526918e-3, 6.41025641025641e-3, -2.955065359477124e-2, 1.796443723688307e-1, -1.3924322169059,
];

/** log Gamma(x) for x > 0 (Stirling series with upward recurrence below 7, as numpy's random_loggam). */
export function logGamma(x: number): number {
  if (x === 1 || x === 2) return 0;
  const n = x < 7 ? Math.floor(7 - x) : 0;
  let x0 = x + n;
  const x2 = 1 / (x0 * x0);
  let gl0 = LOGGAM_COEF[9]!;
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + LOGGAM_COEF[k]!;
  let gl = gl0 / x0 + 0.5 * 1.8378770664093453 + (x0 - 0.5) * Math.log(x0) - x0;
  for (let k = 1; k <= n; k++) {
    gl -= Math.log(x0 - 1);
    x0 -= 1;
  }
  return gl;
}
