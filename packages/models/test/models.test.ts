import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PssrError } from '@pssr/core';
import { bundledModelsDir, listBundledModels, parseModelCard, resolveModel, sha256File } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'pssr-models-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ONNX_BYTES = Buffer.from('not parsed by the lookup; only hashed');
const SHA = createHash('sha256').update(ONNX_BYTES).digest('hex');

function validCard(): Record<string, any> {
  return {
    name: 'demo', version: '1.0.0', sha256: SHA, modality: 'em', scale: 4, inputFrames: 1,
    inputPixelSize: { value: 18.4, unit: 'nm' },
    tile: { size: 128, halo: 16, multiple: 8 },
    normalization: { mode: 'percentile', low: 0.1, high: 99.9 },
    degradation: { recipe: 'em', gaussianSigma: 3, saltPepper: 0, poissonPeak: null, scale: 4, sampling: 'centre-mean-2x2', percentiles: [0.1, 99.9] },
    architecture: { name: 'fast', width: 48, depth: 8 },
    training: { data: ['a'], provenance: 'p', licence: 'CC BY-NC-SA 3.0', steps: 10, seconds: 1.5, device: 'cpu', seed: 0, command: 'pssr train' },
    validation: { data: 'v', psnr: { model: 30, bilinear: 29, bicubic: 29.2 }, ssim: { model: 0.8, bilinear: 0.7, bicubic: 0.71 } },
    export: { opset: 17, maxAbsDiff: 1e-6, checkedWith: 'onnxruntime-node 1.29.0' },
    execution: { precision: 'fp32', notes: 'n' },
  };
}

function modelDir(name: string, card: unknown, onnx: Buffer | null = ONNX_BYTES): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  if (card !== undefined) writeFileSync(join(dir, 'model.json'), typeof card === 'string' ? card : JSON.stringify(card));
  if (onnx) writeFileSync(join(dir, 'model.onnx'), onnx);
  return dir;
}

const invalid = (field: RegExp) => (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID' && field.test(e.message) && e.message.includes('card.json');

test('a complete card parses, nullable fields may be null', () => {
  assert.equal(parseModelCard(validCard(), 'card.json').name, 'demo');
  const c = validCard();
  c.inputPixelSize = null;
  c.validation = null;
  c.export.maxAbsDiff = null;
  c.export.checkedWith = null;
  delete c.execution.notes;
  assert.equal(parseModelCard(c, 'card.json').validation, null);
});

test('every field is checked and the message names the file and the field', () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ['not an object', (c) => Object.keys(c).forEach((k) => delete c[k]), /"name"/],
    ['name', (c) => (c.name = ''), /"name" must be a non-empty string/],
    ['version', (c) => delete c.version, /"version".*missing/],
    ['sha256', (c) => (c.sha256 = 'ABC'), /"sha256"/],
    ['modality', (c) => (c.modality = 'xray'), /"modality" must be one of "em", "fluorescence"/],
    ['scale', (c) => (c.scale = 2), /"scale"/],
    ['inputFrames', (c) => (c.inputFrames = 3), /"inputFrames" must be one of 1, 5/],
    ['pixel size', (c) => (c.inputPixelSize = { value: -1, unit: 'nm' }), /"inputPixelSize.value"/],
    ['tile.multiple', (c) => (c.tile.multiple = 0), /"tile.multiple"/],
    ['tile.halo', (c) => (c.tile.halo = 12), /"tile.halo" must be a non-negative multiple of tile.multiple \(8\)/],
    ['tile.size', (c) => (c.tile.size = 40), /"tile.size"/],
    ['normalization.mode', (c) => (c.normalization = { mode: 'zscore' }), /"normalization.mode"/],
    ['normalization.high', (c) => (c.normalization.high = 0.05), /"normalization.high"/],
    ['normalization.max', (c) => (c.normalization = { mode: 'range', min: 5, max: 5 }), /"normalization.max"/],
    ['degradation.recipe', (c) => (c.degradation.recipe = 'blur'), /"degradation.recipe"/],
    ['degradation.saltPepper', (c) => (c.degradation.saltPepper = 2), /"degradation.saltPepper"/],
    ['degradation.poissonPeak', (c) => (c.degradation.poissonPeak = 0), /"degradation.poissonPeak"/],
    ['degradation.sampling', (c) => (c.degradation.sampling = 'corner'), /"degradation.sampling"/],
    ['degradation.percentiles', (c) => (c.degradation.percentiles = [99, 1]), /"degradation.percentiles"/],
    ['architecture.name', (c) => (c.architecture = {}), /"architecture.name"/],
    ['training.data', (c) => (c.training.data = 'x'), /"training.data"/],
    ['training.steps', (c) => (c.training.steps = 1.5), /"training.steps"/],
    ['training.seed', (c) => (c.training.seed = 'x'), /"training.seed"/],
    ['validation.psnr', (c) => delete c.validation.psnr.bicubic, /"validation.psnr.bicubic"/],
    ['export.opset', (c) => (c.export.opset = 0), /"export.opset"/],
    ['export.maxAbsDiff', (c) => (c.export.maxAbsDiff = -1), /"export.maxAbsDiff"/],
    ['execution.precision', (c) => (c.execution.precision = 'int8'), /"execution.precision"/],
  ];
  for (const [label, edit, field] of cases) {
    const c = validCard();
    edit(c);
    assert.throws(() => parseModelCard(c, 'card.json'), invalid(field), label);
  }
  assert.throws(() => parseModelCard([1], 'card.json'), invalid(/top level/));
});

