/**
 * The trust report of one restoration (issue 8), built frame by frame with bounded memory: per-frame
 * statistics (packages/core trust/), consistency.tif (float32, frames x LR size), uncertainty.tif (float32,
 * output size, TTA only), report.json and preview.png. Everything is written to a staging folder beside the
 * destination and moved in only by finish(), so a failed or canceled run leaves no half-written report.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PssrError, assessFrame, checkPixelSize, trustThresholds, upsampleBilinear4 } from '@pssr/core';
import type { FrameArray, FrameSink, FrameTrust, ModelCard, PixelSizeCheck, StackInfo, TrustThresholds } from '@pssr/core';
import { createTiffStackWriter } from '@pssr/tiff';
import { displayRange, frameLines, renderPreview } from './preview.js';
import type { PreviewContent } from './preview.js';

export const REPORT_FILES = { report: 'report.json', consistency: 'consistency.tif', uncertainty: 'uncertainty.tif', preview: 'preview.png' } as const;

export const REPORT_SCHEMA = 'pssr-trust-report/1';

/** The model a report is about (a @pssr/models ModelBundle fits). */
export interface ReportModel {
  name: string;
  card: ModelCard;
}

export interface TrustReportOptions {
  model: ReportModel;
  /** The LR stack that was (or will be) restored. */
  input: StackInfo;
  /** Whether uncertainty frames will be given (restores with TTA). */
  tta: boolean;
  /** Shown in report.json: where the input and the restoration came from (file names, stack ids). */
  inputName?: string;
  restoredName?: string;
  /** Replace report files already in the folder (otherwise a non-empty folder is refused). */
  overwrite?: boolean;
  software?: string;
}

/** One frame as the engine's onFrame hands it over (or as `pssr check` reads it). */
export interface ReportFrame {
  index: number;
  input: FrameArray;
  output: FrameArray;
  uncertainty: Float32Array | null;
}

export interface TrustSummary {
  flagged: boolean;
  frames: number;
  flaggedFrames: number[];
  /** The one-line verdict the CLI prints. */
  verdict: string;
  rse: { median: number; max: number };
  rsp: { median: number; min: number };
  uncertainty: { median: number; max: number } | null;
  warnings: string[];
}

export interface TrustReport {
  schema: typeof REPORT_SCHEMA;
  createdAt: string;
  software: string | null;
  model: { name: string; version: string; sha256: string; modality: string; calibrated: boolean };
  input: { name: string | null; frames: number; height: number; width: number; dtype: string; pixelSize: StackInfo['pixelSize'] | null };
  restored: { name: string | null; height: number; width: number };
  tta: boolean;
  thresholds: TrustThresholds | null;
  pixelSize: PixelSizeCheck;
  summary: TrustSummary;
  frames: FrameTrust[];
  files: { report: string; consistency: string; uncertainty: string | null; preview: string };
  units: string;
  limits: string;
}

export const UNITS_NOTE =
  'rse, localPeak, noise and uncertainty are in normalised units: fractions of the LR frame\'s normalisation range (the card\'s percentiles, hi - lo). consistency.tif holds |LR - fitted restoration mapped back onto the LR grid| in the input\'s intensity units; uncertainty.tif the per-pixel standard deviation of the 8 test-time orientations in the output\'s intensity units.';

export const LIMITS_NOTE =
  'The consistency check compares the restoration with the measured image after mapping it back to the measured pixels: it cannot see errors that survive downsampling (detail finer than an LR pixel that averages out right). Uncertainty measures only how much the network disagrees with itself under rotations and flips, not whether it is right. Flags compare against this model\'s own validation data: a model that is wrong in the same way on its validation data is not flagged.';

export class TrustReportWriter {
  private readonly frames: FrameTrust[] = [];
  private preview: PreviewContent | null = null;
  private finished = false;
  private readonly thresholds: TrustThresholds | null;
  private readonly centre: number;

  private constructor(
    readonly dir: string,
    private readonly staging: string,
    private readonly opts: TrustReportOptions,
    private readonly consistencySink: FrameSink,
    private readonly uncertaintySink: FrameSink | null,
  ) {
    this.thresholds = trustThresholds(opts.model.card);
    this.centre = Math.floor(opts.input.frames / 2);
  }

