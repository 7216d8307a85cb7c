/**
 * Out-of-distribution flags: a frame whose trust statistics fall outside what its model showed on its own
 * validation data (the card's `calibration`) is flagged with a plain reason. Factors above the validation
 * tails keep the false-alarm rate on in-distribution data low (a frame at the 95th percentile is normal:
 * 5% of validation frames are there).
 */
import type { ModelCard, StatSummary, TrustCalibration } from '../modelcard.js';
import { percentiles } from '../stats.js';

/** How far past the validation tail a statistic must be to flag: frame statistics and local regions. */
export const FLAG_FACTORS = { rse: 1.5, rsp: 1.5, uncertainty: 1.5, local: 2, noise: 1.5 } as const;

/** At most this many regions are listed per frame (the largest first). */
export const MAX_REGIONS = 10;

export interface TrustThresholds {
  /** Where the thresholds come from. */
  source: string;
  factors: typeof FLAG_FACTORS;
  /** Flag when rse (normalised) exceeds this. */
  rse: number;
  /** Flag when rsp falls below this. */
  rsp: number;
  /** Flag when the mean TTA uncertainty (normalised) exceeds this (null: not calibrated). */
  uncertainty: number | null;
  /** Flag LR pixels whose local residual RMS (normalised) exceeds this. */
  local: number;
  /** Flag inputs whose fine-scale contrast (noise estimate, normalised) lies outside low..high. */
  noise: { low: number; high: number };
}

export type FlagKind = 'input' | 'residual' | 'correlation' | 'uncertainty' | 'region';

export interface TrustFlag {
  kind: FlagKind;
  /** The statistic as measured, and the threshold it crossed. */
  value: number;
  threshold: number;
  reason: string;
}

/** A connected area of flagged LR pixels (LR pixel coordinates; multiply by 4 for the output). */
export interface TrustRegion {
  x: number;
  y: number;
  w: number;
  h: number;
  pixels: number;
  /** Highest local residual RMS inside, normalised units. */
  peak: number;
}

export interface FrameStatistics {
  noise: number;
  rse: number;
  /**
   * RSE and RSP outside the flagged regions (when there are any), the fit redone there. When they are in
   * range, the frame's excess residual and decorrelation come from those regions: only they are flagged.
   */
  outsideRegions?: { rse: number; rsp: number };
  rsp: number;
  localPeak: number;
  uncertainty: number | null;
}

/** The thresholds a card's calibration implies, or null when the card has none. */
export function trustThresholds(card: Pick<ModelCard, 'name' | 'calibration'>): TrustThresholds | null {
  const cal = card.calibration;
  if (!cal) return null;
  const f = FLAG_FACTORS;
  return {
    source: `${card.name} card calibration (${cal.frames} frames of ${cal.data}): ${f.rse}x the 95th percentile of residual and uncertainty, ${f.rsp}x the 5th-percentile decorrelation (1 - rsp), ${f.local}x the 95th percentile of the local residual peak, input fine-scale contrast within 1/${f.noise} of the 5th .. ${f.noise}x the 95th percentile`,
    factors: f,
    rse: f.rse * cal.rse.p95,
    rsp: 1 - f.rsp * (1 - cal.rsp.p05),
    uncertainty: cal.uncertainty ? f.uncertainty * cal.uncertainty.p95 : null,
    local: f.local * cal.localPeak.p95,
    noise: { low: cal.noise.p05 / f.noise, high: f.noise * cal.noise.p95 },
  };
}

