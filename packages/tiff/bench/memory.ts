/**
 * Memory and speed of the TIFF writer and reader on a long stack (not a test: prints numbers).
 *
 *   node --import tsx packages/tiff/bench/memory.ts [--frames 200] [--size 1024] [--compression none|deflate] [--pages 5000]
 *
 * Writes a `frames` x size x size uint16 BigTIFF, then reads it back frame by frame; each phase runs in its
 * own child process so its peak RSS (getrusage maxrss) is its own. Then compares, on a `pages`-page stack
 * of small frames, opening the last frame with this package against geotiff's getImage(i), which parses
 * and keeps every IFD before i.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromFile } from 'geotiff';
import { createTiffStackWriter, inspectTiff, openTiffStack } from '@pssr/tiff';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const MiB = 1024 * 1024;
const rssMiB = (): number => process.memoryUsage().rss / MiB;
const peakMiB = (): number => process.resourceUsage().maxRSS / 1024;

async function writePhase(path: string, frames: number, size: number, compression: 'none' | 'deflate'): Promise<void> {
  const base = new Uint16Array(size * size);
  for (let i = 0; i < base.length; i++) base[i] = ((i * 2654435761) >>> 16) & 0x0fff;
  const frame = new Uint16Array(size * size);
  const t0 = performance.now();
  const sink = await createTiffStackWriter(path, { frames, height: size, width: size, dtype: 'uint16', axis: 'T', pixelSize: { x: 0.05, y: 0.05, unit: 'um' } }, { bigtiff: 'always', compression, overwrite: true });
  const samples: string[] = [];
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < frame.length; i++) frame[i] = (base[i] as number) + f;
    await sink.writeFrame(frame);
    if (f === 9 || f === Math.floor(frames / 2) || f === frames - 1) samples.push(`after ${f + 1}: ${rssMiB().toFixed(0)} MiB`);
  }
  await sink.commit();
  const seconds = (performance.now() - t0) / 1000;
  const bytes = statSync(path).size;
  const raw = frames * size * size * 2;
  console.log(
    `write: ${frames} frames ${size}x${size} uint16 (${compression}) = ${(raw / MiB).toFixed(0)} MiB of pixels -> ${(bytes / MiB).toFixed(0)} MiB file in ${seconds.toFixed(2)} s (${(raw / MiB / seconds).toFixed(0)} MiB/s of pixels)`,
  );
  console.log(`write: rss ${samples.join(', ')}; peak RSS ${peakMiB().toFixed(0)} MiB`);
}

async function readPhase(path: string): Promise<void> {
  const t0 = performance.now();
  const info = await inspectTiff(path);
  const inspectMs = performance.now() - t0;
  const reader = await openTiffStack(path);
  const samples: string[] = [];
  let checksum = 0;
  const t1 = performance.now();
  for (let f = 0; f < info.frames; f++) {
    const frame = await reader.readFrame(f);
    checksum = (checksum + (frame[f] as number)) % 1_000_003;
    if (f === 9 || f === Math.floor(info.frames / 2) || f === info.frames - 1) samples.push(`after ${f + 1}: ${rssMiB().toFixed(0)} MiB`);
  }
  const seconds = (performance.now() - t1) / 1000;
  await reader.close();
  const bytes = info.frames * info.height * info.width * 2;
  console.log(`read: inspectTiff ${inspectMs.toFixed(0)} ms; ${info.frames} frames in ${seconds.toFixed(2)} s (${((seconds / info.frames) * 1000).toFixed(1)} ms/frame, ${(bytes / MiB / seconds).toFixed(0)} MiB/s) checksum ${checksum}`);
  console.log(`read: rss ${samples.join(', ')}; peak RSS ${peakMiB().toFixed(0)} MiB`);
}

async function manyPagesPhase(path: string, pages: number): Promise<void> {
  const size = 64;
  const sink = await createTiffStackWriter(path, { frames: pages, height: size, width: size, dtype: 'uint8', axis: 'T' }, { overwrite: true });
  const frame = new Uint8Array(size * size);
  for (let f = 0; f < pages; f++) {
    frame.fill(f & 0xff);
    await sink.writeFrame(frame);
  }
  await sink.commit();
  let t = performance.now();
  const reader = await openTiffStack(path);
  const openMs = performance.now() - t;
  t = performance.now();
  await reader.readFrame(pages - 1);
  const ours = performance.now() - t;
  await reader.close();
  t = performance.now();
  const tiff = await fromFile(path);
  const image = await tiff.getImage(pages - 1);
  await image.readRasters();
  const theirs = performance.now() - t;
  t = performance.now();
  await (await tiff.getImage(pages - 2)).readRasters();
  const theirsAgain = performance.now() - t;
  await tiff.close();
  console.log(
    `${pages} pages: openTiffStack (validates every IFD) ${openMs.toFixed(0)} ms, then last frame ${ours.toFixed(1)} ms; ` +
      `geotiff getImage(${pages - 1}) + readRasters ${theirs.toFixed(0)} ms (walks and keeps all IFDs), next one ${theirsAgain.toFixed(1)} ms`,
  );
}

const phase = arg('phase', '');
const path = arg('path', '');
if (phase === 'write') await writePhase(path, Number(arg('frames', '200')), Number(arg('size', '1024')), arg('compression', 'none') as 'none' | 'deflate');
else if (phase === 'read') await readPhase(path);
else if (phase === 'pages') await manyPagesPhase(path, Number(arg('pages', '5000')));
else {
  const dir = mkdtempSync(join(tmpdir(), 'pssr-tiff-bench-'));
  const self = fileURLToPath(import.meta.url);
  const run = (extra: string[]): void => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', self, ...extra], { stdio: 'inherit' });
    if (res.status !== 0) throw new Error(`bench phase ${extra.join(' ')} failed`);
  };
  try {
    const stack = join(dir, 'stack.tif');
    run(['--phase', 'write', '--path', stack, '--frames', arg('frames', '200'), '--size', arg('size', '1024'), '--compression', arg('compression', 'none')]);
    run(['--phase', 'read', '--path', stack]);
    run(['--phase', 'pages', '--path', join(dir, 'pages.tif'), '--pages', arg('pages', '5000')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
