/**
 * Builds the test models with PyTorch (fixtures/make_model.py) into a temporary folder, optionally with
 * whole-frame PyTorch references for given inputs. Shared by the inference and CLI tests.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.PSSR_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./fixtures/make_model.py', import.meta.url));

export interface ReferenceRequest {
  kind: 'single' | 'multi';
  name: string;
  /** [F][h*w] input frames (F = 1 or 5). */
  frames: Float32Array[];
  height: number;
  width: number;
}

export interface Fixtures {
  dir: string;
  single: string;
  multi: string;
  /** PyTorch output (4h x 4w) for each reference request, by name. */
  references: Map<string, Float32Array>;
  cleanup(): void;
}

export function buildFixtures(requests: ReferenceRequest[] = []): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), 'pssr-models-'));
  const args = [SCRIPT, dir];
  for (const r of requests) {
    const all = new Float32Array(r.frames.length * r.height * r.width);
    r.frames.forEach((f, i) => all.set(f, i * r.height * r.width));
    writeFileSync(join(dir, `${r.name}.in.f32`), Buffer.from(all.buffer));
    args.push('--reference', r.kind, r.name, String(r.height), String(r.width));
  }
  execFileSync(PYTHON, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const references = new Map<string, Float32Array>();
  for (const r of requests) {
    const buf = readFileSync(join(dir, `${r.name}.out.f32`));
    references.set(r.name, new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice());
  }
  return { dir, single: join(dir, 'single'), multi: join(dir, 'multi'), references, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A copy of a model folder with its card edited (the ONNX file, and so the sha256, unchanged). */
export function withCard(modelDir: string, targetDir: string, edit: (card: Record<string, unknown>) => void): string {
  cpSync(modelDir, targetDir, { recursive: true });
  const path = join(targetDir, 'model.json');
  const card = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(card);
  writeFileSync(path, JSON.stringify(card, null, 2));
  return targetDir;
}

/** Deterministic pseudo-random numbers in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** A smooth-ish test image with structure at several scales, values in [0, 1]. */
export function testImage(height: number, width: number, seed: number): Float32Array {
  const rnd = lcg(seed);
  const out = new Float32Array(height * width);
  const a = rnd() * 6;
  const b = rnd() * 6;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      out[y * width + x] = 0.5 + 0.25 * Math.sin(x / 7 + a) * Math.cos(y / 11 + b) + 0.15 * (rnd() - 0.5) + 0.1 * Math.sin((x + y) / 3);
    }
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