test('resolveModel loads a folder (or a file in it) and checks the card against the ONNX file', async () => {
  const dir = modelDir('good', validCard());
  const bundle = await resolveModel(dir);
  assert.equal(bundle.name, 'demo');
  assert.equal(bundle.onnxPath, join(dir, 'model.onnx'));
  assert.equal((await resolveModel(join(dir, 'model.json'))).dir, dir);
  assert.equal(await sha256File(bundle.onnxPath), SHA);
});

test('resolveModel: missing, unreadable or mismatched cards are clear user errors', async () => {
  const noCard = modelDir('no-card', undefined);
  await assert.rejects(resolveModel(noCard), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID' && e.message.includes(noCard) && /model\.json/.test(e.message));
  await assert.rejects(resolveModel(modelDir('bad-json', '{"name": ')), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID' && /not valid JSON/.test(e.message));
  await assert.rejects(resolveModel(modelDir('bad-field', { ...validCard(), inputFrames: 2 })), (e: unknown) => e instanceof PssrError && /bad-field\/model\.json: "inputFrames"/.test(e.message));
  await assert.rejects(resolveModel(modelDir('other-onnx', validCard(), Buffer.from('different'))), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID' && /sha256/.test(e.message));
  await assert.rejects(resolveModel(modelDir('no-onnx', validCard(), null)), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_NOT_FOUND');
  await assert.rejects(resolveModel(join(tmp, 'does-not-exist')), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_NOT_FOUND' && /bundled model/.test(e.message));
  await assert.rejects(resolveModel('no-such-model'), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_NOT_FOUND');
});

test('an fp16 variant named by the card is found and hash checked', async () => {
  const fp16Bytes = Buffer.from('the fp16 file');
  const fp16 = { file: 'model.fp16.onnx', sha256: createHash('sha256').update(fp16Bytes).digest('hex'), maxAbsDiff: 3e-4, psnr: { fp32: 19.4, fp16: 19.4 }, data: 'd', checkedWith: 'c' };
  const withFp16 = (name: string, bytes: Buffer | null, edit: Partial<typeof fp16> = {}): string => {
    const dir = modelDir(name, { ...validCard(), export: { ...validCard().export, fp16: { ...fp16, ...edit } } });
    if (bytes) writeFileSync(join(dir, 'model.fp16.onnx'), bytes);
    return dir;
  };
  const dir = withFp16('fp16-good', fp16Bytes);
  assert.equal((await resolveModel(dir)).fp16Path, join(dir, 'model.fp16.onnx'));
  assert.equal((await resolveModel(modelDir('fp16-none', validCard()))).fp16Path, null);
  await assert.rejects(resolveModel(withFp16('fp16-missing', null)), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID' && /export\.fp16\.file/.test(e.message));
  await assert.rejects(resolveModel(withFp16('fp16-other', Buffer.from('other'))), (e: unknown) => e instanceof PssrError && e.code === 'MODEL_CARD_INVALID' && /export\.fp16\.sha256/.test(e.message));
  await assert.rejects(resolveModel(withFp16('fp16-path', fp16Bytes, { file: '../x.onnx' })), (e: unknown) => e instanceof PssrError && /export\.fp16\.file/.test(e.message));
  await assert.rejects(resolveModel(withFp16('fp16-diff', fp16Bytes, { maxAbsDiff: -1 })), (e: unknown) => e instanceof PssrError && /export\.fp16\.maxAbsDiff/.test(e.message));
});

test('bundled models: every folder with a card is listed, with a card that matches its ONNX', async () => {
  assert.ok(bundledModelsDir().endsWith(join('packages', 'models') + '/'));
  const bundles = await listBundledModels();
  for (const b of bundles) {
    assert.equal(b.dir, join(bundledModelsDir(), b.name));
    assert.equal(await sha256File(b.onnxPath), b.card.sha256);
    assert.equal(b.fp16Path, join(b.dir, 'model.fp16.onnx'), `${b.name} ships an fp16 variant for CUDA`);
    assert.deepEqual((await resolveModel(b.name)).card, b.card);
  }
});
