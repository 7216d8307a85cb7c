/**
 * The restore processor: stack from storage -> temp file -> tiled engine (frame by frame, the trust report
 * built alongside) -> result TIFF and report files in temp files -> object store under new keys -> one
 * transaction records the result stack, the report's map stacks and the job's success with its metrics.
 * Nothing is visible before that transaction, so a killed worker leaves no partial result; a cancel aborts
 * the engine within a tile batch.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { PssrError, pixelSizeMatch, validateTileSpec, type StackInfo } from '@pssr/core';
import type { JobRecord, ModelRecord, OutputReportInput, StackRecord } from '@pssr/db';
import { RestoreEngine, type ModelBundle, type RestoreProgress, type RestoreTiming } from '@pssr/inference';
import { parseRestoreOptions, type JobContext, type RestoreJobOptions } from '@pssr/queue';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';
import { beginJob, downloadStack, uploadJobStack, type JobRun, type UploadedStack, type WorkerDeps } from './context.js';
import { materializeModel } from './models.js';
import { TrustRecorder, storeReport, trustMetrics, type TrustOutcome } from './trust.js';

function resultName(inputName: string, modelName: string, given: string | undefined): string {
  if (given !== undefined && given.length > 0) return given;
  const base = inputName.replace(/\.(ome\.)?tiff?$/i, '');
  return `${base}.${modelName}-x4.tif`;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** What a restore job works on, loaded and checked before anything is downloaded. */
export interface RestoreInputs {
  options: RestoreJobOptions;
  stack: StackRecord;
  model: ModelRecord;
  bundle: ModelBundle;
  /** Name of the result stack. */
  outputName: string;
}

/** The restored stack, still a local temp file. */
export interface RestoredFile {
  path: string;
  info: StackInfo;
  timing: RestoreTiming;
  trust: TrustOutcome;
}


/** Wall-clock marks of the steps, for the job's metrics. */
interface StepTimes {
  start: number;
  downloaded: number;
  restored: number;
  uploaded: number;
}

export async function processRestore(deps: WorkerDeps, ctx: JobContext): Promise<void> {
  const run = await beginJob(deps, ctx, 'restore');
  if (!run) return;
  const uploadedKeys: string[] = [];
  // BullMQ renews the job lock from this event loop: record how long it was ever blocked, as evidence that
  // decoding, tiling and blending never starve the renewal (onnxruntime itself runs in a worker thread).
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  try {
    await runRestore(deps, run, {
      uploading: (key) => void uploadedKeys.push(key),
      eventLoopMaxDelayMs: () => Math.round(loopDelay.max / 1e5) / 10,
    });
  } catch (err) {
    for (const key of uploadedKeys) await deps.store.delete(key).catch(() => undefined);
    if (run.cancel.signal.aborted && (await run.cancel.poll())) {
      run.log.info('restore canceled');
      return;
    }
    if (err instanceof PssrError && err.code === 'DEVICE_UNAVAILABLE') {
      // This worker's GPU is the problem, not the job: hand it back for a retry (perhaps elsewhere).
      throw new PssrError('DEVICE_UNAVAILABLE', err.message, false, { cause: err });
    }
    throw err;
  } finally {
    loopDelay.disable();
    await run.end();
  }
}

interface RestoreHooks {
  /** Called before each object is uploaded, so a failure after it can delete the objects. */
  uploading(key: string): void;
  eventLoopMaxDelayMs(): number;
}

/** The restore as a list of steps; each throws a PssrError the job's owner can act on. */
async function runRestore(deps: WorkerDeps, run: JobRun, hooks: RestoreHooks): Promise<void> {
  const start = performance.now();
  const inputs = await loadInputs(deps, run.job);
  const inPath = join(run.work, 'input.tif');
  await downloadStack(deps, inputs.stack, inPath);
  const downloaded = performance.now();
  run.progress.update(0.02);

  const restored = await restoreFile(deps, run, inputs, inPath);
  const restoredAt = performance.now();
  await run.progress.flush();
  if (run.cancel.signal.aborted) throw new PssrError('CANCELED', 'canceled');

  const stored = await uploadJobStack(deps, run.job.groupId, restored.path, restored.info, hooks.uploading);
  const report = restored.trust.status === 'ok' ? await storeReport(deps, run.job.groupId, inputs.outputName, restored.trust, hooks.uploading) : null;
  const times: StepTimes = { start, downloaded, restored: restoredAt, uploaded: performance.now() };
  const metrics = restoreMetrics(deps, inputs, restored, stored, times, hooks.eventLoopMaxDelayMs());
  await commitResult(deps, run, inputs, restored, stored, report, metrics);
}

/** The job's options, input stack and model version, checked against what this worker can run. */
export async function loadInputs(deps: WorkerDeps, job: JobRecord): Promise<RestoreInputs> {
  const options = parseRestoreOptions(job.options);
  const stack = job.inputStackId ? await deps.db.stacks.get(job.inputStackId, job.groupId) : null;
  if (!stack || stack.status !== 'ready') {
    throw new PssrError('INPUT_NOT_FOUND', `The job's input stack ${job.inputStackId ?? '(none)'} is missing or not ready.`);
  }
  const model = job.modelId ? await deps.db.models.get(job.modelId, job.groupId) : null;
  if (!model) throw new PssrError('MODEL_NOT_FOUND', `The job's model ${job.modelId ?? '(none)'} no longer exists.`);
  const bundle = await materializeModel(deps, model);
  // The API checked the tile size against this card at submission; say it in the API's words if not.
  if (options.tileSize !== undefined) validateTileSpec({ ...bundle.card.tile, size: options.tileSize }, 'options.tileSize');
  return { options, stack, model, bundle, outputName: resultName(stack.name, model.name, options.name) };
}

