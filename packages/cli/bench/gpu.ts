/**
 * `npm run bench:gpu -- [--model NAME|DIR] [--frames 64] [--size 1024] [--batches 4,8,16,32]
 *                       [--train-seconds 120] [--cpu-train-seconds 30] [--skip-train] [--oom] [--out FILE]`
 * Issue 11's benchmark: prints one JSON document (and writes it to --out) and asserts nothing.
 * - provider: what loaded (cuda or cpu) and, if not cuda, why CUDA did not load;
 * - example: examples/em-lr.tif restored on the CPU (fp32) and on CUDA (fp32, fp16): largest output
 *   difference, and PSNR of each against examples/em-hr.tif;
 * - restore[fp32|fp16]: raw session.run throughput at the engine's tile for each --batches size and the
 *   engine's own batch; end-to-end engine throughput on a generated --frames x --size^2 uint16 TIFF stack
 *   restored to a TIFF (read, tile, run, blend, write), pure session.run time for the same tiles and batches,
 *   their ratio, and peak GPU memory (nvidia-smi, sampled every 0.2 s; null without nvidia-smi);
 * - oom (--oom, CUDA only): one batch far past the GPU's memory, to see the halving and the batch that ran;
 * - train: the Python trainer (the code `pssr train` runs) on examples/em-hr.tif for --train-seconds on CUDA
 *   (mixed precision) and --cpu-train-seconds on the CPU: optimiser steps per second.
 * Each part runs in its own child process, because a CUDA session's memory is not returned within a process
 * (docs/GPU.md): peaks are per part, and a crash loses one part only. On a machine without CUDA everything
 * runs on the CPU; use a small --frames/--size there. docs/GPU.md says how to run it on an offline GPU host.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { allocFrame, minMax, planTiles, psnr } from '@pssr/core';
import type { FrameArray, StackInfo } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, ONNXRUNTIME_VERSION, RestoreEngine } from '@pssr/inference';
import type { Precision } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'em' },
    frames: { type: 'string', default: '64' },
    size: { type: 'string', default: '1024' },
    batches: { type: 'string', default: '4,8,16,32' },
    'train-seconds': { type: 'string', default: '120' },
    'cpu-train-seconds': { type: 'string', default: '30' },
    'skip-train': { type: 'boolean', default: false },
    oom: { type: 'boolean', default: false },
    out: { type: 'string' },
    // internal: run one part in this (child) process
    part: { type: 'string' },
    input: { type: 'string' },
    precision: { type: 'string' },
  },
});
const ROOT = process.cwd();
const examplePath = (name: string) => join(ROOT, 'examples', name);
type Json = Record<string, unknown>;

// ---------- helpers ----------

/** Peak GPU memory while `fn` runs: this process's (compute apps) or, failing that, the whole GPU's. */
async function withGpuMemory<T>(fn: () => Promise<T>): Promise<{ result: T; peakGpuMemoryMiB: number | null }> {
  const sample = (): number | null => {
    try {
      const apps = execFileSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 2000 });
      const mine = apps.split('\n').map((l) => l.split(',').map((s) => s.trim())).find(([pid]) => Number(pid) === process.pid);
      if (mine) return Number(mine[1]);
      const used = execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 2000 });
      return Number(used.split('\n')[0]);
    } catch {
      return null;
    }
  };
  let peak: number | null = sample();
  const timer = setInterval(() => {
    const v = sample();
    if (v !== null) peak = Math.max(peak ?? 0, v);
  }, 200);
  try {
    const result = await fn();
    const last = sample();
    if (last !== null) peak = Math.max(peak ?? 0, last);
    return { result, peakGpuMemoryMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

function gpuInfo(): Json | null {
  try {
    const line = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000 }).split('\n')[0]!;
    const [name, memory, driver] = line.split(',').map((s) => s.trim());
    return { name, memory, driver };
  } catch (err) {
    return { error: `nvidia-smi: ${(err as Error).message.split('\n')[0]}` };
  }
}

