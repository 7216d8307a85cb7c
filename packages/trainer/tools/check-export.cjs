// Verifies a trained model folder with onnxruntime-node (CPU): runs export-check.json's input through
// model.onnx and compares with the PyTorch output stored there. With --write, records export.maxAbsDiff and
// export.checkedWith in model.json. A maintenance tool for the bundled models (packages/inference owns
// onnxruntime at run time); run from the repository root:  node packages/trainer/tools/check-export.cjs DIR [--write]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-node');

function decode(part) {
  const buf = Buffer.from(part.data, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

async function main() {
  const dir = process.argv[2];
  const write = process.argv.includes('--write');
  if (!dir) throw new Error('usage: check-export.cjs MODEL_DIR [--write]');
  const check = JSON.parse(fs.readFileSync(path.join(dir, 'export-check.json'), 'utf8'));
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), { executionProviders: ['cpu'] });
  const input = new ort.Tensor('float32', decode(check.input), check.input.shape);
  const result = await session.run({ [check.input.name]: input });
  const got = result[check.output.name];
  const want = decode(check.output);
  if (got.dims.join('x') !== check.output.shape.join('x')) throw new Error(`shape ${got.dims} != ${check.output.shape}`);
  let maxAbsDiff = 0;
  for (let i = 0; i < want.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got.data[i] - want[i]));
  const version = require('onnxruntime-node/package.json').version;
  const checkedWith = `onnxruntime-node ${version}`;
  if (write) {
    const cardPath = path.join(dir, 'model.json');
    const card = JSON.parse(fs.readFileSync(cardPath, 'utf8'));
    card.export = { ...card.export, maxAbsDiff, checkedWith };
    fs.writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n');
  }
  console.log(JSON.stringify({ dir, maxAbsDiff, checkedWith, shape: got.dims, ok: maxAbsDiff <= (check.tolerance ?? 1e-3) }));
}
main().catch((e) => { console.error(e.message); process.exit(1); });
