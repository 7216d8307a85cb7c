/**
 * Client of the Python trainer (packages/trainer/pssr_trainer): runs
 * `python3 -m pssr_trainer train --config <tmp.json>` as a subprocess and reads its JSON-lines protocol
 * (docs/CONTRACTS.md "Trainer subprocess protocol"). It never imports the trainer, onnxruntime or torch.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PssrError } from '@pssr/core';
import type { ModelCard } from '@pssr/core';

/** A data entry with options: a z range of its stacks, its HR pixel size, its share of the training tiles. */
export interface DataSource {
  path: string;
  /** First and last z slice (inclusive) of each stack: ZYX stacks give one 2D image per slice. */
  z?: [number, number];
  /** HR pixel size in nm (the card's inputPixelSizeRange is made from these and scaleRange). */
  pixelSize?: number;
  /** Share of the training tiles (sources without one share the rest by area). */
  weight?: number;
}

export interface TrainConfig {
  /** HR training images: TIFF files, folders of TIFFs, or glob patterns (or DataSource entries). */
  data: (string | DataSource)[];
  /** Held-out data the final metrics are measured on (default: valFraction of the training data). */
  valData?: (string | DataSource)[];
  /** Data that chooses the checkpoint, kept apart from valData so reported numbers did not choose it. */
  selectData?: (string | DataSource)[];
  modality: 'em' | 'fluo';
  frames: 1 | 5;
  /** Output folder: model.onnx, model.json, export-check.json, weights.pt. */
  out: string;
  minutes?: number;
  steps?: number;
  device?: 'auto' | 'cpu' | 'cuda';
  arch?: 'fast' | 'pssr';
  valFraction?: number;
  /** Model folder (or bundled model name) whose weights.pt to fine-tune from. */
  init?: string;
  seed?: number;
  name?: string;
  /** fast network size; with `init`, a larger width/depth grows the init network (same function at start). */
  width?: number;
  depth?: number;
  /** Decay of an exponential moving average of the weights, validated and exported instead (0 = off). */
  ema?: number;
  /** Sample training tiles at any of the 16 phases of the 4x grid instead of 4-aligned only. */
  phaseJitter?: boolean;
  /** Scale augmentation: HR resampled to [low, high] x its pixel size (low >= 1) before degradation. */
  scaleRange?: [number, number];
  /** Fraction of tiles the scale augmentation applies to (default 1). */
  scaleProb?: number;
  /** Gaussian noise sigma (0-255 scale) drawn uniformly per tile instead of the recipe's fixed one. */
  noiseSigma?: [number, number];
  /** Tile contrast x exp(U(-c, c)) and level shift U(-c/2, c/2) of the frame range. */
  contrastJitter?: number;
  /** Gamma exp(U(-g, g)) on the frame's percentile scale (default 0.3 for fluo, 0 for em). */
  gammaJitter?: number;
  [k: string]: unknown;
}

export type TrainEvent = { event: 'start' | 'progress' | 'validation' | 'done' | 'error'; [k: string]: unknown };

export interface RunTrainingOptions {
  onEvent?: (e: TrainEvent) => void;
  signal?: AbortSignal;
  /** Python interpreter (the caller's configuration, PSSR_PYTHON); default /usr/bin/python3. */
  python?: string;
}

/** The folder that must be on PYTHONPATH for `python3 -m pssr_trainer`. */
export function trainerPythonPath(): string {
  return fileURLToPath(new URL('..', import.meta.url));
}

export const DEFAULT_PYTHON = '/usr/bin/python3';

const EVENTS = new Set(['start', 'progress', 'validation', 'done', 'error']);
const STDERR_KEEP = 40;

