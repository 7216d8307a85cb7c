/**
 * Job options are one typed contract (packages/queue) checked at submission: numbers must be JSON numbers
 * (no coercion of "80", [80] or true), the tile size is checked against the model card in the API's words,
 * and a restore whose output would pass JOB_MAX_OUTPUT_BYTES is refused before it is queued.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { problem, startApi, type TestApi } from './helpers.js';

let api: TestApi;
let auth: { authorization: string };
let small: string;
let big: string;

async function upload(name: string, size: number): Promise<string> {
  const path = join(api.dataDir, name);
  await makePatternStack(path, 1, size, size);
  const res = await api.app.inject({ method: 'POST', url: `/v1/stacks?name=${name}`, headers: { ...auth, 'content-type': 'image/tiff' }, payload: await readFile(path) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id as string;
}

const submit = (payload: Record<string, unknown>) => api.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth, payload });

before(async () => {
  // 16x16 uint8 restores to 64x64 = 4 KiB; 64x64 to 256x256 = 64 KiB, over the 16 KiB limit set here.
  api = await startApi('jobopts', { env: { JOB_MAX_OUTPUT_BYTES: '16K' } });
  auth = await api.key('lab-opts');
  small = await upload('small.tif', 16);
  big = await upload('big.tif', 64);
});
after(async () => {
  await api?.close();
});

test('numbers given as strings, arrays or booleans are refused, not coerced', async () => {
  for (const tileSize of ['80', [80], true, 80.5]) {
    const res = await submit({ type: 'restore', stackId: small, model: 'em', options: { tileSize } });
    assert.equal(res.statusCode, 400, `tileSize ${JSON.stringify(tileSize)}: ${res.body}`);
    const p = problem(res);
    assert.equal(p.code, 'VALIDATION_FAILED');
    assert.match(p.detail, /body\.options\.tileSize/);
  }
  const batch = await submit({ type: 'restore', stackId: small, options: { batchSize: '4' } });
  assert.equal(batch.statusCode, 400, batch.body);
  const steps = await submit({ type: 'train', stackIds: [small], name: 'm', modality: 'em', steps: '5' });
  assert.equal(steps.statusCode, 400, steps.body);
  assert.match(problem(steps).detail, /body\.steps/);
  const frames = await submit({ type: 'train', stackIds: [small], name: 'm', modality: 'em', frames: '5' });
  assert.equal(frames.statusCode, 400, frames.body);
});

test('the tile size is checked against the model card at submission, in the API\'s words', async () => {
  // The bundled em card: halo 24, multiple 8 -> at least 80 LR pixels, a multiple of 8.
  for (const tileSize of [64, 84]) {
    const res = await submit({ type: 'restore', stackId: small, model: 'em', options: { tileSize } });
    assert.equal(res.statusCode, 400, res.body);
    const p = problem(res);
    assert.equal(p.code, 'INVALID_ARGUMENT');
    assert.match(p.detail, /^options\.tileSize: tile size must be a multiple of 8 and at least 80/);
    assert.doesNotMatch(p.detail, /--tile/);
  }
  const ok = await submit({ type: 'restore', stackId: small, model: 'em', options: { tileSize: 80 } });
  assert.equal(ok.statusCode, 202, ok.body);
  assert.strictEqual(ok.json().options.tileSize, 80, 'stored as the number sent');
});

test('a restore whose output would pass JOB_MAX_OUTPUT_BYTES is 413 JOB_OUTPUT_TOO_LARGE and nothing is queued', async () => {
  const before = (await api.app.inject({ url: '/v1/jobs', headers: auth })).json().items.length as number;
  const res = await submit({ type: 'restore', stackId: big, model: 'em' });
  assert.equal(res.statusCode, 413, res.body);
  const p = problem(res);
  assert.equal(p.code, 'JOB_OUTPUT_TOO_LARGE');
  assert.match(p.detail, /81920 bytes \(result 65536, trust maps 16384\), over this server's limit of 16384 per job \(JOB_MAX_OUTPUT_BYTES\)/);
  const afterCount = (await api.app.inject({ url: '/v1/jobs', headers: auth })).json().items.length as number;
  assert.equal(afterCount, before, 'no job was recorded');
  const fits = await submit({ type: 'restore', stackId: small, model: 'em' });
  assert.equal(fits.statusCode, 202, fits.body);
  // With TTA the uncertainty map (float32 at output size) counts too.
  const tta = await submit({ type: 'restore', stackId: small, model: 'em', options: { tta: true } });
  assert.equal(tta.statusCode, 413, tta.body);
  assert.match(problem(tta).detail, /with TTA\) would write 21504 bytes \(result 4096, trust maps 17408\)/);
});