async function readStack(path: string): Promise<{ info: StackInfo; frames: FrameArray[] }> {
  const r = await openTiffStack(path);
  const frames: FrameArray[] = [];
  for (let i = 0; i < r.info.frames; i++) frames.push(await r.readFrame(i));
  await r.close();
  return { info: r.info, frames };
}

function maxAbsDiff(a: FrameArray[], b: FrameArray[]): number {
  let m = 0;
  a.forEach((f, i) => {
    const g = b[i]!;
    for (let k = 0; k < f.length; k++) m = Math.max(m, Math.abs(f[k]! - g[k]!));
  });
  return m;
}

function stackPsnr(hr: FrameArray[], x: FrameArray[]): number {
  return hr.reduce((s, h, i) => {
    const { min, max } = minMax(h);
    return s + psnr(h, x[i]!, max - min);
  }, 0) / hr.length;
}

/** Runs `tiles` tiles in batches of `batch` straight through the session; returns the time inside session.run. */
async function pureSession(engine: RestoreEngine, tiles: number, batch: number, th: number, tw: number): Promise<number> {
  let seconds = 0;
  for (let done = 0; done < tiles; done += batch) {
    const b = Math.min(batch, tiles - done);
    const input = new Float32Array(b * engine.model.card.inputFrames * th * tw).fill(0.5);
    seconds += (await engine.runBatch(input, b, th, tw)).seconds;
  }
  return seconds;
}

// ---------- parts (each in its own process) ----------

async function partExample(): Promise<Json> {
  const model = await resolveModel(args.model!);
  const lr = await readStack(examplePath('em-lr.tif'));
  const hr = existsSync(examplePath('em-hr.tif')) ? await readStack(examplePath('em-hr.tif')) : null;
  const restoreWith = async (device: 'cpu' | 'cuda', precision: Precision) => {
    const engine = await RestoreEngine.load(model, { device, precision });
    const sink = new MemoryFrameSink(engine.outputInfo(lr.info));
    const t = await engine.restore(MemoryFrameSource.fromFrames(lr.info, lr.frames), sink);
    return { engine, frames: sink.frames, seconds: t.seconds };
  };
  const cpu = await restoreWith('cpu', 'fp32');
  const out: Json = { data: 'examples/em-lr.tif -> compared with examples/em-hr.tif', cpuFp32: { psnr: hr ? stackPsnr(hr.frames, cpu.frames) : null, seconds: cpu.seconds } };
  for (const precision of ['fp32', 'fp16'] as const) {
    if (precision === 'fp16' && !model.fp16Path) continue;
    try {
      const cuda = await restoreWith('cuda', precision);
      out[`cuda${precision === 'fp32' ? 'Fp32' : 'Fp16'}`] = {
        maxAbsDiffVsCpuFp32: maxAbsDiff(cpu.frames, cuda.frames),
        psnr: hr ? stackPsnr(hr.frames, cuda.frames) : null,
        seconds: cuda.seconds,
      };
    } catch (err) {
      out[`cuda${precision === 'fp32' ? 'Fp32' : 'Fp16'}`] = { error: (err as Error).message.split('\n')[0] };
    }
  }
  out.unit = `${lr.info.dtype} output levels`;
  return out;
}

