// Checks a model folder's fp16 variant (model.fp16.onnx, from `python3 -m pssr_trainer fp16 DIR`) against
// model.onnx on onnxruntime-node's CPU provider, through the restore engine: the largest output difference
// on export-check.json's input (normalised units) and, for the em models, PSNR of examples/em-lr.tif restored
// by each against examples/em-hr.tif. With --write, records the result as export.fp16 in model.json.
// A maintenance tool for the bundled models; from the repository root:
//   node --import tsx packages/trainer/tools/check-fp16.ts packages/models/em [...] [--write]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minMax, psnr } from '@pssr/core';
import type { FrameArray, Fp16Variant } from '@pssr/core';
import { MemoryFrameSink, ONNXRUNTIME_VERSION, RestoreEngine } from '@pssr/inference';
import { loadModelDir, sha256File } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';

const FP16_FILE = 'model.fp16.onnx';
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

function decode(part: { data: string }): Float32Array {
  const buf = Buffer.from(part.data, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

async function readStack(path: string): Promise<{ reader: Awaited<ReturnType<typeof openTiffStack>>; frames: FrameArray[] }> {
  const reader = await openTiffStack(path);
  const frames: FrameArray[] = [];
  for (let i = 0; i < reader.info.frames; i++) frames.push(await reader.readFrame(i));
  return { reader, frames };
}

/** Mean over frames of PSNR against the HR frame, data range = that frame's max - min (CONTRACTS). */
function stackPsnr(hr: FrameArray[], restored: FrameArray[]): number {
  let sum = 0;
  hr.forEach((h, i) => {
    const { min, max } = minMax(h);
    sum += psnr(h, restored[i]!, max - min);
  });
  return sum / hr.length;
}

async function check(dir: string): Promise<Fp16Variant> {
  const bundle = await loadModelDir(dir);
  const fp16File = join(dir, FP16_FILE);
  const engines = {
    fp32: await RestoreEngine.load(bundle, { device: 'cpu', precision: 'fp32' }),
    fp16: await RestoreEngine.load({ ...bundle, fp16Path: fp16File }, { device: 'cpu', precision: 'fp16' }),
  };
  const exportCheck = JSON.parse(readFileSync(join(dir, 'export-check.json'), 'utf8')) as { input: { data: string; shape: number[] } };
  const [n, , h, w] = exportCheck.input.shape as [number, number, number, number];
  const out32 = await engines.fp32.runBatch(decode(exportCheck.input), n, h, w);
  const out16 = await engines.fp16.runBatch(decode(exportCheck.input), n, h, w);
  const diff = maxAbsDiff(out32.output, out16.output);
  let data = `export-check.json input (${exportCheck.input.shape.join('x')}, normalised)`;
  let psnrs: Fp16Variant['psnr'] = null;
  if (bundle.card.modality === 'em') {
    const lr = await readStack(join(EXAMPLES, 'em-lr.tif'));
    const hr = await readStack(join(EXAMPLES, 'em-hr.tif'));
    const restored: Record<'fp32' | 'fp16', FrameArray[]> = { fp32: [], fp16: [] };
    for (const p of ['fp32', 'fp16'] as const) {
      const sink = new MemoryFrameSink(engines[p].outputInfo(lr.reader.info));
      await engines[p].restore(lr.reader, sink);
      restored[p] = sink.frames;
    }
    await lr.reader.close();
    await hr.reader.close();
    psnrs = { fp32: stackPsnr(hr.frames, restored.fp32), fp16: stackPsnr(hr.frames, restored.fp16) };
    const dtypeDiff = Math.max(...restored.fp32.map((f, i) => maxAbsDiff(f, restored.fp16[i]!)));
    data += `; PSNR: examples/em-lr.tif restored (whole engine, uint8 out; largest pixel difference ${dtypeDiff}) against examples/em-hr.tif (held-out sections)`;
  }
  return { file: FP16_FILE, sha256: await sha256File(fp16File), maxAbsDiff: diff, psnr: psnrs, data, checkedWith: `onnxruntime-node ${ONNXRUNTIME_VERSION} CPU` };
}

const dirs = process.argv.slice(2).filter((a) => a !== '--write');
if (dirs.length === 0) throw new Error('usage: check-fp16.ts MODEL_DIR [...] [--write]');
for (const dir of dirs) {
  const fp16 = await check(dir);
  if (process.argv.includes('--write')) {
    const cardPath = join(dir, 'model.json');
    const card = JSON.parse(readFileSync(cardPath, 'utf8')) as { export: Record<string, unknown> };
    card.export = { ...card.export, fp16 };
    writeFileSync(cardPath, `${JSON.stringify(card, null, 2)}\n`);
  }
  console.log(JSON.stringify({ dir, ...fp16 }));
}

