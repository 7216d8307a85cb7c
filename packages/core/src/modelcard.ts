/** The model card: the JSON file beside each model.onnx. Specification: docs/CONTRACTS.md. */
export type Modality = 'em' | 'fluorescence';

export type Normalization =
  | { mode: 'percentile'; low: number; high: number }
  | { mode: 'range'; min: number; max: number };

export type DegradationRecipe = 'em' | 'fluo' | 'poisson' | 'none';

export interface DegradationSpec {
  recipe: DegradationRecipe;
  gaussianSigma: number;
  saltPepper: number;
  poissonPeak: number | null;
  scale: 4;
  sampling: 'centre-mean-2x2';
  percentiles: [number, number];
}

export interface TileSpec {
  /** LR input tile edge, halo on both sides included. */
  size: number;
  /** LR context on each side needed for seam-free stitching. */
  halo: number;
  /** Tile sides must be multiples of this (the network's downsampling factor). */
  multiple: number;
}

export interface MetricTriple {
  model: number;
  bilinear: number;
  bicubic: number;
}

/** Median and tails of one per-frame statistic over a model's validation frames. */
export interface StatSummary {
  median: number;
  p05: number;
  p95: number;
}

/**
 * What the trust statistics (issue 8) look like on the model's own validation data: the yardstick for
 * out-of-distribution flags. Written by `pssr calibrate` (packages/report), never by hand.
 */
export interface TrustCalibration {
  /** The validation data measured, and how it was degraded. */
  data: string;
  frames: number;
  seeds: number[];
  /** Consistency residual RMS, normalised units (packages/core trust/consistency.ts). */
  rse: StatSummary;
  /** Pearson correlation of the LR frame and the restoration mapped back. */
  rsp: StatSummary;
  /** 99.9th percentile of the local residual map. */
  localPeak: StatSummary;
  /** Mean TTA standard deviation, normalised units (null when not measured). */
  uncertainty: StatSummary | null;
  /** The LR input's estimated noise sigma (fine-scale contrast), normalised units: what inputs look like. */
  noise: StatSummary;
  command: string;
  computedWith: string;
}

/** An fp16 copy of model.onnx (float32 input and output), run on CUDA; its accuracy against model.onnx. */
export interface Fp16Variant {
  file: string;
  sha256: string;
  /** Largest |fp16 - fp32| of the engine's output on `data` (normalised units, before the dtype mapping). */
  maxAbsDiff: number;
  /** PSNR of the restored stack against the HR reference of `data` (null without a reference). */
  psnr: { fp32: number; fp16: number } | null;
  data: string;
  checkedWith: string;
}

export interface ModelCard {
  name: string;
  version: string;
  sha256: string;
  modality: Modality;
  scale: 4;
  inputFrames: 1 | 5;
  inputPixelSize: { value: number; unit: string } | null;
  /** LR input pixel sizes the model was trained for (scale augmentation, several sources); optional. */
  inputPixelSizeRange?: { min: number; max: number; unit: string };
  tile: TileSpec;
  normalization: Normalization;
  degradation: DegradationSpec;
  architecture: { name: string; [key: string]: unknown };
  training: {
    data: string[];
    provenance: string;
    licence: string;
    steps: number;
    seconds: number;
    device: string;
    seed: number;
    command: string;
    [key: string]: unknown;
  };
  validation: { data: string; psnr: MetricTriple; ssim: MetricTriple; [key: string]: unknown } | null;
  export: { opset: number; maxAbsDiff: number | null; checkedWith: string | null; fp16?: Fp16Variant };
  execution: { precision: 'fp32' | 'fp16'; notes?: string };
  /** Optional: distribution of the trust statistics on the validation data (out-of-distribution flags). */
  calibration?: TrustCalibration;
}
