import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The independent reference: Debian's python3 with tifffile (never the code under test). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./tiffpy.py', import.meta.url));

export interface PyWritten {
  data: string;
  shape: number[];
  dtype: string;
  error?: string;
}

export interface PyRead {
  shape: number[];
  dtype: string;
  axes: string;
  pages: number;
  is_bigtiff: boolean;
  byteorder: string;
  is_imagej: boolean;
  imagej_metadata: Record<string, unknown> | null;
  compression: number;
  resolution: { XResolution?: [number, number]; YResolution?: [number, number] };
  resolution_unit: number | null;
  software: string | null;
  sample_format: number;
  description: string;
  page_compressions: number[];
  data: string;
  error?: string;
}

function run<T>(cmd: 'write' | 'read', items: object[]): T[] {
  const res = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify({ cmd, items }), encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`tiffpy ${cmd} failed (${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout) as T[];
}

export interface PyWriteItem {
  path: string;
  shape: number[];
  dtype: string;
  seed?: number;
  kwargs?: Record<string, unknown>;
  compression_codec?: 'lzw' | 'packbits';
  append?: Array<{ shape: number[]; dtype: string; seed?: number; kwargs?: Record<string, unknown> }>;
}

/** Writes each file with tifffile.imwrite; returns the array written (to compare frames against). */
export function pyWrite(items: PyWriteItem[]): PyWritten[] {
  const out = run<PyWritten>('write', items);
  out.forEach((r, i) => {
    if (r.error) throw new Error(`tifffile could not write ${items[i]?.path}: ${r.error}`);
  });
  return out;
}

/** Reads each file with tifffile; returns shape, dtype, metadata and data of series 0. */
export function pyRead(paths: string[]): PyRead[] {
  const out = run<PyRead>('read', paths.map((path) => ({ path })));
  out.forEach((r, i) => {
    if (r.error) throw new Error(`tifffile could not read ${paths[i]}: ${r.error}`);
  });
  return out;
}

export type AnyTyped = Uint8Array | Uint16Array | Float32Array | Int16Array | Float64Array | Uint32Array;

/** A base64 little-endian array from tiffpy as a typed array of its dtype. */
export function decodeArray(b64: string, dtype: string): AnyTyped {
  const buf = Buffer.from(b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  switch (dtype) {
    case 'uint8':
    case 'bool':
      return new Uint8Array(ab);
    case 'uint16':
      return new Uint16Array(ab);
    case 'float32':
      return new Float32Array(ab);
    case 'int16':
      return new Int16Array(ab);
    case 'float64':
      return new Float64Array(ab);
    case 'uint32':
      return new Uint32Array(ab);
    default:
      throw new Error(`unhandled dtype ${dtype}`);
  }
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'pssr-tiff-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
