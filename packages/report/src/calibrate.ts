/**
 * Calibration of a model's trust statistics (issue 8): degrade its held-out validation HR frames with its
 * own recipe (several noise seeds), restore them exactly as a user's restore runs (TTA on, so uncertainty is
 * calibrated too), and record the median and 5th/95th percentiles per frame of RSE, RSP, the local residual
 * peak, the mean uncertainty and the input's noise estimate. Out-of-distribution flags compare against these (core trust/flags.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assessFrame, summarize as summarizeValues } from '@pssr/core';
import type { FrameTrust, ModelCard, StatSummary, TrustCalibration } from '@pssr/core';
import { MemoryFrameSink, RestoreEngine } from '@pssr/inference';
import type { Device } from '@pssr/inference';
import { writeCardCalibration } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { exportValidationSet } from '@pssr/trainer';
import type { TrainConfig } from '@pssr/trainer';
import { degradedSource } from './degraded.js';

/** Noise seeds of the calibration degradations (distinct from the trainer's valSeed 0 realisation). */
export const CALIBRATION_SEEDS = [101, 202, 303];

export interface CalibrationSeriesInput {
  /** HR TIFF stack of one held-out series. */
  path: string;
  /** What it is, for the card (e.g. "mitocheck frames 24..29"). */
  label: string;
}

export interface CalibrateOptions {
  seeds?: number[];
  tta?: boolean;
  /** Describes the data in the card. */
  data: string;
  command: string;
  computedWith: string;
  onProgress?: (framesDone: number) => void;
  /** Stops the calibration between tiles (CANCELED). */
  signal?: AbortSignal;
}

export interface CalibrationResult {
  calibration: TrustCalibration;
  frames: (FrameTrust & { series: string; seed: number })[];
}

export async function calibrate(engine: RestoreEngine, series: CalibrationSeriesInput[], opts: CalibrateOptions): Promise<CalibrationResult> {
  const seeds = opts.seeds ?? CALIBRATION_SEEDS;
  const tta = opts.tta ?? true;
  const card = engine.model.card;
  const frames: CalibrationResult['frames'] = [];
  for (const s of series) {
    for (const seed of seeds) {
      for (const stats of await restoreAndAssess(engine, s.path, card, seed, tta, opts.signal)) frames.push({ ...stats, series: s.label, seed });
      opts.onProgress?.(frames.length);
    }
  }
  // Each source's own 5th..95th percentile range stays inside the calibrated one, however many frames it
  // has: pooled percentiles of 2 ssTEM sections and 125 FIB-SEM slices would describe FIB-SEM alone and
  // flag clean ssTEM.
  const labels = [...new Set(frames.map((f) => f.series))];
  const pick = (f: (x: FrameTrust) => number | null) => {
    const values = (label?: string) => frames.filter((x) => label === undefined || x.series === label).map(f).filter((v): v is number => v !== null);
    return { all: values(), perSeries: labels.map((l) => values(l)).filter((v) => v.length > 0) };
  };
  const summarize = ({ all, perSeries }: ReturnType<typeof pick>) => summarizeAcross(all, perSeries);
  const calibration: TrustCalibration = {
    data: `${opts.data}; degraded with the card's recipe, seeds ${seeds.join(', ')}${tta ? ', restored with TTA' : ''}`,
    frames: frames.length,
    seeds,
    rse: summarize(pick((f) => f.rse)),
    rsp: summarize(pick((f) => f.rsp)),
    localPeak: summarize(pick((f) => f.localPeak)),
    uncertainty: tta ? summarize(pick((f) => f.uncertainty)) : null,
    noise: summarize(pick((f) => f.noise)),
    command: opts.command,
    computedWith: opts.computedWith,
  };
  return { calibration, frames };
}

/** Degrades one HR stack with `seed`, restores it and assesses every frame (no flags: this is the yardstick). */
async function restoreAndAssess(engine: RestoreEngine, path: string, card: ModelCard, seed: number, tta: boolean, signal: AbortSignal | undefined): Promise<FrameTrust[]> {
  const hr = await openTiffStack(path);
  try {
    const lr = degradedSource(hr, card.degradation, seed);
    const out: FrameTrust[] = [];
    const { height, width } = lr.info;
    const sink = new MemoryFrameSink(engine.outputInfo(lr.info), () => undefined);
    await engine.restore(lr, sink, {
      tta,
      ...(signal ? { signal } : {}),
      onFrame: (f) => {
        out.push(assessFrame({ index: f.index, lr: f.input, restored: f.output, height, width, uncertainty: f.uncertainty }, card, null).stats);
      },
    });
    return out;
  } finally {
    await hr.close();
  }
}

export interface CalibrateModelOptions {
  tta: boolean;
  device: Device;
  /** onnxruntime CPU threads (0 or absent: its default). */
  threads?: number;
  /** Recorded in the card: how to rerun this calibration, and what computed it. */
  command: string;
  computedWith: string;
  /** Python interpreter for the trainer's `valset` (default /usr/bin/python3). */
  python?: string;
  /** Fraction of the calibration done, after each series and seed. */
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

/**
 * Calibrates a model folder from the training config that made it (a file path or the config object):
 * the trainer lists its held-out validation series (`python3 -m pssr_trainer valset`, the same split
 * training used), they are degraded, restored and measured here, and the card gets `calibration`.
 * `pssr calibrate`, `pssr train` and the worker's train jobs call this. Null (and the card
 * untouched) when the config holds out no validation data.
 */
export async function calibrateModel(model: ModelBundle, config: string | TrainConfig, opts: CalibrateModelOptions): Promise<TrustCalibration | null> {
  const dir = await mkdtemp(join(tmpdir(), 'pssr-calibrate-'));
  try {
    const series = await exportValidationSet(config, dir, opts.python ? { python: opts.python } : {});
    if (series.length === 0) return null;
    const engine = await RestoreEngine.load(model, { device: opts.device, ...(opts.threads ? { threads: opts.threads } : {}) });
    const total = series.reduce((n, s) => n + s.frames, 0) * CALIBRATION_SEEDS.length;
    const { calibration } = await calibrate(engine, series.map((s) => ({ path: s.path, label: `${s.series} ${s.part}`.trim() })), {
      tta: opts.tta,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress ? { onProgress: (done: number) => opts.onProgress!(Math.min(1, done / total)) } : {}),
      data: series.map((s) => `${s.series}${s.part ? ` ${s.part}` : ''} (${s.frames} frame${s.frames === 1 ? '' : 's'})`).join(', '),
      command: opts.command,
      computedWith: opts.computedWith,
    });
    await writeCardCalibration(model.dir, calibration);
    return calibration;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The pooled median, and the widest 5th/95th percentiles of any one series. */
function summarizeAcross(all: number[], perSeries: number[][]): StatSummary {
  const pooled = summarizeValues(all);
  const each = perSeries.map(summarizeValues);
  return { median: pooled.median, p05: Math.min(pooled.p05, ...each.map((e) => e.p05)), p95: Math.max(pooled.p95, ...each.map((e) => e.p95)) };
}
