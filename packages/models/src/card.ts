/**
 * Model card validation (docs/CONTRACTS.md "Model card"). Every field the engine or the service relies on
 * is checked, and a bad card is refused with MODEL_CARD_INVALID naming the file and the field.
 */
import { PssrError, minTileSize } from '@pssr/core';
import type { ModelCard } from '@pssr/core';

type Json = Record<string, unknown>;

class CardReader {
  constructor(private readonly source: string) {}

  fail(field: string, what: string, got: unknown): never {
    const shown = got === undefined ? 'missing' : `got ${truncate(JSON.stringify(got))}`;
    throw new PssrError('MODEL_CARD_INVALID', `Invalid model card ${this.source}: "${field}" must be ${what} (${shown}).`);
  }

  object(obj: Json, field: string, path = field): Json {
    const v = obj[field];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'an object', v);
    return v as Json;
  }

  string(obj: Json, field: string, path: string, nonEmpty = true): string {
    const v = obj[field];
    if (typeof v !== 'string' || (nonEmpty && v.trim() === '')) this.fail(path, nonEmpty ? 'a non-empty string' : 'a string', v);
    return v;
  }

  number(obj: Json, field: string, path: string, check: (n: number) => boolean = () => true, what = 'a finite number'): number {
    const v = obj[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) this.fail(path, what, v);
    return v;
  }

  oneOf<T extends string | number>(obj: Json, field: string, path: string, allowed: readonly T[]): T {
    const v = obj[field];
    if (!allowed.includes(v as T)) this.fail(path, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, v);
    return v as T;
  }
}