/** A frame's flags with reasons naming the model, the most specific (local regions) first. */
export function frameFlags(stats: FrameStatistics, regions: TrustRegion[], cal: TrustCalibration, t: TrustThresholds, model: string): TrustFlag[] {
  const flags: TrustFlag[] = [];
  const ood = `the input may not be the kind of data ${model} was trained on`;
  // The most specific finding first: a local disagreement says where to look.
  if (regions.length > 0) {
    const top = regions[0]!;
    flags.push({
      kind: 'region',
      value: top.peak,
      threshold: t.local,
      reason: `${regions.length} region${regions.length === 1 ? '' : 's'} where the restoration disagrees with the measured image (local residual up to ${ratio(top.peak, cal.localPeak.p95)}x this model's validation level), the worst at output pixels x ${4 * top.x}..${4 * (top.x + top.w) - 1}, y ${4 * top.y}..${4 * (top.y + top.h) - 1}: structure there is not supported by the input`,
    });
  }
  if (stats.noise > t.noise.high || stats.noise < t.noise.low) {
    const high = stats.noise > t.noise.high;
    const times = high ? ratio(stats.noise, cal.noise.p95) : ratio(stats.noise, cal.noise.p05);
    flags.push({
      kind: 'input',
      value: stats.noise,
      threshold: high ? t.noise.high : t.noise.low,
      reason: `the input's fine-scale contrast (noise and sub-pixel texture) is ${times}x this model's validation ${high ? '95th' : '5th'} percentile: ${ood}`,
    });
  }
  const o = stats.outsideRegions;
  const explainedByRegions = o !== undefined && o.rse <= t.rse && o.rsp >= t.rsp;
  if (stats.rse > t.rse && !explainedByRegions) {
    flags.push({ kind: 'residual', value: stats.rse, threshold: t.rse, reason: `residual ${ratio(stats.rse, cal.rse.p95)}x this model's validation 95th percentile: ${ood}` });
  }
  if (stats.rsp < t.rsp && !explainedByRegions) {
    const times = ratio(1 - stats.rsp, 1 - cal.rsp.p05);
    flags.push({ kind: 'correlation', value: stats.rsp, threshold: t.rsp, reason: `correlation with the input ${formatNearOne(stats.rsp)} (decorrelation ${times}x this model's validation 5th percentile): ${ood}` });
  }
  if (stats.uncertainty !== null && t.uncertainty !== null && cal.uncertainty && stats.uncertainty > t.uncertainty) {
    flags.push({ kind: 'uncertainty', value: stats.uncertainty, threshold: t.uncertainty, reason: `uncertainty ${ratio(stats.uncertainty, cal.uncertainty.p95)}x this model's validation 95th percentile: ${ood}` });
  }
  return flags;
}

/** Connected (4-neighbour) areas where `local` exceeds `threshold`, the worst first, at most MAX_REGIONS. */
export function flaggedRegions(local: Float32Array, height: number, width: number, threshold: number): TrustRegion[] {
  const seen = new Uint8Array(height * width);
  const regions: TrustRegion[] = [];
  const stack: number[] = [];
  for (let start = 0; start < local.length; start++) {
    if (seen[start] || !(local[start]! > threshold)) continue;
    seen[start] = 1;
    stack.push(start);
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    let pixels = 0;
    let peak = 0;
    while (stack.length > 0) {
      const p = stack.pop()!;
      const y = Math.floor(p / width);
      const x = p - y * width;
      pixels++;
      peak = Math.max(peak, local[p]!);
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      for (const q of [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1]) {
        if (q >= 0 && !seen[q] && local[q]! > threshold) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    regions.push({ x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1, pixels, peak });
  }
  return regions.sort((a, b) => b.peak - a.peak).slice(0, MAX_REGIONS);
}

/** Median and 5th/95th percentiles of a per-frame statistic (numpy 'linear' percentiles). */
export function summarize(values: number[]): StatSummary {
  const [p05, median, p95] = percentiles(Float64Array.from(values), [5, 50, 95]) as [number, number, number];
  return { median, p05, p95 };
}

/** Enough digits to tell a correlation from 1 (0.99986, not 1.000). */
function formatNearOne(r: number): string {
  const digits = r < 1 ? Math.min(8, Math.max(3, Math.ceil(-Math.log10(1 - r)) + 1)) : 3;
  return r.toFixed(digits);
}

const ratio = (value: number, reference: number) => (reference > 0 ? (value / reference).toFixed(1) : 'inf');