async function partRestore(precision: Precision): Promise<Json> {
  const model = await resolveModel(args.model!);
  const engine = await RestoreEngine.load(model, { precision: precision === 'fp32' ? 'fp32' : 'auto' });
  if (precision === 'fp16' && engine.precision !== 'fp16') return { skipped: `fp16 runs only on CUDA (provider here: ${engine.provider})` };
  const input = args.input!;
  const probe = await openTiffStack(input);
  const info = probe.info;
  await probe.close();
  const tile = engine.tileSpec();
  const rect = planTiles(info.height, info.width, tile)[0]!;
  const tilesPerFrame = planTiles(info.height, info.width, tile).length;
  const engineBatch = engine.defaultBatchSize(rect.h, rect.w);
  // Warm-up: first-run allocations, cuDNN's algorithm search for the tile shape, graph optimisation.
  await pureSession(engine, 2 * engineBatch, engineBatch, rect.h, rect.w);

  const tileOutMp = (16 * rect.h * rect.w) / 1e6;
  const sweep: Json[] = [];
  const sizes = [...new Set([...args.batches!.split(',').map(Number).filter((b) => b >= 1), engineBatch])].sort((a, b) => a - b);
  for (const b of sizes) {
    try {
      await pureSession(engine, b, b, rect.h, rect.w); // new batch size: its own algorithm search
      const tiles = Math.max(b * 3, Math.min(b * 20, tilesPerFrame * info.frames));
      const { result: seconds, peakGpuMemoryMiB } = await withGpuMemory(() => pureSession(engine, tiles, b, rect.h, rect.w));
      sweep.push({ batch: b, tiles, seconds, tilesPerSecond: tiles / seconds, tileOutputMegapixelsPerSecond: (tiles * tileOutMp) / seconds, peakGpuMemoryMiB });
    } catch (err) {
      sweep.push({ batch: b, error: (err as Error).message.split('\n')[0] });
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'pssr-bench-gpu-out-'));
  try {
    const output = join(dir, 'out.tif');
    const reader = await openTiffStack(input);
    const sink = await createTiffStackWriter(output, engine.outputInfo(info), { overwrite: true });
    const { result: t, peakGpuMemoryMiB } = await withGpuMemory(() => engine.restore(reader, sink));
    await sink.commit();
    await reader.close();
    const pure = await pureSession(engine, t.tiles, t.batchSize, rect.h, rect.w);
    return {
      provider: engine.provider,
      precision: engine.precision,
      tile: { lr: rect.w, halo: tile.halo, tilesPerFrame },
      batch: t.batchSize,
      rawSessionSweep: sweep,
      endToEnd: {
        stack: `${info.frames} x ${info.width}x${info.height} ${info.dtype} TIFF -> ${4 * info.width}x${4 * info.height} TIFF`,
        seconds: t.seconds,
        outputMegapixelsPerSecond: t.megapixelsPerSecond,
        sessionSecondsInsideRestore: t.sessionSeconds,
        peakGpuMemoryMiB,
      },
      pureSession: { seconds: pure, outputMegapixelsPerSecond: t.outputMegapixels / pure, tiles: t.tiles, batch: t.batchSize },
      endToEndOverPureSession: pure / t.seconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function partOom(): Promise<Json> {
  const model = await resolveModel(args.model!);
  const engine = await RestoreEngine.load(model, { device: 'cuda' });
  // 48 tiles of 2048 LR px in one batch: 48-channel fp32 activations of 0.8 GB per tensor and tile, more than
  // an H200's 139 GB in all, while the batch's host output (13 GB) stays within one Float32Array.
  const edge = 2048;
  const requested = 48;
  const side = 2 * edge;
  const frames = Array.from({ length: 6 }, (_, k) => (allocFrame('uint16', side * side) as Uint16Array).map((_, i) => 1000 + ((i * 7 + k) % 3000)));
  const info: StackInfo = { frames: frames.length, height: side, width: side, dtype: 'uint16', axis: 'T' };
  const { result: t, peakGpuMemoryMiB } = await withGpuMemory(() => engine.restore(MemoryFrameSource.fromFrames(info, frames), new MemoryFrameSink(engine.outputInfo(info), () => {}), { batchSize: requested, tileSize: edge }));
  return { requestedBatch: Math.min(requested, t.tiles), batchAfterwards: t.batchSize, tiles: t.tiles, seconds: t.seconds, peakGpuMemoryMiB };
}

/** $PSSR_PYTHON (what `pssr train` uses), else the first python3 that has PyTorch. */
function python(): string {
  if (process.env.PSSR_PYTHON) return process.env.PSSR_PYTHON;
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return '/usr/bin/python3';
}

async function partTrain(device: 'cuda' | 'cpu', seconds: number): Promise<Json> {
  const dir = mkdtempSync(join(tmpdir(), 'pssr-bench-train-'));
  try {
    const config = { data: [examplePath('em-hr.tif')], modality: 'em', out: join(dir, 'model'), device, minutes: seconds / 60, validations: 1, valFraction: 0.34 };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const child = spawn(python(), ['-m', 'pssr_trainer', 'train', '--config', join(dir, 'config.json')], {
      cwd: ROOT,
      env: { ...process.env, PYTHONPATH: join(ROOT, 'packages/trainer') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Json);
    const error = events.find((e) => e.event === 'error');
    const progress = events.filter((e) => e.event === 'progress');
    if (code !== 0 || error || progress.length < 2) {
      return { device, error: String(error?.message ?? (stderr.trim().split('\n').pop() || `exit ${code}`)) };
    }
    const first = progress[0]!;
    const last = progress[progress.length - 1]!;
    const steps = Number(last.step) - Number(first.step);
    const elapsed = Number(last.elapsed) - Number(first.elapsed);
    const started = events.find((e) => e.event === 'start') ?? {};
    return { device, amp: device === 'cuda', python: python(), torch: started.torch ?? null, steps: Number(last.step), stepsPerSecond: steps / elapsed, measuredOverSeconds: elapsed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- orchestration ----------

function runPart(part: string, extra: string[] = [], timeoutSeconds = 1800): Json {
  const res = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, '--part', part, '--model', args.model!, '--batches', args.batches!, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutSeconds * 1000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = res.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Json;
  } catch {
    return { error: `part ${part} exited with ${res.status ?? res.signal}: ${line.slice(0, 300)}` };
  }
}

async function writeInput(path: string, frames: number, size: number): Promise<void> {
  const lr = await readStack(examplePath('em-lr.tif'));
  const sample = lr.frames[0]!;
  const side = lr.info.width;
  const sink = await createTiffStackWriter(path, { frames, height: size, width: size, dtype: 'uint16', axis: 'T' }, { overwrite: true });
  for (let k = 0; k < frames; k++) {
    const f = allocFrame('uint16', size * size) as Uint16Array;
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) f[y * size + x] = sample[((y + k) % side) * side + ((x + 3 * k) % side)]! * 200 + ((x * 7 + y * 13 + k) % 500);
    await sink.writeFrame(f);
  }
  await sink.commit();
}

async function main(): Promise<Json> {
  const part = args.part;
  if (part === 'example') return partExample();
  if (part === 'restore') return partRestore(args.precision as Precision);
  if (part === 'oom') return partOom();
  if (part === 'train-cuda') return partTrain('cuda', Number(args['train-seconds']));
  if (part === 'train-cpu') return partTrain('cpu', Number(args['cpu-train-seconds']));

  const model = await resolveModel(args.model!);
  const probe = await RestoreEngine.load(model, { device: 'auto' });
  const report: Json = {
    provider: probe.provider,
    cudaUnavailableReason: probe.cudaUnavailableReason,
    host: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, node: process.version, onnxruntime: `onnxruntime-node ${ONNXRUNTIME_VERSION}`, gpu: gpuInfo() },
    model: { name: model.name, dir: model.dir, fp16: model.fp16Path !== null, architecture: model.card.architecture },
  };
  report.example = runPart('example');
  const dir = mkdtempSync(join(tmpdir(), 'pssr-bench-gpu-'));
  try {
    const input = join(dir, 'in.tif');
    await writeInput(input, Math.max(1, Number(args.frames)), Math.max(64, Number(args.size)));
    report.restore = { fp32: runPart('restore', ['--input', input, '--precision', 'fp32']), fp16: runPart('restore', ['--input', input, '--precision', 'fp16']) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (args.oom) report.oom = probe.provider === 'cuda' ? runPart('oom', [], 240) : { skipped: 'CUDA did not load' };
  if (!args['skip-train']) {
    report.train = {
      cuda: probe.provider === 'cuda' ? runPart('train-cuda', ['--train-seconds', args['train-seconds']!]) : { skipped: 'CUDA did not load' },
      cpu: runPart('train-cpu', ['--cpu-train-seconds', args['cpu-train-seconds']!]),
    };
  }
  return report;
}

const report = await main();
const text = JSON.stringify(report, null, args.part ? 0 : 2);
if (args.out && !args.part) writeFileSync(resolve(args.out), `${text}\n`);
console.log(text);
process.exit(0);
