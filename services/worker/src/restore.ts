/**
 * The restore processor: stack from storage -> temp file -> tiled engine (frame by frame) -> result TIFF in a
 * temp file -> object store under a new key -> one transaction records the result stack and the job's
 * success with its metrics. Nothing is visible before that transaction, so a killed worker leaves no partial
 * result; a cancel aborts the engine within a tile batch.
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PssrError, type StackInfo } from '@pssr/core';
import { toStackMetadata, type JobRecord } from '@pssr/db';
import { RestoreEngine, type RestoreTiming } from '@pssr/inference';
import { sha256File } from '@pssr/models';
import type { JobContext } from '@pssr/queue';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';
import { CancelWatch, ProgressWriter, beginJob, downloadStack, type WorkerDeps } from './context.js';
import { materializeModel } from './models.js';

export function resultStorageKey(groupId: string, stackId: string): string {
  return `results/${groupId}/${stackId}.tif`;
}

function resultName(inputName: string, modelName: string, given: unknown): string {
  if (typeof given === 'string' && given.length > 0) return given;
  const base = inputName.replace(/\.(ome\.)?tiff?$/i, '');
  return `${base}.${modelName}-x4.tif`;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function processRestore(deps: WorkerDeps, ctx: JobContext): Promise<void> {
  const run = await beginJob(deps, ctx, 'restore');
  if (!run) return;
  const { job, log, cancel, progress, work } = run;
  let uploadedKey: string | null = null;
  // BullMQ renews the job lock from this event loop: record how long it was ever blocked, as evidence that
  // decoding, tiling and blending never starve the renewal (onnxruntime itself runs in a worker thread).
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  try {
    await runRestore(deps, job, work, cancel, progress, log, (key) => (uploadedKey = key), () => Math.round(loopDelay.max / 1e5) / 10);
  } catch (err) {
    if (uploadedKey) await deps.store.delete(uploadedKey).catch(() => undefined);
    if (cancel.signal.aborted && (await cancel.poll())) {
      log.info('restore canceled');
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

async function runRestore(
  deps: WorkerDeps,
  job: JobRecord,
  work: string,
  cancel: CancelWatch,
  progress: ProgressWriter,
  log: WorkerDeps['log'],
  uploaded: (key: string) => void,
  eventLoopMaxDelayMs: () => number,
): Promise<void> {
  const t0 = performance.now();
  const stack = job.inputStackId ? await deps.db.stacks.get(job.inputStackId, job.groupId) : null;
  if (!stack || stack.status !== 'ready') {
    throw new PssrError('INPUT_NOT_FOUND', `The job's input stack ${job.inputStackId ?? '(none)'} is missing or not ready.`);
  }
  const record = job.modelId ? await deps.db.models.get(job.modelId, job.groupId) : null;
  if (!record) throw new PssrError('MODEL_NOT_FOUND', `The job's model ${job.modelId ?? '(none)'} no longer exists.`);
  const bundle = await materializeModel(deps, record);

  const inPath = join(work, 'input.tif');
  await downloadStack(deps, stack, inPath);
  const tDownload = performance.now();
  progress.update(0.02);

  const outStackId = randomUUID();
  const outPath = join(work, 'output.tif');
  const source = await openTiffStack(inPath);
  let timing: RestoreTiming;
  let info: StackInfo;
  try {
    const engine = await RestoreEngine.load(bundle, { device: deps.config.device, ...(deps.config.threads ? { threads: deps.config.threads } : {}) });
    info = engine.outputInfo(source.info);
    const sink = await createTiffStackWriter(outPath, info, { software: `pssr ${bundle.name} ${bundle.card.version}` });
    const opts = job.options as { batchSize?: number; tileSize?: number };
    log.info({ frames: source.info.frames, height: source.info.height, width: source.info.width, model: bundle.name, provider: engine.provider }, 'restoring');
    try {
      timing = await engine.restore(source, sink, {
        signal: cancel.signal,
        ...(typeof opts.batchSize === 'number' ? { batchSize: opts.batchSize } : {}),
        ...(typeof opts.tileSize === 'number' ? { tileSize: opts.tileSize } : {}),
        onProgress: (p) =>
          progress.update(0.02 + 0.93 * (p.tilesTotal > 0 ? p.tilesDone / p.tilesTotal : 0), {
            framesDone: p.framesDone,
            framesTotal: p.framesTotal,
            tilesDone: p.tilesDone,
            tilesTotal: p.tilesTotal,
            megapixelsPerSecond: round(p.megapixelsPerSecond),
            etaSeconds: p.etaSeconds === null ? null : round(p.etaSeconds, 1),
          }),
      });
      await sink.commit();
    } catch (err) {
      await sink.abort();
      throw err;
    }
  } finally {
    await source.close();
  }
  const tRestore = performance.now();
  await progress.flush();
  if (cancel.signal.aborted) throw new PssrError('CANCELED', 'canceled');

  const outSha = await sha256File(outPath);
  const outBytes = (await stat(outPath)).size;
  const key = resultStorageKey(job.groupId, outStackId);
  uploaded(key);
  await deps.store.putFile(key, outPath, { contentType: 'image/tiff' });
  const tUpload = performance.now();

  const metrics = {
    frames: timing.frames,
    tiles: timing.tiles,
    tileSize: timing.tileSize,
    outputMegapixels: round(timing.outputMegapixels),
    megapixelsPerSecond: round(timing.megapixelsPerSecond),
    provider: timing.provider,
    batchSize: timing.batchSize,
    model: { id: record.id, name: record.name, version: record.version, sha256: record.sha256 },
    inputSha256: stack.sha256,
    outputSha256: outSha,
    workerHost: deps.config.workerHost,
    eventLoopMaxDelayMs: eventLoopMaxDelayMs(),
    timings: {
      downloadSeconds: round((tDownload - t0) / 1000),
      restoreSeconds: round(timing.seconds),
      sessionSeconds: round(timing.sessionSeconds),
      uploadSeconds: round((tUpload - tRestore) / 1000),
      totalSeconds: round((tUpload - t0) / 1000),
    },
  };
  // One transaction: the result stack and the job's success appear together, or (canceled) not at all.
  const committed = await deps.db.jobs.succeedWithOutput(job.id, {
    stack: {
      id: outStackId,
      name: resultName(stack.name, record.name, job.options['name']),
      storageKey: key,
      meta: toStackMetadata(info, outSha, outBytes),
    },
    metrics,
  });
  if (!committed) {
    await deps.store.delete(key).catch(() => undefined);
    throw new PssrError('CANCELED', 'canceled while the result was being stored');
  }
  log.info({ megapixelsPerSecond: metrics.megapixelsPerSecond, tiles: metrics.tiles, provider: metrics.provider, seconds: metrics.timings.totalSeconds }, 'restore succeeded');
}
