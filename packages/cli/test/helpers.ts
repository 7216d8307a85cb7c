/** Running the real `pssr` command, and hand-built TIFF files (valid and broken) for its tests. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/pssr.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns `node packages/cli/bin/pssr.js ...args` (as `npx pssr` does) and collects its output. */
export function pssr(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; onSpawn?: (pid: number) => void } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? REPO, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}

// ---- minimal classic little-endian TIFF writer for crafted files ----

export interface Page {
  width: number;
  height: number;
  bitsPerSample?: number;
  /** 1 unsigned, 2 signed, 3 float, 6 complex float. */
  sampleFormat?: number;
  samplesPerPixel?: number;
  /** Pixel bytes; zero-filled if absent. */
  data?: Buffer;
  /** Declared size overrides (lie about the dimensions). */
  declareWidth?: number;
  declareHeight?: number;
}

/** A classic TIFF, one uncompressed strip per page; `loop` points the last IFD back at the first. */
export function tiff(pages: Page[], opts: { loop?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [];
  let pos = 8;
  const header = Buffer.alloc(8);
  header.write('II', 0, 'latin1');
  header.writeUInt16LE(42, 2);
  chunks.push(header);
  const ifdOffsets: number[] = [];
  const nextPointerAt: number[] = [];
  for (const page of pages) {
    const bits = page.bitsPerSample ?? 8;
    const spp = page.samplesPerPixel ?? 1;
    const bytes = page.data ?? Buffer.alloc(Math.ceil((page.width * page.height * spp * bits) / 8));
    const dataOffset = pos;
    chunks.push(bytes);
    pos += bytes.length;
    if (pos % 2) {
      chunks.push(Buffer.alloc(1));
      pos++;
    }
    const bitsValues = Array.from({ length: spp }, () => bits);
    const tags: [number, number, number[]][] = [
      [256, 4, [page.declareWidth ?? page.width]],
      [257, 4, [page.declareHeight ?? page.height]],
      [258, 3, bitsValues],
      [259, 3, [1]],
      [262, 3, [spp === 3 ? 2 : 1]],
      [273, 4, [dataOffset]],
      [277, 3, [spp]],
      [278, 4, [page.height]],
      [279, 4, [bytes.length]],
      [339, 3, Array.from({ length: spp }, () => page.sampleFormat ?? 1)],
    ];
    const ifdStart = pos;
    ifdOffsets.push(ifdStart);
    const ifdSize = 2 + tags.length * 12 + 4;
    let extraAt = ifdStart + ifdSize;
    const ifd = Buffer.alloc(ifdSize);
    const extras: Buffer[] = [];
    ifd.writeUInt16LE(tags.length, 0);
    tags.forEach(([tag, type, values], i) => {
      const o = 2 + i * 12;
      ifd.writeUInt16LE(tag, o);
      ifd.writeUInt16LE(type, o + 2);
      ifd.writeUInt32LE(values.length, o + 4);
      const size = type === 3 ? 2 : 4;
      const buf = Buffer.alloc(values.length * size);
      values.forEach((v, k) => (size === 2 ? buf.writeUInt16LE(v, k * 2) : buf.writeUInt32LE(v, k * 4)));
      if (buf.length <= 4) {
        buf.copy(ifd, o + 8);
      } else {
        ifd.writeUInt32LE(extraAt, o + 8);
        extras.push(buf);
        extraAt += buf.length;
      }
    });
    nextPointerAt.push(ifdStart + ifdSize - 4);
    chunks.push(ifd, ...extras);
    pos = extraAt;
  }
  const file = Buffer.concat(chunks);
  file.writeUInt32LE(ifdOffsets[0]!, 4);
  for (let p = 0; p < pages.length; p++) {
    const next = p + 1 < pages.length ? ifdOffsets[p + 1]! : opts.loop ? ifdOffsets[0]! : 0;
    file.writeUInt32LE(next, nextPointerAt[p]!);
  }
  return file;
}

/** A uint8 page from values. */
export function u8Page(width: number, height: number, value: (x: number, y: number) => number): Page {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = Math.max(0, Math.min(255, Math.round(value(x, y))));
  return { width, height, data };
}
