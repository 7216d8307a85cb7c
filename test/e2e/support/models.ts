/**
 * Real models for the service tests: the bundled `em` model when packages/models ships it, and the small
 * PyTorch-built ONNX networks of packages/inference's fixture script (real conv nets, deterministic weights)
 * registered as a group's trained model version with their files in the object store.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db, ModelRecord } from '@pssr/db';
import type { ObjectStore } from '@pssr/storage';
import { buildFixtures, type Fixtures } from '../../../packages/inference/test/fixtures.js';

export { buildFixtures, type Fixtures };

/** Uploads a model folder (model.onnx, model.json, export-check.json) and registers it for the group. */
export async function registerModelDir(db: Db, store: ObjectStore, groupId: string, dir: string, name: string): Promise<ModelRecord> {
  const card = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, unknown> & { sha256: string };
  const key = `models/${groupId}/${name}-${card.sha256.slice(0, 12)}`;
  for (const file of ['model.onnx', 'model.json', 'export-check.json']) {
    const path = join(dir, file);
    if (await stat(path).then(() => true, () => false)) await store.putFile(`${key}/${file}`, path);
  }
  return db.models.registerTrained({ groupId, name, sha256: card.sha256, card, storageKey: key });
}

/** The bundled `em` model, or null while packages/models/em has no model.onnx yet. */
