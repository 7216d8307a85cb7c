/**
 * Getting a model version onto this machine: bundled models (no storage key) come from packages/models and
 * must be the exact version recorded (sha256); trained models are downloaded from the object store once per
 * sha256 into a cache folder (atomically, so concurrent jobs never load half a model).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PssrError } from '@pssr/core';
import type { ModelRecord } from '@pssr/db';
import { isStorageError } from '@pssr/storage';
import { CARD_FILE, MODEL_FILE, loadModelDir, resolveModel, type ModelBundle } from '@pssr/models';
import type { WorkerDeps } from './context.js';

/** Files stored per trained model version, under its storage key (a folder). */
export const MODEL_FILES = [MODEL_FILE, CARD_FILE, 'export-check.json'] as const;
/** PyTorch weights, kept so a later train job can fine-tune from the model (`init`). */
export const WEIGHTS_FILE = 'weights.pt';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export async function materializeModel(deps: WorkerDeps, record: ModelRecord): Promise<ModelBundle> {
  if (record.storageKey === null) {
    let bundle: ModelBundle;
    try {
      bundle = await resolveModel(record.name);
    } catch (err) {
      // The record exists, so another worker image has it: a deployment mismatch, worth a retry elsewhere.
      throw new PssrError('MODEL_NOT_FOUND', `Bundled model "${record.name}" is not installed on worker ${deps.config.workerHost}.`, false, { cause: err });
    }
    if (bundle.card.sha256 !== record.sha256) {
      throw new PssrError(
        'MODEL_NOT_FOUND',
        `Worker ${deps.config.workerHost} has bundled model "${record.name}" ${bundle.card.version} (sha256 ${bundle.card.sha256.slice(0, 12)}), ` +
          `but the job asked for version ${record.version} (sha256 ${record.sha256.slice(0, 12)}).`,
        false,
      );
    }
    return bundle;
  }
  const dir = join(deps.config.tmpDir, 'models', record.sha256);
  if (!(await exists(join(dir, CARD_FILE)))) {
    const partial = `${dir}.partial-${randomBytes(6).toString('hex')}`;
    await mkdir(partial, { recursive: true });
    try {
      for (const file of MODEL_FILES) {
        const key = `${record.storageKey}/${file}`;
        if (file === 'export-check.json' && !(await deps.store.exists(key))) continue;
        await deps.store.getToFile(key, join(partial, file));
      }
      if (await deps.store.exists(`${record.storageKey}/${WEIGHTS_FILE}`)) {
        await deps.store.getToFile(`${record.storageKey}/${WEIGHTS_FILE}`, join(partial, WEIGHTS_FILE));
      }
      await rename(partial, dir).catch(async (err: NodeJS.ErrnoException) => {
        // Another job got there first: use its copy.
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } catch (err) {
      if (isStorageError(err, 'OBJECT_NOT_FOUND')) {
        throw new PssrError('MODEL_NOT_FOUND', `The files of model ${record.name}@${record.version} are missing from storage.`, true, { cause: err });
      }
      throw err;
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }
  return loadModelDir(dir, record.name);
}
