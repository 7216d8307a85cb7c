import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { RestoreEngine } from '@pssr/inference';
import { listBundledModels, sha256File } from '@pssr/models';

const TRAINER = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'pssr-fp16-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function decode(part: { data: string }): Float32Array {
  const buf = Buffer.from(part.data, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

test('each bundled fp16 variant is what `pssr_trainer fp16` makes of model.onnx, and differs from it as its card says', async () => {
  for (const bundle of await listBundledModels()) {
    // The committed file is reproducible from model.onnx by the converter.
    const copy = join(tmp, bundle.name);
    cpSync(join(bundle.dir, 'model.onnx'), join(copy, 'model.onnx'));
    execFileSync('/usr/bin/python3', ['-m', 'pssr_trainer', 'fp16', copy], { cwd: TRAINER, stdio: ['ignore', 'ignore', 'pipe'] });
    assert.equal(await sha256File(join(copy, 'model.fp16.onnx')), bundle.card.export.fp16?.sha256, `${bundle.name}: converter output differs from the committed fp16 file`);

    // The recorded difference is what onnxruntime computes now, and small.
    const check = JSON.parse(readFileSync(join(bundle.dir, 'export-check.json'), 'utf8')) as { input: { data: string; shape: number[] } };
    const [n, , h, w] = check.input.shape as [number, number, number, number];
    const fp32 = await RestoreEngine.load(bundle, { device: 'cpu', precision: 'fp32' });
    const fp16 = await RestoreEngine.load(bundle, { device: 'cpu', precision: 'fp16' });
    assert.deepEqual([fp32.precision, fp16.precision], ['fp32', 'fp16']);
    assert.equal(fp16.sessionPath, bundle.fp16Path);
    const a = await fp32.runBatch(decode(check.input), n, h, w);
    const b = await fp16.runBatch(decode(check.input), n, h, w);
    let diff = 0;
    for (let i = 0; i < a.output.length; i++) diff = Math.max(diff, Math.abs(a.output[i]! - b.output[i]!));
    assert.ok(diff > 0, `${bundle.name}: the fp16 file computes exactly what fp32 does; is it fp16?`);
    assert.ok(Math.abs(diff - (bundle.card.export.fp16?.maxAbsDiff ?? -1)) < 1e-6, `${bundle.name}: max |fp16 - fp32| ${diff}, card says ${bundle.card.export.fp16?.maxAbsDiff}`);
    assert.ok(diff < 2e-3, `${bundle.name}: fp16 differs by ${diff}`);
  }
});

test('precision auto runs model.onnx on the CPU (fp16 is for CUDA)', async () => {
  const [bundle] = await listBundledModels();
  assert.ok(bundle);
  const engine = await RestoreEngine.load(bundle, { device: 'cpu' });
  assert.deepEqual([engine.provider, engine.precision, engine.sessionPath], ['cpu', 'fp32', bundle.onnxPath]);
  await assert.rejects(RestoreEngine.load({ ...bundle, fp16Path: null }, { device: 'cpu', precision: 'fp16' }), /no fp16 variant/);
});
