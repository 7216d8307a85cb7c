/**
 * Small real test stacks: crops of the ssTEM sections in ../shared/datasets/em-sstem-vnc degraded with the
 * PSSR EM recipe (core's `degrade`), written as uint8 TIFFs; plus malformed files for the bad-input cases.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASETS } from './datasets.js';
import { degrade, degradationSpec, type StackInfo } from '@pssr/core';
import { degradedSource } from '@pssr/report';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';

export const EM_DIR = join(DATASETS, 'em-sstem-vnc');
const HELA = join(DATASETS, 'fluo', 'hela-cells.tif');

export interface EmTestStack {
  /** The LR stack (uint8, frames x lrSize x lrSize). */
  path: string;
  info: StackInfo;
  /** The HR crops the LR frames were made from (float32, 4*lrSize square), for PSNR. */
  hr: Float32Array[];
  /** The LR frames as written (float32 of the uint8 values). */
  lr: Float32Array[];
  lrSize: number;
}

/**
 * `frames` consecutive held-out sections (16..19 stay out of the em model's training data), each cropped to
 * 4*lrSize square at (y0, x0), degraded (em recipe, seeded) and written as one LR stack.
 */
export async function makeEmStack(dir: string, opts: { frames?: number; lrSize?: number; y0?: number; x0?: number; name?: string; firstSection?: number } = {}): Promise<EmTestStack> {
  const frames = opts.frames ?? 2;
  const lrSize = opts.lrSize ?? 64;
  const hrSize = lrSize * 4;
  const y0 = opts.y0 ?? 256;
  const x0 = opts.x0 ?? 256;
  const first = opts.firstSection ?? 16;
  const hr: Float32Array[] = [];
  const lr: Float32Array[] = [];
  const spec = degradationSpec('em');
  for (let f = 0; f < frames; f++) {
    const src = await openTiffStack(join(EM_DIR, `stack1_${String(first + f).padStart(2, '0')}.tif`));
    try {
      const full = await src.readFrame(0);
      const w = src.info.width;
      const crop = new Uint8Array(hrSize * hrSize);
      for (let y = 0; y < hrSize; y++) for (let x = 0; x < hrSize; x++) crop[y * hrSize + x] = full[(y0 + y) * w + (x0 + x)]!;
      hr.push(Float32Array.from(crop));
      const d = degrade(crop, hrSize, hrSize, spec, 1000 + f);
      const q = new Float32Array(d.data.length);
      for (let i = 0; i < q.length; i++) q[i] = Math.min(255, Math.max(0, Math.round(d.data[i]!)));
      lr.push(q);
    } finally {
      await src.close();
    }
  }
  const info: StackInfo = { frames, height: lrSize, width: lrSize, dtype: 'uint8', axis: 'Z', pixelSize: { x: 18.4, y: 18.4, unit: 'nm' } };
  const path = join(dir, opts.name ?? `em-lr-${frames}x${lrSize}.tif`);
  const sink = await createTiffStackWriter(path, info, { overwrite: true });
  for (const f of lr) await sink.writeFrame(Uint8Array.from(f));
  await sink.commit();
  return { path, info, hr, lr, lrSize };
}

/** A synthetic uint8 stack (deterministic pattern) of any size, for upload tests. */
/**
 * Fluorescence that the em model never saw: channel 1 of the HeLa image, degraded with the fluo recipe
 * (seeded), one LR frame. em's trust report flags it out of distribution.
 */
export async function makeFluoLrStack(dir: string, name = 'hela-lr.tif'): Promise<{ path: string; info: StackInfo }> {
  const src = await openTiffStack(HELA, { channel: 1 });
  const lr = degradedSource(src, degradationSpec('fluo'), 7);
  const frame = await lr.readFrame(0);
  await src.close();
  const path = join(dir, name);
  const info = { ...lr.info, frames: 1 };
  const sink = await createTiffStackWriter(path, info, { overwrite: true });
  await sink.writeFrame(frame);
  await sink.commit();
  return { path, info };
}

export async function makePatternStack(path: string, frames: number, height: number, width: number): Promise<StackInfo> {
  const info: StackInfo = { frames, height, width, dtype: 'uint8', axis: 'T' };
  const sink = await createTiffStackWriter(path, info, { overwrite: true });
  for (let f = 0; f < frames; f++) {
    const data = new Uint8Array(height * width);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + f * 13 + (i >> 8)) & 0xff;
    await sink.writeFrame(data);
  }
  await sink.commit();
  return info;
}

/** A classic little-endian TIFF header whose one IFD declares a 200000 x 200000 uint8 image (no pixel data). */
export function enormousTiffBytes(): Buffer {
  const entries: [number, number, number, number][] = [
    // tag, type (3 SHORT, 4 LONG), count, value
    [256, 4, 1, 200_000], // ImageWidth
    [257, 4, 1, 200_000], // ImageLength
    [258, 3, 1, 8], // BitsPerSample
    [259, 3, 1, 1], // Compression none
    [262, 3, 1, 1], // Photometric BlackIsZero
    [273, 4, 1, 8], // StripOffsets
    [277, 3, 1, 1], // SamplesPerPixel
    [278, 4, 1, 200_000], // RowsPerStrip
    [279, 4, 1, 4_000_000_000], // StripByteCounts
  ];
  const ifdOffset = 8;
  const buf = Buffer.alloc(ifdOffset + 2 + entries.length * 12 + 4);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(ifdOffset, 4);
  buf.writeUInt16LE(entries.length, ifdOffset);
  entries.forEach(([tag, type, count, value], i) => {
    const o = ifdOffset + 2 + i * 12;
    buf.writeUInt16LE(tag, o);
    buf.writeUInt16LE(type, o + 2);
    buf.writeUInt32LE(count, o + 4);
    if (type === 3) buf.writeUInt16LE(value, o + 8);
    else buf.writeUInt32LE(value, o + 8);
  });
  buf.writeUInt32LE(0, ifdOffset + 2 + entries.length * 12);
  return buf;
}

export async function writeBytes(path: string, bytes: Buffer): Promise<string> {
  await writeFile(path, bytes);
  return path;
}
