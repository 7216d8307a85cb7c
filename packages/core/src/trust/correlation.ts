/** Correlation coefficients for the trust statistics and their evidence (RSP, tile-level Spearman). */
import { PssrError } from '../errors.js';

/** Pearson's r of two equally long series, in float64; 0 when either is constant. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length || n === 0) throw new PssrError('INVALID_ARGUMENT', `pearson: need two non-empty series of equal length (got ${n} and ${b.length}).`, false);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/** Ranks 1..n, ties given their average rank (as scipy.stats.rankdata 'average'). */
export function ranks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i]! - values[j]!);
  const out = new Float64Array(n);
  for (let k = 0; k < n; ) {
    let end = k + 1;
    while (end < n && values[order[end]!] === values[order[k]!]) end++;
    const rank = (k + end + 1) / 2; // mean of ranks k+1..end
    for (let m = k; m < end; m++) out[order[m]!] = rank;
    k = end;
  }
  return out;
}

/** Spearman's rank correlation (Pearson's r of the average ranks, as scipy.stats.spearmanr). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new PssrError('INVALID_ARGUMENT', `spearman: series of different lengths (${a.length} and ${b.length}).`, false);
  return pearson(ranks(a), ranks(b));
}