  /**
   * Checks that `dir` can receive a report (a new folder, an empty one, or with `overwrite` one holding an
   * older report) and opens the staging folder beside it. Nothing appears in `dir` before finish().
   */
  static async create(dir: string, opts: TrustReportOptions): Promise<TrustReportWriter> {
    const target = resolve(dir);
    await checkDestination(target, opts.overwrite === true);
    const staging = join(dirname(target), `.${basename(target)}.partial-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(staging);
    } catch (err) {
      throw new PssrError('OUTPUT_NOT_WRITABLE', `Cannot write the report folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'} in ${dirname(dir)}.`, true, { cause: err });
    }
    const software = opts.software ?? 'PSSR';
    try {
      const lr = { ...opts.input, dtype: 'float32' as const };
      const consistency = await createTiffStackWriter(join(staging, REPORT_FILES.consistency), lr, { software });
      const out: StackInfo = { ...lr, height: 4 * lr.height, width: 4 * lr.width };
      if (lr.pixelSize) out.pixelSize = { ...lr.pixelSize, x: lr.pixelSize.x / 4, y: lr.pixelSize.y / 4 };
      const uncertainty = opts.tta ? await createTiffStackWriter(join(staging, REPORT_FILES.uncertainty), out, { software }) : null;
      return new TrustReportWriter(target, staging, opts, consistency, uncertainty);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  /** Assesses one frame (in order, 0..frames-1) and appends its maps. */
  async addFrame(frame: ReportFrame): Promise<FrameTrust> {
    const { input } = this.opts;
    if (frame.index !== this.frames.length) throw new PssrError('INTERNAL', `Report frames must come in order: got ${frame.index}, expected ${this.frames.length}.`, false);
    if (this.opts.tta && !frame.uncertainty) throw new PssrError('INTERNAL', `Frame ${frame.index} has no uncertainty map although the report was opened for TTA.`, false);
    const result = assessFrame(
      { index: frame.index, lr: frame.input, restored: frame.output, height: input.height, width: input.width, uncertainty: frame.uncertainty },
      this.opts.model.card,
      this.thresholds,
    );
    await this.consistencySink.writeFrame(result.residual);
    if (this.uncertaintySink && frame.uncertainty) await this.uncertaintySink.writeFrame(frame.uncertainty);
    this.frames.push(result.stats);
    if (frame.index === this.centre) {
      const bilinear = upsampleBilinear4(Float32Array.from(frame.input), input.height, input.width);
      this.preview = this.previewContent(result.stats, bilinear, frame.output, result.residual, frame.uncertainty);
    }
    return result.stats;
  }

  /** Writes report.json and preview.png, commits the stacks and moves the report into its folder. */
  async finish(): Promise<TrustReport> {
    const { input, model } = this.opts;
    if (this.frames.length !== input.frames || !this.preview) {
      throw new PssrError('INTERNAL', `The report got ${this.frames.length} of ${input.frames} frames.`, false);
    }
    try {
      await this.consistencySink.commit();
      await this.uncertaintySink?.commit();
      const report = this.build();
      await writeFile(join(this.staging, REPORT_FILES.report), `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(join(this.staging, REPORT_FILES.preview), renderPreview({ ...this.preview, heading: previewHeading(report, this.centre) }));
      await this.moveIntoPlace();
      this.finished = true;
      return report;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Removes everything written so far. Safe after a failure and more than once. */
  async abort(): Promise<void> {
    if (this.finished) return;
    await this.consistencySink.abort();
    await this.uncertaintySink?.abort();
    await rm(this.staging, { recursive: true, force: true });
  }

  private build(): TrustReport {
    const { input, model, tta } = this.opts;
    const card = model.card;
    const pixelSize = checkPixelSize(card, input.pixelSize, model.name);
    return {
      schema: REPORT_SCHEMA,
      createdAt: new Date().toISOString(),
      software: this.opts.software ?? null,
      model: { name: model.name, version: card.version, sha256: card.sha256, modality: card.modality, calibrated: card.calibration !== undefined },
      input: { name: this.opts.inputName ?? null, frames: input.frames, height: input.height, width: input.width, dtype: input.dtype, pixelSize: input.pixelSize ?? null },
      restored: { name: this.opts.restoredName ?? null, height: 4 * input.height, width: 4 * input.width },
      tta,
      thresholds: this.thresholds,
      pixelSize,
      summary: summarizeFrames(this.frames, model.name, pixelSize, this.thresholds !== null),
      frames: this.frames,
      files: { ...REPORT_FILES, uncertainty: tta ? REPORT_FILES.uncertainty : null },
      units: UNITS_NOTE,
      limits: LIMITS_NOTE,
    };
  }

  private previewContent(stats: FrameTrust, bilinear: Float32Array, output: FrameArray, residual: Float32Array, uncertainty: Float32Array | null): PreviewContent {
    const { height, width, frames } = this.opts.input;
    const H = 4 * height;
    const W = 4 * width;
    const unit = this.opts.input.dtype === 'float32' ? '' : 'grey';
    // Keep copies: the engine recycles its buffers after onFrame.
    const panels: PreviewContent['panels'] = [
      { title: 'bilinear input (4x)', data: bilinear, height: H, width: W, scale: 'grey', unit },
      { title: `restored (${this.opts.model.name})`, data: Float32Array.from(output), height: H, width: W, scale: 'grey', unit },
      { title: 'consistency residual (LR grid)', data: residual, height, width, scale: 'inferno', unit },
    ];
    if (uncertainty) panels.push({ title: 'uncertainty (TTA std)', data: Float32Array.from(uncertainty), height: H, width: W, scale: 'inferno', unit });
    // The input and the restoration share one grey window, so brightness compares.
    panels[0]!.range = panels[1]!.range = displayRange(bilinear, 'grey');
    return {
      heading: '',
      panels,
      regions: stats.regions.map((r) => ({ x: 4 * r.x, y: 4 * r.y, w: 4 * r.w, h: 4 * r.h })),
      outputHeight: H,
      outputWidth: W,
      lines: frameLines(stats, frames),
      flagged: stats.flags.length > 0,
    };
  }

  private async moveIntoPlace(): Promise<void> {
    if (!(await exists(this.dir))) {
      await rename(this.staging, this.dir);
      return;
    }
    // An existing (empty, or overwritten) folder: replace our files one by one, drop a stale uncertainty map.
    if (!this.opts.tta) await rm(join(this.dir, REPORT_FILES.uncertainty), { force: true });
    for (const name of await readdir(this.staging)) await rename(join(this.staging, name), join(this.dir, name));
    await rm(this.staging, { recursive: true, force: true });
  }
}

function previewHeading(report: TrustReport, centre: number): string {
  const { summary, model } = report;
  const what = summary.flagged ? `FLAGGED: frame${summary.flaggedFrames.length === 1 ? '' : 's'} ${summary.flaggedFrames.map((i) => i + 1).join(', ')} of ${summary.frames}` : `not flagged (${summary.frames} frame${summary.frames === 1 ? '' : 's'})`;
  return `${what}; ${model.name} ${model.version}; showing frame ${centre + 1} (the centre)`;
}

/** Summary over frames: flagged when any frame has a flag; warnings for stack-level concerns. */
export function summarizeFrames(frames: FrameTrust[], model: string, pixelSize: PixelSizeCheck, calibrated: boolean): TrustSummary {
  const flaggedFrames = frames.filter((f) => f.flags.length > 0).map((f) => f.index);
  const warnings: string[] = [];
  if (pixelSize.status === 'mismatch') warnings.push(pixelSize.message);
  if (!calibrated) warnings.push(`the ${model} card has no calibration: statistics only, no out-of-distribution flags (run pssr calibrate)`);
  const rse = frames.map((f) => f.rse);
  const rsp = frames.map((f) => f.rsp);
  const unc = frames.map((f) => f.uncertainty).filter((u): u is number => u !== null);
  const summary: TrustSummary = {
    flagged: flaggedFrames.length > 0,
    frames: frames.length,
    flaggedFrames,
    verdict: '',
    rse: { median: median(rse), max: Math.max(...rse) },
    rsp: { median: median(rsp), min: Math.min(...rsp) },
    uncertainty: unc.length > 0 ? { median: median(unc), max: Math.max(...unc) } : null,
    warnings,
  };
  summary.verdict = verdictLine(summary, frames);
  return summary;
}

function verdictLine(s: TrustSummary, frames: FrameTrust[]): string {
  const stats = `RSE median ${s.rse.median.toFixed(4)}, RSP median ${s.rsp.median.toFixed(4)}${s.uncertainty ? `, uncertainty median ${s.uncertainty.median.toFixed(4)}` : ''}`;
  const warn = s.warnings.length > 0 ? `; warning: ${s.warnings.join('; ')}` : '';
  if (!s.flagged) return `trust: ${s.frames} frame${s.frames === 1 ? '' : 's'} checked, none flagged (${stats})${warn}`;
  const first = frames.find((f) => f.flags.length > 0)!;
  return `trust: FLAGGED ${s.flaggedFrames.length} of ${s.frames} frame${s.frames === 1 ? '' : 's'}; frame ${first.index + 1}: ${first.flags[0]!.reason}${warn}`;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function checkDestination(dir: string, overwrite: boolean): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (!st) {
    const parent = await stat(dirname(dir)).catch(() => null);
    if (!parent?.isDirectory()) throw new PssrError('OUTPUT_NOT_WRITABLE', `Cannot create the report folder ${dir}: ${dirname(dir)} does not exist.`);
    return;
  }
  if (!st.isDirectory()) throw new PssrError('OUTPUT_EXISTS', `The report folder ${dir} is a file; give a folder (new or empty).`);
  const entries = await readdir(dir);
  if (entries.length > 0 && !overwrite) {
    throw new PssrError('OUTPUT_EXISTS', `The report folder ${dir} is not empty; choose a new folder or allow overwriting (--force).`);
  }
}
