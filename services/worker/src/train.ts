/**
 * The train processor: the group's HR stacks from storage -> the Python trainer (a subprocess, so the event
 * loop stays free for BullMQ's lock renewal) with loss and validation points written to Postgres as they
 * come -> export check through onnxruntime -> trust calibration on the held-out data (card `calibration`, as
 * `pssr train` does) -> model files to the object store -> a new model version owned by the group, usable by
 * name in restore jobs.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PssrError } from '@pssr/core';
import type { TrustCalibration } from '@pssr/core';
import type { JobRecord, ModelRecord } from '@pssr/db';
import { RestoreEngine, verifyExport } from '@pssr/inference';
import { loadModelDir } from '@pssr/models';
import { parseTrainOptions, type JobContext } from '@pssr/queue';
import { calibrateModel } from '@pssr/report';
import { runTraining, type TrainConfig, type TrainEvent } from '@pssr/trainer';
import { CancelWatch, ProgressWriter, beginJob, downloadStack, type WorkerDeps } from './context.js';
import { MODEL_FILES, WEIGHTS_FILE, materializeModel } from './models.js';

export function modelStorageKey(groupId: string, jobId: string): string {
  return `models/${groupId}/${jobId}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function resolveInit(deps: WorkerDeps, ref: string, groupId: string): Promise<ModelRecord> {
  let rec: ModelRecord | null;
  if (UUID_RE.test(ref)) rec = await deps.db.models.get(ref, groupId);
  else {
    const at = ref.lastIndexOf('@');
    rec = at > 0 ? await deps.db.models.resolve(ref.slice(0, at), groupId, ref.slice(at + 1)) : await deps.db.models.resolve(ref, groupId);
  }
  if (!rec) throw new PssrError('MODEL_NOT_FOUND', `The model "${ref}" to fine-tune from is not visible to the job's group.`);
  return rec;
}

/** Collects metric points and writes them in batches (one INSERT per flush, not per step). */
class PointBuffer {
  private points: { step: number; name: string; value: number }[] = [];
  constructor(private readonly deps: WorkerDeps, private readonly jobId: string) {}
  add(step: number, name: string, value: unknown): void {
    if (typeof value === 'number' && Number.isFinite(value)) this.points.push({ step, name, value });
  }
  async flush(): Promise<void> {
    if (this.points.length === 0) return;
    const batch = this.points;
    this.points = [];
    await this.deps.db.jobs.addMetricPoints(this.jobId, batch).catch((err: unknown) => {
      this.deps.log.warn({ err, jobId: this.jobId }, 'could not write training points');
    });
  }
}

export async function processTrain(deps: WorkerDeps, ctx: JobContext): Promise<void> {
  const run = await beginJob(deps, ctx, 'train');
  if (!run) return;
  const { job, log, cancel, progress, work } = run;
  try {
    await runTrain(deps, job, work, cancel, progress, log);
  } catch (err) {
    if (cancel.signal.aborted && (await cancel.poll())) {
      log.info('training canceled');
      return;
    }
    throw err;
  } finally {
    await run.end();
  }
}