export async function runTraining(config: TrainConfig, opts: RunTrainingOptions = {}): Promise<{ out: string; card: ModelCard }> {
  if (opts.signal?.aborted) throw new PssrError('CANCELED', 'training was canceled before it started');
  const dir = await mkdtemp(join(tmpdir(), 'pssr-train-'));
  const configPath = join(dir, 'config.json');
  try {
    await writeFile(configPath, JSON.stringify(config));
    return await runProcess(configPath, opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runProcess(configPath: string, opts: RunTrainingOptions): Promise<{ out: string; card: ModelCard }> {
  const python = opts.python ?? DEFAULT_PYTHON;
  const pythonPath = [trainerPythonPath(), process.env['PYTHONPATH']].filter(Boolean).join(delimiter);
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'pssr_trainer', 'train', '--config', configPath], {
      env: { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let done: { out: string; card: ModelCard } | null = null;
    let error: { code?: unknown; message?: unknown } | null = null;
    let canceled = false;
    let spawnError: Error | null = null;
    const stderrTail: string[] = [];
    let pending = '';
    let stderrPending = '';

    const handleLine = (line: string): void => {
      const text = line.trim();
      if (!text.startsWith('{')) return;
      let ev: unknown;
      try {
        ev = JSON.parse(text);
      } catch {
        return; // not protocol output
      }
      if (!isEvent(ev)) return;
      if (ev.event === 'done' && typeof ev['out'] === 'string' && typeof ev['card'] === 'object' && ev['card'] !== null) {
        done = { out: ev['out'], card: ev['card'] as ModelCard };
      } else if (ev.event === 'error') {
        error = { code: ev['code'], message: ev['message'] };
      }
      try {
        opts.onEvent?.(ev);
      } catch {
        // a failing listener must not break the protocol reader
      }
    };

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        handleLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderrPending += chunk;
      const lines = stderrPending.split('\n');
      stderrPending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) stderrTail.push(l);
      if (stderrTail.length > STDERR_KEEP) stderrTail.splice(0, stderrTail.length - STDERR_KEEP);
    });

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      canceled = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
      killTimer.unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (status) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (pending) handleLine(pending);
      if (canceled) return reject(new PssrError('CANCELED', 'training was canceled'));
      if (spawnError) {
        return reject(new PssrError('TRAIN_FAILED', `cannot start the trainer with ${python} (${spawnError.message}); set PSSR_PYTHON to a Python 3 with torch`, false, { cause: spawnError }));
      }
      const err = error as { code?: unknown; message?: unknown } | null;
      if (status === 0 && done) return resolve(done);
      const message = err && typeof err.message === 'string' ? err.message : lastLines(stderrTail) || `trainer exited with status ${status}`;
      if (status === 2) return reject(new PssrError('TRAIN_BAD_INPUT', message));
      return reject(new PssrError('TRAIN_FAILED', `training failed: ${message}`, false));
    });
  });
}

function isEvent(v: unknown): v is TrainEvent {
  return typeof v === 'object' && v !== null && EVENTS.has((v as { event?: unknown }).event as string);
}

function lastLines(lines: string[]): string {
  return lines.slice(-3).join(' | ');
}

/** One held-out validation series as `python3 -m pssr_trainer valset` writes it. */
export interface ValidationSeries {
  /** Path of the HR TIFF stack written. */
  path: string;
  /** The training input it came from, and which part of it (e.g. "frames 24..29"). */
  series: string;
  part: string;
  frames: number;
  height: number;
  width: number;
}

/**
 * Writes the validation series a training config holds out (the trainer's own split, data.split_data) as
 * HR TIFFs into `outDir`: what `pssr calibrate` degrades and restores. `config` is a config object or the
 * path of a config file; relative data paths resolve against `cwd` (default: this process's).
 */
export async function exportValidationSet(config: TrainConfig | string, outDir: string, opts: { python?: string; cwd?: string } = {}): Promise<ValidationSeries[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pssr-valset-'));
  try {
    let configPath = config as string;
    if (typeof config !== 'string') {
      configPath = join(dir, 'config.json');
      await writeFile(configPath, JSON.stringify(config));
    }
    const python = opts.python ?? DEFAULT_PYTHON;
    const pythonPath = [trainerPythonPath(), process.env['PYTHONPATH']].filter(Boolean).join(delimiter);
    await new Promise<void>((resolvePromise, reject) => {
      execFile(python, ['-m', 'pssr_trainer', 'valset', '--config', configPath, '--out', outDir], { env: { ...process.env, PYTHONPATH: pythonPath }, cwd: opts.cwd, maxBuffer: 16 * 2 ** 20 }, (err, stdout) => {
        if (!err) return resolvePromise();
        const line = stdout.split('\n').find((l) => l.includes('"event": "error"') || l.includes('"event":"error"'));
        const message = line ? String((JSON.parse(line) as { message?: unknown }).message) : err.message.split('\n')[0]!;
        reject(new PssrError((err as { code?: unknown }).code === 2 ? 'TRAIN_BAD_INPUT' : 'TRAIN_FAILED', `cannot list the validation data: ${message}`, false));
      });
    });
    const listing = JSON.parse(await readFile(join(outDir, 'valset.json'), 'utf8')) as { series: (Omit<ValidationSeries, 'path'> & { file: string })[] };
    return listing.series.map(({ file, ...s }) => ({ ...s, path: join(outDir, file) }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
