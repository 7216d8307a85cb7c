/**
 * The trust report of a restore job (issue 8), as worker steps: built frame by frame while the engine
 * restores (the engine's onFrame hands each LR and output frame over), checked as local files, then stored
 * (map stacks + report.json + preview.png) and recorded with the result in one transaction (restore.ts).
 *
 * A failure of the report itself (computing, rendering, writing it in scratch) never fails the job: the
 * restoration is good whatever its report says, and a report bug would fail every retry too. The job then
 * succeeds with `metrics.trust.status = "unavailable"` and the reason, which the job view, the report route
 * (404 REPORT_UNAVAILABLE) and /metrics show, so the missing evidence is visible, not silent. Storage
 * errors while uploading the report are transient and retry the job like any upload.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { PssrError, type StackInfo } from '@pssr/core';
import type { OutputReportInput } from '@pssr/db';
import type { ModelBundle, RestoredFrame } from '@pssr/inference';
import type { RestoreTrust } from '@pssr/queue';
import { REPORT_FILES, TrustReportWriter, type TrustReport } from '@pssr/report';
import { inspectTiff } from '@pssr/tiff';
import { uploadJobStack, type WorkerDeps } from './context.js';

/** A local TIFF ready to become a stack. */
export interface LocalStack {
  path: string;
  info: StackInfo;
}

/** The report's files in scratch, checked, ready to store. */
export interface TrustReportFiles {
  status: 'ok';
  report: TrustReport;
  consistency: LocalStack;
  uncertainty: LocalStack | null;
  reportPath: string;
  previewPath: string;
}

export interface TrustUnavailable {
  status: 'unavailable';
  reason: string;
}

/** What the report step gave, and the seconds it took (inside the restore's time). */
export type TrustOutcome = (TrustReportFiles | TrustUnavailable) & { seconds: number };

export interface TrustRecorderOptions {
  /** Folder for the report (inside the job's scratch folder; must not exist yet). */
  dir: string;
  model: ModelBundle;
  input: StackInfo;
  tta: boolean;
  inputName: string;
  restoredName: string;
  software: string;
  log: Logger;
}

/**
 * Collects the report while the engine restores. None of its methods throws: the first failure is logged,
 * the partial report removed, and every later frame ignored; `finish` then says why it is unavailable.
 */
export class TrustRecorder {
  private seconds = 0;

  private constructor(
    private readonly opts: TrustRecorderOptions,
    private writer: TrustReportWriter | null,
    private failure: string | null,
  ) {}

  /**
   * No report for a restore that ran resampled to the model's pixel size (matchPixelSize): it compares
   * output and input pixel for pixel, which a resampled restore does not pair up (`pssr restore` refuses
   * --report with --match-pixel-size for the same reason).
   */
  static resampled(opts: TrustRecorderOptions): TrustRecorder {
    return new TrustRecorder(opts, null, "the restore ran resampled to the model's pixel size (matchPixelSize), and the trust report compares output and input pixel for pixel: it is not computed for resampled restores yet");
  }

  static async open(opts: TrustRecorderOptions): Promise<TrustRecorder> {
    const started = performance.now();
    let recorder: TrustRecorder;
    try {
      const writer = await TrustReportWriter.create(opts.dir, {
        model: opts.model,
        input: opts.input,
        tta: opts.tta,
        inputName: opts.inputName,
        restoredName: opts.restoredName,
        software: opts.software,
      });
      recorder = new TrustRecorder(opts, writer, null);
    } catch (err) {
      recorder = new TrustRecorder(opts, null, null);
      await recorder.fail(err, 'opening the report');
    }
    recorder.seconds += (performance.now() - started) / 1000;
    return recorder;
  }

  /** The engine's onFrame. */
  readonly onFrame = async (frame: RestoredFrame): Promise<void> => {
    if (!this.writer) return;
    const started = performance.now();
    try {
      await this.writer.addFrame(frame);
    } catch (err) {
      await this.fail(err, `assessing frame ${frame.index + 1}`);
    }
    this.seconds += (performance.now() - started) / 1000;
  };

  /** Writes the report files and checks the map stacks; never throws. */
  async finish(): Promise<TrustOutcome> {
    const started = performance.now();
    const outcome = await this.complete();
    this.seconds += (performance.now() - started) / 1000;
    return { ...outcome, seconds: this.seconds };
  }