async function runTrain(deps: WorkerDeps, job: JobRecord, work: string, cancel: CancelWatch, progress: ProgressWriter, log: WorkerDeps['log']): Promise<void> {
  const t0 = performance.now();
  const opts = parseTrainOptions(job.options);
  const dataDir = join(work, 'data');
  await mkdir(dataDir, { recursive: true });
  const data: string[] = [];
  const inputShas: string[] = [];
  for (const [i, id] of opts.stackIds.entries()) {
    const stack = await deps.db.stacks.get(id, job.groupId);
    if (!stack || stack.status !== 'ready') throw new PssrError('INPUT_NOT_FOUND', `Training stack ${id} is missing or not ready.`);
    const path = join(dataDir, `${String(i).padStart(3, '0')}.tif`);
    await downloadStack(deps, stack, path);
    data.push(path);
    if (stack.sha256) inputShas.push(stack.sha256);
  }
  let init: string | undefined;
  if (opts.init) {
    const rec = await resolveInit(deps, opts.init, job.groupId);
    init = rec.storageKey === null ? rec.name : (await materializeModel(deps, rec)).dir;
  }
  const tDownload = performance.now();
  progress.update(0.01);

  const out = join(work, 'out');
  const config: TrainConfig = {
    data,
    modality: opts.modality,
    frames: opts.frames ?? 1,
    out,
    device: deps.config.device,
    name: opts.name,
    ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
    ...(opts.minutes !== undefined ? { minutes: opts.minutes } : {}),
    ...(opts.arch !== undefined ? { arch: opts.arch } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.valFraction !== undefined ? { valFraction: opts.valFraction } : {}),
    ...(init !== undefined ? { init } : {}),
    ...(deps.config.threads > 0 ? { threads: deps.config.threads } : {}),
  };
  const points = new PointBuffer(deps, job.id);
  let lastFlush = Date.now();
  let lastValidation: Record<string, unknown> | null = null;
  const onEvent = (e: TrainEvent) => {
    const step = typeof e['step'] === 'number' ? e['step'] : 0;
    if (e.event === 'progress') {
      const steps = typeof e['steps'] === 'number' && e['steps'] > 0 ? e['steps'] : null;
      const frac = steps ? step / steps : 0;
      points.add(step, 'loss', e['loss']);
      points.add(step, 'lr', e['lr']);
      progress.update(0.02 + 0.9 * Math.min(1, frac), { step, steps, loss: e['loss'] ?? null, etaSeconds: e['eta'] ?? null });
    } else if (e.event === 'validation') {
      for (const k of ['psnr', 'ssim', 'bilinearPsnr', 'bicubicPsnr', 'bilinearSsim', 'bicubicSsim', 'loss']) points.add(step, `val_${k}`, e[k]);
      const { event: _event, ...rest } = e;
      lastValidation = rest;
    }
    if (Date.now() - lastFlush > 1000) {
      lastFlush = Date.now();
      void points.flush();
    }
  };
  log.info({ stacks: data.length, modality: config.modality, frames: config.frames, steps: opts.steps, minutes: opts.minutes }, 'training');
  const result = await runTraining(config, { onEvent, signal: cancel.signal, ...(deps.config.python ? { python: deps.config.python } : {}) });
  await points.flush();
  const tTrain = performance.now();
  if (cancel.signal.aborted) throw new PssrError('CANCELED', 'canceled');

  // The exported graph must compute what was trained before anyone can restore with it.
  const check = await verifyExport(result.out);
  const tolerance = check.tolerance ?? 1e-3;
  if (!(check.maxAbsDiff <= tolerance)) {
    throw new PssrError('TRAIN_FAILED', `The exported model differs from the trained network (max |diff| ${check.maxAbsDiff} > ${tolerance}).`, false);
  }
  const tCheck = performance.now();
  const { calibration, unavailable } = await calibrateTrained(deps, job.id, config, result.out, cancel, progress, log);
  if (cancel.signal.aborted) throw new PssrError('CANCELED', 'canceled');
  const tCalibrate = performance.now();
  progress.update(0.95);
  await progress.flush();

  const key = modelStorageKey(job.groupId, job.id);
  for (const file of MODEL_FILES) {
    const path = join(result.out, file);
    if (await stat(path).then(() => true, () => false)) await deps.store.putFile(`${key}/${file}`, path);
  }
  const weights = join(result.out, WEIGHTS_FILE);
  if (await stat(weights).then(() => true, () => false)) await deps.store.putFile(`${key}/${WEIGHTS_FILE}`, weights);
  if (cancel.signal.aborted || (await cancel.poll())) {
    await deps.store.deletePrefix(`${key}/`).catch(() => undefined);
    throw new PssrError('CANCELED', 'canceled');
  }
  const card = calibration ? { ...result.card, calibration } : result.card;
  const model = await deps.db.models.registerTrained({
    groupId: job.groupId,
    name: opts.name,
    sha256: card.sha256,
    card: card as unknown as Record<string, unknown>,
    storageKey: key,
    jobId: job.id,
  });
  const tDone = performance.now();
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const metrics = {
    model: { id: model.id, name: model.name, version: model.version, sha256: model.sha256 },
    validation: (card as unknown as { validation?: unknown }).validation ?? lastValidation,
    lastValidation,
    export: { maxAbsDiff: check.maxAbsDiff, tolerance },
    calibration: calibration ? { frames: calibration.frames, data: calibration.data } : unavailable ? { status: 'unavailable', reason: unavailable } : null,
    inputSha256: inputShas,
    device: deps.config.device,
    workerHost: deps.config.workerHost,
    timings: {
      downloadSeconds: round((tDownload - t0) / 1000),
      trainSeconds: round((tTrain - tDownload) / 1000),
      calibrateSeconds: round((tCalibrate - tCheck) / 1000),
      totalSeconds: round((tDone - t0) / 1000),
    },
  };
  const ok = await deps.db.jobs.succeed(job.id, { metrics, trainedModelId: model.id });
  if (!ok) {
    // Canceled between registration and success: a canceled job leaves no model version behind (row first,
    // so nobody resolves it any more, then its files).
    const removed = await deps.db.models.delete(model.id, job.groupId).catch((err: unknown) => {
      log.error({ err, modelId: model.id }, 'job was canceled after its model was registered; could not delete the model version');
      return undefined;
    });
    if (removed !== undefined) await deps.store.deletePrefix(`${key}/`).catch(() => undefined);
    log.info({ modelId: model.id, removed: removed !== undefined }, 'job was canceled after its model was registered; the model version was removed');
  } else log.info({ model: `${model.name}@${model.version}`, seconds: metrics.timings.totalSeconds }, 'training succeeded');
}

/**
 * The new model's trust statistics on the job's own held-out data, so restores with it get
 * out-of-distribution flags (issue 8); null when the job held out no validation data. A calibration that
 * fails does not fail the job: retrying would train again, and the model restores as well without it
 * (its reports then say "no calibration"). The reason is logged and kept in the metrics. The model's
 * session is freed afterwards: its files go with the job's work folder.
 */
export async function calibrateTrained(
  deps: Pick<WorkerDeps, 'config'>,
  jobId: string,
  config: TrainConfig,
  out: string,
  cancel: Pick<CancelWatch, 'signal'>,
  progress: Pick<ProgressWriter, 'update'>,
  log: WorkerDeps['log'],
): Promise<{ calibration: TrustCalibration | null; unavailable?: string }> {
  if (config.valFraction === 0) return { calibration: null };
  const model = await loadModelDir(out);
  try {
    const calibration = await calibrateModel(model, config, {
      tta: true,
      device: deps.config.device,
      threads: deps.config.threads,
      signal: cancel.signal,
      onProgress: (fraction) => progress.update(0.92 + 0.03 * fraction),
      command: `computed by train job ${jobId} on its held-out validation stacks`,
      computedWith: `pssr worker on ${deps.config.workerHost}`,
      ...(deps.config.python ? { python: deps.config.python } : {}),
    });
    return { calibration };
  } catch (err) {
    if (cancel.signal.aborted) return { calibration: null };
    const reason = err instanceof PssrError ? err.message : 'internal error';
    log.error({ err, jobId }, 'trust calibration of the trained model failed; registering it without one');
    return { calibration: null, unavailable: reason };
  } finally {
    await RestoreEngine.unload(model);
  }
}
