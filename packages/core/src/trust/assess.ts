/** Everything the trust report says about one restored frame, from the LR frame, the restoration and (TTA) its uncertainty. */
import type { ModelCard } from '../modelcard.js';
import type { FrameArray } from '../types.js';
import { LOCAL_WINDOW, consistency } from './consistency.js';
import { flaggedRegions, frameFlags } from './flags.js';
import type { TrustFlag, TrustRegion, TrustThresholds } from './flags.js';
import { backgroundBlock, bilinearSnr, snr } from './snr.js';

/** Flagged regions are refitted around only while they cover at most this fraction of the frame. */
const MAX_LOCAL_FRACTION = 0.25;

export interface FrameTrustInput {
  index: number;
  /** The measured LR frame (height x width). */
  lr: FrameArray;
  /** The 4x restoration (4 height x 4 width), ours or another tool's. */
  restored: FrameArray;
  height: number;
  width: number;
  /** Per-pixel TTA standard deviation at output size, in the input's intensity units, when measured. */
  uncertainty?: Float32Array | null;
}

export interface FrameTrust {
  index: number;
  /** Consistency residual RMS, normalised units (fraction of the LR frame's normalisation range). */
  rse: number;
  /** rse relative to the LR frame's estimated noise sigma (about 1 = consistent within the noise). */
  rseToNoise: number | null;
  rsp: number;
  /** Estimated LR noise sigma, normalised units. */
  noise: number;
  /** 99.9th percentile of the local residual map, normalised units. */
  localPeak: number;
  /** Mean TTA standard deviation, normalised units (null without TTA). */
  uncertainty: number | null;
  snr: { bilinear: number | null; restored: number | null };
  flags: TrustFlag[];
  regions: TrustRegion[];
}

export interface FrameTrustResult {
  stats: FrameTrust;
  /** The consistency map: |LR - fitted restoration| per LR pixel, input intensity units. */
  residual: Float32Array;
}

/** Assesses one frame against the card (`thresholds` null: statistics only, no flags). */
export function assessFrame(input: FrameTrustInput, card: Pick<ModelCard, 'name' | 'normalization' | 'calibration'>, thresholds: TrustThresholds | null): FrameTrustResult {
  const { lr, restored, height, width } = input;
  let c = consistency(lr, restored, height, width, card.normalization);
  let regions = thresholds ? flaggedRegions(c.local, height, width, thresholds.local) : [];
  // One robust refinement for local defects: refit without the regions (a defect skews a global fit
  // everywhere). Regions covering much of the frame are no local defect: the frame-level flags say it.
  const local = (mask: Uint8Array) => mask.reduce((a, v) => a + v, 0) <= MAX_LOCAL_FRACTION * mask.length;
  if (thresholds && regions.length > 0 && local(regionMask(regions.slice(0, 1), height, width))) {
    // The worst region first: the others may be artefacts of the skewed fit.
    c = consistency(lr, restored, height, width, card.normalization, regionMask(regions.slice(0, 1), height, width));
    regions = flaggedRegions(c.local, height, width, thresholds.local);
    const mask = regionMask(regions, height, width);
    if (regions.length > 0 && local(mask)) c = consistency(lr, restored, height, width, card.normalization, mask);
  }
  const span = c.range.hi - c.range.lo;
  const uncertainty = input.uncertainty ? mean(input.uncertainty) / span : null;
  const bg = backgroundBlock(lr, height, width);
  const bgOut = { y: 4 * bg.y, x: 4 * bg.x, h: 4 * bg.h, w: 4 * bg.w };
  const base = { noise: c.noise, rse: c.rse, rsp: c.rsp, localPeak: c.localPeak, uncertainty };
  const outside = regions.length > 0 && c.outside ? { outsideRegions: c.outside } : {};
  const flags = thresholds && card.calibration ? frameFlags({ ...base, ...outside }, regions, card.calibration, thresholds, card.name) : [];
  return {
    stats: {
      index: input.index,
      ...base,
      rseToNoise: c.rseToNoise,
      snr: { bilinear: bilinearSnr(lr, height, width, bg), restored: snr(restored, 4 * height, 4 * width, bgOut) },
      flags,
      regions,
    },
    residual: c.residual,
  };
}

/** The regions' boxes, each widened by half the local window, as a mask of LR pixels. */
function regionMask(regions: TrustRegion[], height: number, width: number): Uint8Array {
  const mask = new Uint8Array(height * width);
  const r = Math.floor(LOCAL_WINDOW / 2);
  for (const g of regions) {
    for (let y = Math.max(0, g.y - r); y < Math.min(height, g.y + g.h + r); y++) mask.fill(1, y * width + Math.max(0, g.x - r), y * width + Math.min(width, g.x + g.w + r));
  }
  return mask;
}

function mean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return a.length > 0 ? s / a.length : 0;
}
