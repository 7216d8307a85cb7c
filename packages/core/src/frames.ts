/** Multi-frame input windows (docs/CONTRACTS.md "Multi-frame windows"; PSSR's 5-frame models, Fang et al.). */
import { PssrError } from './errors.js';

/**
 * Input frame indices for output frame `t` of an `n`-frame stack: [t] for single-frame models, and
 * t-2..t+2 for 5-frame models. Outside 0..n-1 indices are mirrored without repeating the edge
 * (-1 -> 1, n -> n-2), then clamped for stacks too short to mirror, so N frames in give N frames out.
 */
export function frameWindow(t: number, n: number, size: 1 | 5): number[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(t) || t < 0 || t >= n) {
    throw new PssrError('INVALID_ARGUMENT', `frameWindow: frame ${t} is not in a stack of ${n} frames (need 0 <= t < n).`, false);
  }
  if (size === 1) return [t];
  if (size !== 5) {
    throw new PssrError('INVALID_ARGUMENT', `frameWindow: window size ${String(size)} is not supported; allowed: 1, 5.`, false);
  }
  const out: number[] = [];
  for (let d = -2; d <= 2; d++) {
    let i = t + d;
    if (i < 0) i = -i;
    else if (i > n - 1) i = 2 * (n - 1) - i;
    out.push(Math.min(Math.max(i, 0), n - 1));
  }
  return out;
}
