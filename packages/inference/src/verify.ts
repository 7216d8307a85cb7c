/**
 * Export check: the trainer writes `export-check.json` beside model.onnx with a test input and PyTorch's
 * output for it; running the same input through onnxruntime-node (the runtime that serves the model) and
 * comparing says whether the exported graph computes what was trained.
 *
 * Format: {"input": T, "output": T} where T is {"shape": [N, F, h, w], "data": [..numbers..]} or
 * {"shape": [...], "base64": "<little-endian float32>"} ("dims" is accepted for "shape").
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
  const shape = (v.shape ?? v.dims) as unknown;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) > 0)) return bad('needs "shape": positive integers');
  let data: Float32Array;
  if (Array.isArray(v.data)) {
    data = Float32Array.from(v.data as number[]);
  } else if (typeof v.base64 === 'string' || typeof v.data === 'string') {
    const bytes = Buffer.from((v.base64 ?? v.data) as string, 'base64');
    if (bytes.length % 4 !== 0) return bad('base64 data is not a whole number of float32 values');
    data = new Float32Array(bytes.length / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(4 * i);
  } else {
    return bad('needs "data" (numbers) or "base64" (float32 little-endian)');
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (data.length !== count) bad(`holds ${data.length} values, shape [${(shape as number[]).join(', ')}] needs ${count}`);
  return { shape: shape as number[], data };
}

/** Runs `<dir>/export-check.json` through onnxruntime (CPU) and returns the largest absolute difference. */
export async function verifyExport(modelDir: string): Promise<{ maxAbsDiff: number; values: number }> {
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
  return { maxAbsDiff, values: result.data.length };
}
