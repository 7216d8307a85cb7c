/**
 * The mutated-TIFF generator shared by the fuzz tests of the TIFF reader and of the API's upload path
 * (fast-check): valid stacks and decompression bombs as seeds, byte edits biased to the header and IFDs,
 * and truncations.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import type { DType, StackInfo } from '@pssr/core';
import { createTiffStackWriter } from '../../src/index.js';
import { compressedPage, lzwEncode, zlibZeros } from './bombs.js';

async function written(dir: string, name: string, info: StackInfo, compression: 'none' | 'deflate'): Promise<Buffer> {
  const path = join(dir, name);
  const sink = await createTiffStackWriter(path, info, { compression });
  const n = info.height * info.width;
  for (let f = 0; f < info.frames; f++) {
    const frame = info.dtype === 'uint8' ? new Uint8Array(n) : info.dtype === 'uint16' ? new Uint16Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) frame[i] = (i * 7 + f * 13) % 251;
    await sink.writeFrame(frame);
  }
  await sink.commit();
  return readFile(path);
}

/** Seed files: three valid stacks (uint8, deflate uint16, float32), a deflate bomb and two LZW pages. */
export async function fuzzSeeds(dir: string): Promise<Buffer[]> {
  const stack = (frames: number, height: number, width: number, dtype: DType): StackInfo => ({ frames, height, width, dtype, axis: 'T', pixelSize: { x: 0.02, y: 0.02, unit: 'um' } });
  return [
    await written(dir, 'u8.tif', stack(3, 24, 20, 'uint8'), 'none'),
    await written(dir, 'u16-deflate.tif', stack(2, 33, 17, 'uint16'), 'deflate'),
    await written(dir, 'f32.tif', stack(1, 16, 16, 'float32'), 'deflate'),
    compressedPage(32, 32, 8, await zlibZeros(2 ** 24)), // inflates to 16 MiB for a 1 KiB frame
    compressedPage(16, 16, 5, lzwEncode(new Uint8Array(20_000))),
    compressedPage(16, 16, 5, lzwEncode(Uint8Array.from({ length: 256 }, (_, i) => i))),
  ];
}

/** Byte edits: mostly in the first 512 bytes (header, first IFD), some anywhere; optional truncation. */
export const mutation = (size: number) =>
  fc.record({
    edits: fc.array(
      fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.nat({ max: Math.min(511, size - 1) }) }, { weight: 1, arbitrary: fc.nat({ max: size - 1 }) }), fc.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: 6 },
    ),
    truncateTo: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: size }) }),
  });

export function mutate(seed: Buffer, m: { edits: [number, number][]; truncateTo: number | null }): Buffer {
  const out = Buffer.from(seed);
  for (const [at, value] of m.edits) out[at] = value;
  return m.truncateTo === null ? out : out.subarray(0, m.truncateTo);
}

