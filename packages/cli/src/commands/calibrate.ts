/**
 * `pssr calibrate [--model NAME|DIR...]`: measures a model's trust statistics on its own held-out
 * validation data (the trainer's split of its training config) and records them in its card as
 * `calibration`, without retraining. Rerun it whenever a model is retrained.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PssrError } from '@pssr/core';
import type { TrustCalibration } from '@pssr/core';
import type { Device } from '@pssr/inference';
import { listBundledModels, resolveModel } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';
import { calibrateModel } from '@pssr/report';
import { SOFTWARE } from '../version.js';

export interface CalibrateArgs {
  /** Bundled names or folders; empty: every bundled model. */
  models: string[];
  config?: string;
  tta: boolean;
  device: Device;
  /** Python interpreter for the trainer's valset command (PSSR_PYTHON via @pssr/config). */
  python?: string;
}

export async function calibrateCommand(args: CalibrateArgs, print: (s: string) => void): Promise<TrustCalibration[]> {
  const names = args.models.length > 0 ? args.models : (await listBundledModels()).map((m) => m.name);
  if (args.config !== undefined && names.length > 1) throw new PssrError('INVALID_ARGUMENT', '--config names one training config; give exactly one --model with it.');
  const out: TrustCalibration[] = [];
  for (const name of names) {
    const model = await resolveModel(name);
    const config = args.config ?? trainingConfigOf(model);
    const calibration = await calibrateModel(model, config, { tta: args.tta, device: args.device, computedWith: SOFTWARE, ...(args.python ? { python: args.python } : {}), command: `pssr calibrate --model ${name}${args.config ? ` --config ${args.config}` : ''}${args.tta ? '' : ' --no-tta'}` });
    if (!calibration) throw new PssrError('INVALID_ARGUMENT', `The training config of ${model.name} (${typeof config === 'string' ? config : 'given'}) holds out no validation data; calibration needs some (valData or valFraction).`);
    print(`calibrated ${model.name} on ${calibration.frames} frames: RSE median ${calibration.rse.median.toFixed(5)} p95 ${calibration.rse.p95.toFixed(5)}, RSP p05 ${calibration.rsp.p05.toFixed(5)}` +
      `${calibration.uncertainty ? `, uncertainty median ${calibration.uncertainty.median.toFixed(5)} p95 ${calibration.uncertainty.p95.toFixed(5)}` : ''} -> ${join(model.dir, 'model.json')}\n`);
    out.push(calibration);
  }
  return out;
}

/** The config a card's training command names (`--config FILE`), else DIR/train-config.json. */
function trainingConfigOf(model: ModelBundle): string {
  const named = /--config\s+(\S+)/.exec(model.card.training.command)?.[1];
  for (const candidate of [named, join(model.dir, 'train-config.json')]) {
    if (candidate && existsSync(resolve(candidate))) return resolve(candidate);
  }
  throw new PssrError('INVALID_ARGUMENT', `Cannot find the training config of ${model.name} (its card names ${named ?? 'none'}); give it with --config.`);
}
