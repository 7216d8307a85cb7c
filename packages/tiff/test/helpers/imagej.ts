import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real ImageJ 1.x (Debian's `imagej` package, installed by scripts/setup.sh) as the reference for "opens in
 * Fiji": ImageJRead.java calls IJ.openImage, the opener behind File > Open for a .tif, headless.
 */
const IJ_JAR = process.env.IJ_JAR ?? '/usr/share/java/ij.jar';
const SOURCE = fileURLToPath(new URL('./ImageJRead.java', import.meta.url));

export interface ImageJView {
  path: string;
  error?: string;
  version: string;
  width: number;
  height: number;
  bitDepth: number;
  stackSize: number;
  nChannels: number;
  nSlices: number;
  nFrames: number;
  hyperstack: boolean;
  pixelWidth: number;
  pixelHeight: number;
  unit: string;
  displayMin: number | null;
  displayMax: number | null;
  /** Every slice's pixels, base64 little-endian. */
  slices: string[];
}

/** Opens every file in one JVM (java's single-file source launcher compiles ImageJRead.java in memory). */
export function imagejOpen(paths: string[]): ImageJView[] {
  if (!existsSync(IJ_JAR)) throw new Error(`ImageJ is not installed (${IJ_JAR} is missing); run scripts/setup.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'pssr-imagej-'));
  try {
    const out = join(dir, 'views.json');
    const res = spawnSync('java', ['-Djava.awt.headless=true', '-cp', IJ_JAR, SOURCE, out, ...paths], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (res.error) throw new Error(`could not start java: ${res.error.message}; run scripts/setup.sh`);
    if (res.status !== 0 || !existsSync(out)) throw new Error(`ImageJRead failed (${res.status}): ${res.stderr}${res.stdout}`);
    return JSON.parse(readFileSync(out, 'utf8')) as ImageJView[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
