/**
 * Finding models: the bundled defaults (folders beside src/: em, fluo, fluo-mf) or any folder holding
 * `model.onnx` + `model.json`. The card's sha256 must match the ONNX file, so a card never describes a
 * different network than the one that runs.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PssrError } from '@pssr/core';
import type { ModelCard, TrustCalibration } from '@pssr/core';
import { parseModelCard } from './card.js';

export interface ModelBundle {
  /** The bundled folder's name (em, fluo, fluo-mf) or, for any other folder, the card's name. */
  name: string;
  dir: string;
  onnxPath: string;
  /** The card's fp16 variant (export.fp16), hash checked; null when the card has none. */
  fp16Path: string | null;
  card: ModelCard;
}

export const MODEL_FILE = 'model.onnx';
export const CARD_FILE = 'model.json';

/** The folder holding the bundled model folders (packages/models). */
export function bundledModelsDir(): string {
  return fileURLToPath(new URL('..', import.meta.url));
}

/** SHA-256 of a file, hex, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// Hashing a 25 MB model takes ~0.1 s; remember the digest per (path, size, mtime) for repeated lookups.
const digestCache = new Map<string, string>();

async function cachedSha256(path: string): Promise<string> {
  const s = await stat(path);
  const key = `${path}\0${s.size}\0${s.mtimeMs}`;
  let digest = digestCache.get(key);
  if (digest === undefined) {
    digest = await sha256File(path);
    digestCache.set(key, digest);
  }
  return digest;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Reads and checks one model folder: card present and valid, ONNX present, hashes equal. */
export async function loadModelDir(dir: string, name?: string): Promise<ModelBundle> {
  const cardPath = join(dir, CARD_FILE);
  const onnxPath = join(dir, MODEL_FILE);
  let text: string;
  try {
    text = await readFile(cardPath, 'utf8');
  } catch {
    throw new PssrError('MODEL_CARD_INVALID', `Model folder ${dir} has no readable model card (${CARD_FILE}).\nA model folder holds ${MODEL_FILE} and its card ${CARD_FILE}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PssrError('MODEL_CARD_INVALID', `Invalid model card ${cardPath}: not valid JSON (${(err as Error).message}).`);
  }
  const card = parseModelCard(json, cardPath);
  if (!(await isFile(onnxPath))) {
    throw new PssrError('MODEL_NOT_FOUND', `Model folder ${dir} has a card but no ${MODEL_FILE}.`);
  }
  const digest = await cachedSha256(onnxPath);
  if (digest !== card.sha256) {
    throw new PssrError(
      'MODEL_CARD_INVALID',
      `Invalid model card ${cardPath}: "sha256" does not match ${MODEL_FILE}\n(card ${card.sha256.slice(0, 12)}..., file ${digest.slice(0, 12)}...): the card describes a different network.`,
    );
  }
  return { name: name ?? card.name, dir, onnxPath, fp16Path: await fp16Variant(dir, cardPath, card), card };
}

/** The fp16 file the card names, if any; like model.onnx it must exist and match its hash. */
async function fp16Variant(dir: string, cardPath: string, card: ModelCard): Promise<string | null> {
  const fp16 = card.export.fp16;
  if (!fp16) return null;
  const path = join(dir, fp16.file);
  if (!(await isFile(path))) throw new PssrError('MODEL_CARD_INVALID', `Invalid model card ${cardPath}: "export.fp16.file" names ${fp16.file}, which is not in ${dir}.`);
  const digest = await cachedSha256(path);
  if (digest !== fp16.sha256) {
    throw new PssrError('MODEL_CARD_INVALID', `Invalid model card ${cardPath}: "export.fp16.sha256" does not match ${fp16.file}\n(card ${fp16.sha256.slice(0, 12)}..., file ${digest.slice(0, 12)}...).`);
  }
  return path;
}

/** Names of the bundled model folders (those holding a model card), sorted. */
async function bundledNames(): Promise<string[]> {
  const root = bundledModelsDir();
  const names: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.isDirectory() && (await isFile(join(root, entry.name, CARD_FILE)))) names.push(entry.name);
  }
  return names.sort();
}

export async function listBundledModels(): Promise<ModelBundle[]> {
  const root = bundledModelsDir();
  const bundles: ModelBundle[] = [];
  for (const name of await bundledNames()) bundles.push(await loadModelDir(join(root, name), name));
  return bundles;
}

/**
 * A bundled model name (`em`, `fluo`, `fluo-mf`), a folder with model.onnx + model.json, or the path of
 * either file inside such a folder.
 */
export async function resolveModel(nameOrDir: string): Promise<ModelBundle> {
  if (nameOrDir.trim() === '') throw new PssrError('MODEL_NOT_FOUND', 'No model given: name a bundled model or a model folder.');
  const looksLikeName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(nameOrDir);
  if (looksLikeName && (await bundledNames()).includes(nameOrDir)) {
    return loadModelDir(join(bundledModelsDir(), nameOrDir), nameOrDir);
  }
  const path = resolve(nameOrDir);
  if (await isDir(path)) return loadModelDir(path);
  if ((await isFile(path)) && [MODEL_FILE, CARD_FILE].includes(basename(path))) return loadModelDir(dirname(path));
  const available = await bundledNames();
  throw new PssrError(
    'MODEL_NOT_FOUND',
    `Model "${nameOrDir}" not found: it is neither a bundled model (${available.length ? available.join(', ') : 'none installed'})\nnor a folder holding ${MODEL_FILE} and ${CARD_FILE}.`,
  );
}

/**
 * Records a trust calibration in a model folder's card (replacing an older one); the card is re-validated
 * and replaced atomically, everything else in it is kept as it was.
 */
export async function writeCardCalibration(dir: string, calibration: TrustCalibration): Promise<ModelCard> {
  const cardPath = join(dir, CARD_FILE);
  const card = { ...(JSON.parse(await readFile(cardPath, 'utf8')) as Record<string, unknown>), calibration };
  const checked = parseModelCard(card, cardPath);
  const tmp = `${cardPath}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(card, null, 2)}\n`);
  await rename(tmp, cardPath);
  return checked;
}
