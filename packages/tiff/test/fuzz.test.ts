/**
 * Property-based fuzzing of the TIFF reader (fast-check, fixed seed): thousands of mutated files (random
 * byte edits biased to the header and IFDs, truncations, deflate and LZW bombs as seeds) are inspected,
 * opened and read frame by frame under small limits. Property: it either reads, or refuses with a PssrError
 * marked as the user's (a stable code and a message naming the file), never another exception or an
 * internal one, never a hang (each file has a deadline), and memory stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isPssrError, type DType, type StackInfo } from '@pssr/core';
import { createTiffStackWriter, openTiffStack, inspectTiff } from '../src/index.js';
import { compressedPage, lzwEncode, zlibZeros } from './helpers/bombs.js';

const SEED = 20261202;
const RUNS = Number(process.env['PSSR_FUZZ_RUNS'] ?? 3000);
const LIMITS = { maxFrames: 64, maxFramePixels: 2 ** 20, maxChunkBytes: 2 ** 22, maxFrameBytes: 2 ** 22, maxTotalBytes: 2 ** 26 };
const dir = mkdtempSync(join(tmpdir(), 'pssr-tiff-fuzz-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function written(name: string, info: StackInfo, compression: 'none' | 'deflate'): Promise<Buffer> {
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

async function seeds(): Promise<Buffer[]> {
  const stack = (frames: number, height: number, width: number, dtype: DType): StackInfo => ({ frames, height, width, dtype, axis: 'T', pixelSize: { x: 0.02, y: 0.02, unit: 'um' } });
  return [
    await written('u8.tif', stack(3, 24, 20, 'uint8'), 'none'),
    await written('u16-deflate.tif', stack(2, 33, 17, 'uint16'), 'deflate'),
    await written('f32.tif', stack(1, 16, 16, 'float32'), 'deflate'),
    compressedPage(32, 32, 8, await zlibZeros(2 ** 24)), // inflates to 16 MiB for a 1 KiB frame
    compressedPage(16, 16, 5, lzwEncode(new Uint8Array(20_000))),
    compressedPage(16, 16, 5, lzwEncode(Uint8Array.from({ length: 256 }, (_, i) => i))),
  ];
}

/** Byte edits: mostly in the first 512 bytes (header, first IFD), some anywhere; optional truncation. */
const mutation = (size: number) =>
  fc.record({
    edits: fc.array(
      fc.tuple(fc.oneof({ weight: 3, arbitrary: fc.nat({ max: Math.min(511, size - 1) }) }, { weight: 1, arbitrary: fc.nat({ max: size - 1 }) }), fc.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: 6 },
    ),
    truncateTo: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: size }) }),
  });

function mutate(seed: Buffer, m: { edits: [number, number][]; truncateTo: number | null }): Buffer {
  const out = Buffer.from(seed);
  for (const [at, value] of m.edits) out[at] = value;
  return m.truncateTo === null ? out : out.subarray(0, m.truncateTo);
}

/** Reads everything the reader offers; resolves with 'read' or the refusal's code. */
async function readAll(path: string): Promise<string> {
  await inspectTiff(path, { limits: LIMITS });
  const stack = await openTiffStack(path, { limits: LIMITS });
  try {
    for (let f = 0; f < stack.info.frames; f++) await stack.readFrame(f);
  } finally {
    await stack.close();
  }
  return 'read';
}

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${what} took over ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

test(`fuzz: ${RUNS} mutated TIFFs are read or refused with a user error, never a crash, a hang or unbounded memory`, async () => {
  const bases = await seeds();
  const outcomes = new Map<string, number>();
  let peakRss = 0;
  let i = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: bases.length - 1 }).chain((b) => fc.tuple(fc.constant(b), mutation(bases[b]!.length))),
      async ([b, m]) => {
        const path = join(dir, `case-${i++ % 4}.tif`);
        await writeFile(path, mutate(bases[b]!, m));
        let outcome: string;
        try {
          outcome = await deadline(readAll(path), 10_000, `reading a mutation of seed ${b}`);
        } catch (err) {
          if (!isPssrError(err)) throw new Error(`not a PssrError: ${String(err)}`, { cause: err });
          if (!err.userError || err.code === 'INTERNAL') throw new Error(`an internal error for a bad file: ${err.code} ${err.message}`, { cause: err });
          if (!err.message.includes(path)) throw new Error(`the message does not name the file: ${err.message}`);
          outcome = err.code;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`fuzz outcomes (seed ${SEED}): ${JSON.stringify(Object.fromEntries(outcomes))}; peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`);
  assert.ok(peakRss < 768 * 2 ** 20, `peak RSS ${peakRss} bytes`);
  assert.ok((outcomes.get('read') ?? 0) > 0 && outcomes.size > 3, 'the mutations reach both reading and several refusals');
});
