/**
 * Export check: the trainer writes `export-check.json` beside model.onnx with a test input and PyTorch's
 * output for it; running the same input through onnxruntime-node (the runtime that serves the model) and
 * comparing says whether the exported graph computes what was trained.
 *
 * Format (packages/trainer/pssr_trainer/export.py, "pssr-export-check/1"): {"input": T, "output": T,
 * "tolerance": 1e-3} where T is {"name", "shape": [N, F, h, w], "encoding": "base64-f32le", "data": "<base64>"};
 * "data" may also be a plain array of numbers.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PssrError } from '@pssr/core';
import { sessionHost } from './session-host.js';

export const EXPORT_CHECK_FILE = 'export-check.json';

function tensor(value: unknown, field: string, file: string): { shape: number[]; data: Float32Array } {
  const bad = (what: string): never => {
    throw new PssrError('MODEL_CARD_INVALID', `${file}: "${field}" ${what}.`);
  };
  if (typeof value !== 'object' || value === null) return bad('must be an object with shape and data');
  const v = value as Record<string, unknown>;
  const shape = v.shape as unknown;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) > 0)) return bad('needs "shape": positive integers');
  let data: Float32Array;
  if (Array.isArray(v.data)) {
    data = Float32Array.from(v.data as number[]);
  } else if (typeof v.data === 'string') {
    if (v.encoding !== undefined && v.encoding !== 'base64-f32le') return bad(`has encoding ${JSON.stringify(v.encoding)}; supported: base64-f32le`);
    const bytes = Buffer.from(v.data, 'base64');
    if (bytes.length % 4 !== 0) return bad('base64 data is not a whole number of float32 values');
    data = new Float32Array(bytes.length / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(4 * i);
  } else {
    return bad('needs "data": base64 float32 little-endian, or an array of numbers');
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (data.length !== count) bad(`holds ${data.length} values, shape [${(shape as number[]).join(', ')}] needs ${count}`);
  return { shape: shape as number[], data };
}

/** Runs `<dir>/export-check.json` through onnxruntime (CPU) and returns the largest absolute difference. */
export async function verifyExport(modelDir: string): Promise<{ maxAbsDiff: number; values: number; tolerance: number | null }> {
  const file = join(modelDir, EXPORT_CHECK_FILE);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new PssrError('MODEL_CARD_INVALID', `Cannot read the export check ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const input = tensor(json.input, 'input', file);
  const expected = tensor(json.output, 'output', file);
  const onnxPath = join(modelDir, 'model.onnx');
  let result;
  try {
    await sessionHost.load(onnxPath, 'cpu');
    result = await sessionHost.run(onnxPath, 'cpu', input.data, input.shape);
  } catch (err) {
    throw new PssrError('MODEL_CARD_INVALID', `${onnxPath} does not run on the export check input: ${(err as Error).message.split('\n')[0]}`);
  }
  if (result.dims.join(',') !== expected.shape.join(',')) {
    throw new PssrError('MODEL_CARD_INVALID', `${onnxPath} returned shape [${result.dims.join(', ')}]; ${file} expects [${expected.shape.join(', ')}].`);
  }
  let maxAbsDiff = 0;
  for (let i = 0; i < result.data.length; i++) {
    const d = Math.abs(result.data[i]! - expected.data[i]!);
    // NaN in either output is a failed export, never a small difference.
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  }
  const tolerance = typeof json.tolerance === 'number' ? json.tolerance : null;
  return { maxAbsDiff, values: result.data.length, tolerance };
}
