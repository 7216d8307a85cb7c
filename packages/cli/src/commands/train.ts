/**
 * `pssr train`: trains a model from HR images only (the trainer degrades them on the fly), then checks the
 * exported ONNX with onnxruntime-node, the runtime that will serve it, and records the difference in the card;
 * last, calibrates the model's trust statistics on its held-out data (card `calibration`, issue 8).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { PssrError } from '@pssr/core';
import type { ModelCard, TrustCalibration } from '@pssr/core';
import { ONNXRUNTIME_VERSION, verifyExport } from '@pssr/inference';
import { loadModelDir, resolveModel } from '@pssr/models';
import { calibrateModel } from '@pssr/report';
import { runTraining } from '@pssr/trainer';
import type { TrainConfig, TrainEvent } from '@pssr/trainer';
import { formatSeconds } from '../output.js';
import { SOFTWARE } from '../version.js';

/** The trainer's config as the command line gives it: a device is always chosen. */
export type TrainArgs = TrainConfig & {
  device: 'auto' | 'cpu' | 'cuda';
  /** The command line, recorded in the card so anyone can retrain the model. */
  command?: string;
};

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Progress display: a bar on a terminal; otherwise one line per validation. */
function trainProgress(print: (s: string) => void) {
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar({
        format: 'training |{bar}| step {value}/{total} | loss {loss} | val PSNR {psnr} dB (bicubic {bicubic}) SSIM {ssim} | ETA {remaining}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 20,
        fps: 4,
      })
    : null;
  let started = false;
  let lastStep: unknown;
  let total = 0;
  const payload = { loss: '?', psnr: '?', bicubic: '?', ssim: '?', remaining: '?' };
  return {
    event(e: TrainEvent) {
      if (e.event === 'progress') {
        const step = num(e.step) ?? 0;
        const steps = num(e.steps) ?? Math.max(step, 1);
        total = steps;
        payload.loss = num(e.loss)?.toExponential(3) ?? '?';
        const eta = num(e.eta);
        payload.remaining = eta === undefined ? '?' : formatSeconds(eta);
        if (bar && !started) {
          bar.start(steps, step, payload);
          started = true;
        } else if (bar) {
          bar.setTotal(steps);
          bar.update(step, payload);
        }
      } else if (e.event === 'validation') {
        payload.psnr = num(e.psnr)?.toFixed(2) ?? payload.psnr;
        payload.ssim = num(e.ssim)?.toFixed(4) ?? payload.ssim;
        payload.bicubic = num(e.bicubicPsnr)?.toFixed(2) ?? payload.bicubic;
        if (bar && started) bar.update(num(e.step) ?? 0, payload);
        if (bar) return;
        // Without a terminal: one line per validated step, and the final full validation.
        if (e.final === true) {
          print(
            `final validation: PSNR ${payload.psnr} dB (bicubic ${payload.bicubic}, bilinear ${num(e.bilinearPsnr)?.toFixed(2) ?? '?'}), ` +
              `SSIM ${payload.ssim} (bicubic ${num(e.bicubicSsim)?.toFixed(4) ?? '?'}, bilinear ${num(e.bilinearSsim)?.toFixed(4) ?? '?'})\n`,
          );
        } else if (e.step !== lastStep) {
          lastStep = e.step;
          print(`step ${String(e.step)}${total ? `/${total}` : ''}: loss ${payload.loss}, validation PSNR ${payload.psnr} dB, ETA ${payload.remaining}\n`);
        }
      }
    },
    stop() {
      if (bar && started) bar.stop();
    },
  };
}