function truncate(s: string | undefined): string {
  if (s === undefined) return 'undefined';
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const nonNegInt = (n: number) => Number.isInteger(n) && n >= 0;
const posInt = (n: number) => Number.isInteger(n) && n > 0;
const percent = (n: number) => n >= 0 && n <= 100;

/** Validates a parsed model.json; `source` (the file path) is named in every message. */
export function parseModelCard(json: unknown, source: string): ModelCard {
  const r = new CardReader(source);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) r.fail('(top level)', 'a JSON object', json);
  const c = json as Json;

  r.string(c, 'name', 'name');
  r.string(c, 'version', 'version');
  const sha = r.string(c, 'sha256', 'sha256');
  if (!/^[0-9a-f]{64}$/.test(sha)) r.fail('sha256', 'the 64 lower-case hex digits of the SHA-256 of model.onnx', sha);
  r.oneOf(c, 'modality', 'modality', ['em', 'fluorescence'] as const);
  r.oneOf(c, 'scale', 'scale', [4] as const);
  r.oneOf(c, 'inputFrames', 'inputFrames', [1, 5] as const);

  if (c.inputPixelSize !== null) {
    const ps = r.object(c, 'inputPixelSize', 'inputPixelSize (or null)');
    r.number(ps, 'value', 'inputPixelSize.value', (n) => n > 0, 'a positive number');
    r.string(ps, 'unit', 'inputPixelSize.unit');
  }
  if (c.inputPixelSizeRange !== undefined) {
    const pr = r.object(c, 'inputPixelSizeRange', 'inputPixelSizeRange (or absent)');
    const min = r.number(pr, 'min', 'inputPixelSizeRange.min', (n) => n > 0, 'a positive number');
    r.number(pr, 'max', 'inputPixelSizeRange.max', (n) => n >= min, `a number of at least inputPixelSizeRange.min (${min})`);
    r.string(pr, 'unit', 'inputPixelSizeRange.unit');
  }

  const tile = r.object(c, 'tile');
  const multiple = r.number(tile, 'multiple', 'tile.multiple', posInt, 'a positive integer');
  const halo = r.number(tile, 'halo', 'tile.halo', (n) => nonNegInt(n) && n % multiple === 0, `a non-negative multiple of tile.multiple (${multiple})`);
  const minSize = minTileSize({ halo, multiple });
  r.number(tile, 'size', 'tile.size', (n) => posInt(n) && n % multiple === 0 && n >= minSize, `a multiple of tile.multiple (${multiple}) of at least ${minSize} (2 x halo plus the smallest core the engine blends)`);

  const norm = r.object(c, 'normalization');
  const mode = r.oneOf(norm, 'mode', 'normalization.mode', ['percentile', 'range'] as const);
  if (mode === 'percentile') {
    const low = r.number(norm, 'low', 'normalization.low', percent, 'a percentile in 0..100');
    r.number(norm, 'high', 'normalization.high', (n) => percent(n) && n > low, `a percentile in 0..100 above normalization.low (${low})`);
  } else {
    const min = r.number(norm, 'min', 'normalization.min');
    r.number(norm, 'max', 'normalization.max', (n) => n > min, `a finite number above normalization.min (${min})`);
  }

  const deg = r.object(c, 'degradation');
  r.oneOf(deg, 'recipe', 'degradation.recipe', ['em', 'fluo', 'poisson', 'none'] as const);
  r.number(deg, 'gaussianSigma', 'degradation.gaussianSigma', (n) => n >= 0, 'a non-negative number');
  r.number(deg, 'saltPepper', 'degradation.saltPepper', (n) => n >= 0 && n <= 1, 'a fraction in 0..1');
  if (deg.poissonPeak !== null) r.number(deg, 'poissonPeak', 'degradation.poissonPeak', (n) => n > 0, 'a positive number or null');
  r.oneOf(deg, 'scale', 'degradation.scale', [4] as const);
  r.oneOf(deg, 'sampling', 'degradation.sampling', ['centre-mean-2x2'] as const);
  const pcs = deg.percentiles;
  if (!Array.isArray(pcs) || pcs.length !== 2 || !pcs.every((p) => typeof p === 'number' && percent(p)) || !((pcs[0] as number) < (pcs[1] as number))) {
    r.fail('degradation.percentiles', 'two increasing percentiles in 0..100, e.g. [0.1, 99.9]', pcs);
  }

  const arch = r.object(c, 'architecture');
  r.string(arch, 'name', 'architecture.name');

  const tr = r.object(c, 'training');
  if (!Array.isArray(tr.data) || !tr.data.every((d) => typeof d === 'string')) r.fail('training.data', 'an array of strings', tr.data);
  r.string(tr, 'provenance', 'training.provenance', false);
  r.string(tr, 'licence', 'training.licence', false);
  r.number(tr, 'steps', 'training.steps', nonNegInt, 'a non-negative integer');
  r.number(tr, 'seconds', 'training.seconds', (n) => n >= 0, 'a non-negative number');
  r.string(tr, 'device', 'training.device', false);
  r.number(tr, 'seed', 'training.seed', Number.isInteger, 'an integer');
  r.string(tr, 'command', 'training.command', false);

  if (c.validation !== null) {
    const v = r.object(c, 'validation', 'validation (or null)');
    r.string(v, 'data', 'validation.data', false);
    for (const metric of ['psnr', 'ssim'] as const) {
      const m = r.object(v, metric, `validation.${metric}`);
      for (const k of ['model', 'bilinear', 'bicubic'] as const) r.number(m, k, `validation.${metric}.${k}`);
    }
  }

  const ex = r.object(c, 'export');
  r.number(ex, 'opset', 'export.opset', posInt, 'a positive integer');
  if (ex.maxAbsDiff !== null) r.number(ex, 'maxAbsDiff', 'export.maxAbsDiff', (n) => n >= 0, 'a non-negative number or null');
  if (ex.checkedWith !== null) r.string(ex, 'checkedWith', 'export.checkedWith (or null)', false);
  if (ex.fp16 !== undefined) {
    const f = r.object(ex, 'fp16', 'export.fp16');
    const file = r.string(f, 'file', 'export.fp16.file');
    if (!/^[\w.-]+\.onnx$/.test(file)) r.fail('export.fp16.file', 'an .onnx file name in the model folder', file);
    const fsha = r.string(f, 'sha256', 'export.fp16.sha256');
    if (!/^[0-9a-f]{64}$/.test(fsha)) r.fail('export.fp16.sha256', 'the 64 lower-case hex digits of the SHA-256 of the fp16 file', fsha);
    r.number(f, 'maxAbsDiff', 'export.fp16.maxAbsDiff', (n) => n >= 0, 'a non-negative number');
    if (f.psnr !== null) {
      const p = r.object(f, 'psnr', 'export.fp16.psnr (or null)');
      for (const k of ['fp32', 'fp16'] as const) r.number(p, k, `export.fp16.psnr.${k}`);
    }
    r.string(f, 'data', 'export.fp16.data', false);
    r.string(f, 'checkedWith', 'export.fp16.checkedWith', false);
  }

  const exe = r.object(c, 'execution');
  r.oneOf(exe, 'precision', 'execution.precision', ['fp32', 'fp16'] as const);
  if (exe.notes !== undefined) r.string(exe, 'notes', 'execution.notes', false);

  if (c.calibration !== undefined) {
    const cal = r.object(c, 'calibration', 'calibration (or absent)');
    r.string(cal, 'data', 'calibration.data', false);
    r.number(cal, 'frames', 'calibration.frames', posInt, 'a positive integer');
    if (!Array.isArray(cal.seeds) || !cal.seeds.every((s) => Number.isInteger(s))) r.fail('calibration.seeds', 'an array of integers', cal.seeds);
    for (const stat of ['rse', 'rsp', 'localPeak', 'noise', 'uncertainty'] as const) {
      if (stat === 'uncertainty' && cal.uncertainty === null) continue;
      const s = r.object(cal, stat, `calibration.${stat}`);
      for (const k of ['median', 'p05', 'p95'] as const) r.number(s, k, `calibration.${stat}.${k}`);
      if (!((s.p05 as number) <= (s.median as number) && (s.median as number) <= (s.p95 as number))) r.fail(`calibration.${stat}`, 'percentiles with p05 <= median <= p95', s);
    }
    r.string(cal, 'command', 'calibration.command', false);
    r.string(cal, 'computedWith', 'calibration.computedWith', false);
  }

  return c as unknown as ModelCard;
}