  /** Removes whatever was written (the restore failed or was canceled). */
  async abort(): Promise<void> {
    const writer = this.writer;
    this.writer = null;
    await writer?.abort().catch(() => undefined);
  }

  private async complete(): Promise<TrustReportFiles | TrustUnavailable> {
    if (this.failure !== null || !this.writer) return { status: 'unavailable', reason: this.failure ?? 'the report was not opened' };
    try {
      const report = await this.writer.finish();
      const { dir } = this.opts;
      return {
        status: 'ok',
        report,
        consistency: await localStack(join(dir, REPORT_FILES.consistency)),
        uncertainty: report.tta ? await localStack(join(dir, REPORT_FILES.uncertainty)) : null,
        reportPath: join(dir, REPORT_FILES.report),
        previewPath: join(dir, REPORT_FILES.preview),
      };
    } catch (err) {
      await this.fail(err, 'writing the report');
      return { status: 'unavailable', reason: this.failure! };
    }
  }

  private async fail(err: unknown, step: string): Promise<void> {
    const detail = err instanceof PssrError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    this.failure = `the trust report failed while ${step} (${detail}); the restoration itself is complete`;
    this.opts.log.error({ err }, `trust report unavailable: failed while ${step}`);
    await this.abort();
  }
}

async function localStack(path: string): Promise<LocalStack> {
  return { path, info: await inspectTiff(path) };
}

/** `metrics.trust` of the job (its contract: @pssr/queue RestoreTrustSchema). */
export function trustMetrics(outcome: TrustOutcome, tta: boolean): RestoreTrust {
  if (outcome.status === 'unavailable') {
    return { status: 'unavailable', tta, flagged: null, frames: 0, flaggedFrames: [], verdict: null, warnings: [], rse: null, rsp: null, uncertainty: null, reason: outcome.reason };
  }
  const s = outcome.report.summary;
  return {
    status: 'ok',
    tta,
    flagged: s.flagged,
    frames: s.frames,
    flaggedFrames: s.flaggedFrames,
    verdict: s.verdict,
    warnings: s.warnings,
    rse: finite(s.rse),
    rsp: finite(s.rsp),
    uncertainty: s.uncertainty ? finite(s.uncertainty) : null,
    reason: null,
  };
}

/** A summary statistic for JSON: null rather than a NaN that would turn into null fields. */
function finite<T extends Record<string, number>>(stat: T): T | null {
  return Object.values(stat).every(Number.isFinite) ? stat : null;
}

export function reportStorageKeys(groupId: string): { reportKey: string; previewKey: string } {
  // A fresh folder per attempt: a stalled attempt that wakes up late cannot overwrite the committed report.
  const base = `reports/${groupId}/${randomUUID()}`;
  return { reportKey: `${base}/${REPORT_FILES.report}`, previewKey: `${base}/${REPORT_FILES.preview}` };
}

/** Uploads the report's files; no record refers to them yet. Storage errors propagate (the job retries). */
export async function storeReport(
  deps: Pick<WorkerDeps, 'store'>,
  groupId: string,
  resultName: string,
  outcome: TrustReportFiles,
  uploading: (key: string) => void,
): Promise<OutputReportInput> {
  const put = async (key: string, path: string, contentType: string) => {
    uploading(key);
    await deps.store.putFile(key, path, { contentType });
  };
  const base = resultName.replace(/\.(ome\.)?tiff?$/i, '');
  const mapStack = async (local: LocalStack, kind: 'consistency' | 'uncertainty') => ({
    name: `${base}.${kind}.tif`,
    ...(await uploadJobStack(deps, groupId, local.path, local.info, uploading)),
  });
  const consistency = await mapStack(outcome.consistency, 'consistency');
  const uncertainty = outcome.uncertainty ? await mapStack(outcome.uncertainty, 'uncertainty') : null;
  const { reportKey, previewKey } = reportStorageKeys(groupId);
  await put(reportKey, outcome.reportPath, 'application/json');
  await put(previewKey, outcome.previewPath, 'image/png');
  return { consistency, uncertainty, reportKey, previewKey };
}