/**
 * Runs the tiled engine from the input file to a committed output file (removed again on any failure), and
 * the trust report alongside it, frame by frame (with `tta`, the engine's uncertainty maps go into it).
 */
export async function restoreFile(deps: WorkerDeps, run: JobRun, inputs: RestoreInputs, inPath: string): Promise<RestoredFile> {
  const { bundle, options } = inputs;
  const path = join(run.work, 'output.tif');
  const software = `pssr ${bundle.name} ${bundle.card.version}`;
  const tta = options.tta === true;
  const source = await openTiffStack(inPath, { limits: deps.config.limits, channel: options.channel });
  try {
    const engine = await RestoreEngine.load(bundle, { device: deps.config.device, ...(deps.config.threads ? { threads: deps.config.threads } : {}) });
    const info = engine.outputInfo(source.info);
    const sink = await createTiffStackWriter(path, info, { software });
    const reportOptions = { dir: join(run.work, 'report'), model: bundle, input: source.info, tta, inputName: inputs.stack.name, restoredName: inputs.outputName, software, log: run.log };
    const resampled = options.matchPixelSize === true && pixelSizeMatch(source.info.pixelSize, bundle.card) !== null;
    const trust = resampled ? TrustRecorder.resampled(reportOptions) : await TrustRecorder.open(reportOptions);
    run.log.info({ frames: source.info.frames, height: source.info.height, width: source.info.width, model: bundle.name, provider: engine.provider, tta }, 'restoring');
    try {
      const timing = await engine.restore(source, sink, {
        signal: run.cancel.signal,
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        ...(options.tileSize !== undefined ? { tileSize: options.tileSize } : {}),
        matchPixelSize: options.matchPixelSize === true,
        onWarning: (message) => run.log.warn({ matchPixelSize: options.matchPixelSize === true }, message),
        tta,
        onFrame: trust.onFrame,
        onProgress: (p) => reportProgress(run, p),
      });
      await sink.commit();
      return { path, info, timing, trust: await trust.finish() };
    } catch (err) {
      await trust.abort();
      await sink.abort();
      throw err;
    }
  } finally {
    await source.close();
  }
}

/** Engine progress as job progress: 2% for the download, 93% for the tiles, the rest for storing. */
function reportProgress(run: JobRun, p: RestoreProgress): void {
  run.progress.update(0.02 + 0.93 * (p.tilesTotal > 0 ? p.tilesDone / p.tilesTotal : 0), {
    framesDone: p.framesDone,
    framesTotal: p.framesTotal,
    tilesDone: p.tilesDone,
    tilesTotal: p.tilesTotal,
    megapixelsPerSecond: round(p.megapixelsPerSecond),
    etaSeconds: p.etaSeconds === null ? null : round(p.etaSeconds, 1),
  });
}

export function restoreMetrics(deps: WorkerDeps, inputs: RestoreInputs, restored: RestoredFile, stored: UploadedStack, t: StepTimes, eventLoopMaxDelayMs: number) {
  const { timing } = restored;
  const { model, stack } = inputs;
  return {
    frames: timing.frames,
    tiles: timing.tiles,
    tileSize: timing.tileSize,
    outputMegapixels: round(timing.outputMegapixels),
    megapixelsPerSecond: round(timing.megapixelsPerSecond),
    provider: timing.provider,
    batchSize: timing.batchSize,
    tta: timing.tta,
    model: { id: model.id, name: model.name, version: model.version, sha256: model.sha256 },
    trust: trustMetrics(restored.trust, timing.tta),
    inputSha256: stack.sha256,
    outputSha256: stored.meta.sha256,
    workerHost: deps.config.workerHost,
    eventLoopMaxDelayMs,
    timings: {
      downloadSeconds: round((t.downloaded - t.start) / 1000),
      restoreSeconds: round(timing.seconds),
      sessionSeconds: round(timing.sessionSeconds),
      // Inside restoreSeconds: the trust report is computed while the engine restores.
      reportSeconds: round(restored.trust.seconds),
      uploadSeconds: round((t.uploaded - t.restored) / 1000),
      totalSeconds: round((t.uploaded - t.start) / 1000),
    },
  };
}

/**
 * One transaction: the result stack, the report with its map stacks and the job's success appear together,
 * or (canceled) not at all; processRestore then deletes the uploaded objects.
 */
async function commitResult(
  deps: WorkerDeps,
  run: JobRun,
  inputs: RestoreInputs,
  restored: RestoredFile,
  stored: UploadedStack,
  report: OutputReportInput | null,
  metrics: ReturnType<typeof restoreMetrics>,
): Promise<void> {
  const committed = await deps.db.jobs.succeedWithOutput(run.job.id, {
    stack: { ...stored, name: inputs.outputName },
    report,
    metrics,
  });
  if (!committed) throw new PssrError('CANCELED', 'canceled while the result was being stored');
  const { trust } = metrics;
  run.log.info(
    { megapixelsPerSecond: metrics.megapixelsPerSecond, tiles: metrics.tiles, provider: metrics.provider, seconds: metrics.timings.totalSeconds, trust: trust.status, flaggedFrames: trust.flaggedFrames.length },
    'restore succeeded',
  );
}
