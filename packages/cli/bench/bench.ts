/**
 * `npm run bench -- [--model NAME|DIR] [--frames N] [--memory-size PX] [--repeat N] [--skip-memory]`
 * Prints numbers, asserts nothing:
 * 1. throughput: output megapixels per second restoring a 256x256 LR frame to 1024x1024 on the CPU
 *    (warm session, median of --repeat runs), for one frame and for a stack of 8;
 * 2. engine overhead: whole restore time / pure session.run time for the same tiles and batches
 *    (the same batches run back to back through the session with nothing else going on); the session
 *    time measured inside the restore is printed too. One frame pays the pipeline's fill and drain
 *    (first read, last blend and write) once per frame; a stack pays it once;
 * 3. peak resident memory of the real `pssr restore` command on an N-frame (default 200) stack of
 *    PX x PX (default 1024) uint16 LR frames written to a BigTIFF in the temp folder (4x per axis: 200
 *    frames give 6.7 GB), read from /proc (VmHWM); the files are deleted afterwards.
 * The default model is the bundled `em`; without it, pass --model DIR (and say which model the numbers are for).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allocFrame, planTiles } from '@pssr/core';
import type { FrameArray, StackInfo } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'em' },
    frames: { type: 'string', default: '200' },
    'memory-size': { type: 'string', default: '1024' },
    repeat: { type: 'string', default: '3' },
    'skip-memory': { type: 'boolean', default: false },
  },
});
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/pssr.js');
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** A realistic LR frame: the sample's first section if present, else a synthetic texture. */
async function sampleFrame(): Promise<FrameArray> {
  try {
    const r = await openTiffStack(join(REPO, 'examples/em-lr.tif'));
    const f = await r.readFrame(0);
    await r.close();
    if (f.length === 256 * 256) return f;
  } catch {
    // fall through
  }
  const f = new Uint8Array(256 * 256);
  for (let i = 0; i < f.length; i++) f[i] = 128 + 100 * Math.sin((i % 256) / 5) * Math.cos(Math.floor(i / 256) / 7);
  return f;
}

const model = await resolveModel(args.model!);
console.log(`model: ${model.name} (${model.dir}), ${model.card.architecture.name} ${JSON.stringify(model.card.architecture)}`);
console.log(`cpu: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; node ${process.version}`);
const engine = await RestoreEngine.load(model, { device: 'cpu' });
const repeat = Math.max(1, Number(args.repeat));

// ---- 1 + 2: 256x256 -> 1024x1024 frames ----
const frame = await sampleFrame();
const restoreFrames = async (n: number) => {
  const info: StackInfo = { frames: n, height: 256, width: 256, dtype: 'uint8', axis: 'T' };
  const source = new MemoryFrameSource(info, () => frame);
  return engine.restore(source, new MemoryFrameSink(engine.outputInfo(info), () => {}));
};
// The same tiles as a restore: same plan, same batches, back to back, nothing else running.
const rect = planTiles(256, 256, engine.tileSpec())[0]!;
const F = model.card.inputFrames;
const pureSession = async (tiles: number, batchSize: number) => {
  let sum = 0;
  for (let done = 0; done < tiles; done += batchSize) {
    const b = Math.min(batchSize, tiles - done);
    const input = new Float32Array(b * F * rect.h * rect.w).fill(0.5);
    sum += (await engine.runBatch(input, b, rect.h, rect.w)).seconds;
  }
  return sum;
};
await restoreFrames(2); // warm-up: first-run allocations, graph optimisation, JIT

for (const n of [1, 8]) {
  const timings = [];
  const pure: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = await restoreFrames(n);
    timings.push(t);
    pure.push(await pureSession(t.tiles, t.batchSize));
  }
  const t = timings[0]!;
  const restoreSeconds = median(timings.map((x) => x.seconds));
  const inRestoreSession = median(timings.map((x) => x.sessionSeconds));
  const pureSeconds = median(pure);
  console.log(`\n${n} frame${n > 1 ? 's' : ''} of 256x256 uint8 -> 1024x1024 on cpu (median of ${repeat}; ${t.tiles} tiles of ${rect.w}x${rect.h} LR, batch ${t.batchSize}):`);
  console.log(`  1) throughput ${(t.outputMegapixels / restoreSeconds).toFixed(2)} MP/s output (${(restoreSeconds / n).toFixed(3)} s per frame)`);
  console.log(
    `  2) engine overhead = whole restore / pure session.run on the same tiles: ${(restoreSeconds / pureSeconds).toFixed(3)} ` +
      `(restore ${restoreSeconds.toFixed(3)} s, pure session.run ${pureSeconds.toFixed(3)} s; session time measured inside the restore ${inRestoreSession.toFixed(3)} s -> ${(restoreSeconds / inRestoreSession).toFixed(3)})`,
  );
}

// ---- 3: peak RSS of `pssr restore` on a long uint16 stack ----
if (!args['skip-memory']) {
  const n = Math.max(1, Number(args.frames));
  const size = Math.max(16, Number(args['memory-size']));
  const dir = mkdtempSync(join(tmpdir(), 'pssr-bench-'));
  try {
    const input = join(dir, 'in.tif');
    const output = join(dir, 'out.tif');
    const lrInfo: StackInfo = { frames: n, height: size, width: size, dtype: 'uint16', axis: 'T' };
    const sink = await createTiffStackWriter(input, lrInfo, { overwrite: true });
    const base = allocFrame('uint16', size * size);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) base[y * size + x] = (frame[(y % 256) * 256 + (x % 256)] ?? 0) * 200 + ((x * 7 + y * 13) % 500);
    for (let k = 0; k < n; k++) {
      const f = allocFrame('uint16', size * size);
      for (let i = 0; i < f.length; i++) f[i] = base[(i + k * 37) % base.length]!;
      await sink.writeFrame(f);
    }
    await sink.commit();
    console.log(`\n3) peak memory: pssr restore of ${n} frames ${size}x${size} uint16 (${(statSync(input).size / 1e6).toFixed(0)} MB in) -> ${4 * size}x${4 * size} (${((n * 32 * size * size) / 1e9).toFixed(2)} GB out)...`);
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'restore', input, '-o', output, '--model', model.dir, '--device', 'cpu'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited
      }
    }, 100);
    let summary = '';
    child.stdout.on('data', (d: Buffer) => (summary += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    clearInterval(poll);
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) {
      console.log(`   pssr restore failed with exit ${code}`);
    } else {
      const outBytes = statSync(output).size;
      const magic = Buffer.alloc(4);
      const fd = openSync(output, 'r');
      readSync(fd, magic, 0, 4, 0);
      closeSync(fd);
      const bigtiff = magic[2] === 43 || magic[3] === 43; // 'II' 43 0 or 'MM' 0 43
      console.log(`   ${summary.trim()}`);
      console.log(`   peak RSS ${(peakKb / 1024).toFixed(0)} MB (VmHWM, sampled every 0.1 s); output ${(outBytes / 1e9).toFixed(2)} GB ${bigtiff ? 'BigTIFF' : 'classic TIFF'}; ${seconds.toFixed(1)} s wall`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