export async function trainCommand(args: TrainArgs, print: (s: string) => void, python?: string): Promise<{ out: string; card: ModelCard; maxAbsDiff: number }> {
  const config: TrainConfig = {
    data: args.data.map((d) => (typeof d === 'string' ? resolve(d) : { ...d, path: resolve(d.path) })),
    modality: args.modality,
    frames: args.frames,
    out: resolve(args.out),
    device: args.device,
  };
  if (args.minutes !== undefined) config.minutes = args.minutes;
  if (args.steps !== undefined) config.steps = args.steps;
  if (args.arch !== undefined) config.arch = args.arch;
  if (args.valFraction !== undefined) config.valFraction = args.valFraction;
  if (args.seed !== undefined) config.seed = args.seed;
  if (args.name !== undefined) config.name = args.name;
  if (args.width !== undefined) config.width = args.width;
  if (args.depth !== undefined) config.depth = args.depth;
  if (args.ema !== undefined) config.ema = args.ema;
  if (args.phaseJitter !== undefined) config.phaseJitter = args.phaseJitter;
  if (args.scaleRange !== undefined) config.scaleRange = args.scaleRange;
  if (args.scaleProb !== undefined) config.scaleProb = args.scaleProb;
  if (args.noiseSigma !== undefined) config.noiseSigma = args.noiseSigma;
  if (args.contrastJitter !== undefined) config.contrastJitter = args.contrastJitter;
  if (args.gammaJitter !== undefined) config.gammaJitter = args.gammaJitter;
  if (args.command !== undefined) config.command = args.command;
  if (args.init !== undefined) config.init = (await resolveModel(args.init)).dir;

  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = trainProgress(print);
  let result: { out: string; card: ModelCard };
  try {
    result = await runTraining(config, { onEvent: (e) => progress.event(e), signal: controller.signal, ...(python ? { python } : {}) });
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  // The export check with the serving runtime, recorded in the card.
  const { maxAbsDiff, tolerance } = await verifyExport(result.out);
  const cardPath = join(result.out, 'model.json');
  const card = JSON.parse(await readFile(cardPath, 'utf8')) as ModelCard;
  card.export = { ...card.export, maxAbsDiff, checkedWith: `onnxruntime-node ${ONNXRUNTIME_VERSION}` };
  await writeFile(`${cardPath}.tmp`, `${JSON.stringify(card, null, 2)}\n`);
  await rename(`${cardPath}.tmp`, cardPath);

  const v = card.validation;
  print(
    `trained ${card.name}: ${card.training.steps} steps in ${formatSeconds(card.training.seconds)} on ${card.training.device} -> ${result.out}\n` +
      (v ? `validation PSNR ${v.psnr.model.toFixed(2)} dB (bicubic ${v.psnr.bicubic.toFixed(2)}, bilinear ${v.psnr.bilinear.toFixed(2)}), SSIM ${v.ssim.model.toFixed(4)} (bicubic ${v.ssim.bicubic.toFixed(4)})\n` : '') +
      `ONNX export checked with onnxruntime-node ${ONNXRUNTIME_VERSION}: max abs difference ${maxAbsDiff.toExponential(2)}\n`,
  );
  const limit = tolerance ?? 1e-3;
  if (!(maxAbsDiff <= limit)) {
    throw new PssrError('TRAIN_FAILED', `The exported ONNX differs from PyTorch by ${maxAbsDiff} (tolerance ${limit}); the export is not usable.`, false);
  }
  const calibrated = await calibrateTrained(result.out, config, args.device, python);
  print(calibrated ? `trust statistics calibrated on ${calibrated.frames} validation frames (card "calibration")\n` : 'no validation data held out: the card has no trust calibration (out-of-distribution flags need one)\n');
  return { out: result.out, card: calibrated ? { ...card, calibration: calibrated } : card, maxAbsDiff };
}

/**
 * The trust calibration of a freshly trained model on its own held-out data (null when it held none out).
 * The config is kept beside the model as train-config.json, so `pssr calibrate --model DIR` can redo it.
 */
async function calibrateTrained(out: string, config: TrainConfig, device: TrainArgs['device'], python: string | undefined): Promise<TrustCalibration | null> {
  if (config.valFraction === 0) return null;
  const configPath = join(out, 'train-config.json');
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const model = await loadModelDir(out);
  return calibrateModel(model, configPath, { tta: true, device, command: `pssr calibrate --model ${out}`, computedWith: SOFTWARE, ...(python ? { python } : {}) });
}
