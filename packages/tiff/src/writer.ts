import { randomBytes } from 'node:crypto';
import { open, rename, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deflate as deflateCb } from 'node:zlib';
import { bytesPerSample, PssrError, type DType, type FrameArray, type FrameSink, type StackInfo } from '@pssr/core';
import { FieldType, Tag } from './structure.js';

const deflate = promisify(deflateCb);

export interface TiffWriterOptions {
  /** 'deflate': zlib, no predictor. Default 'none'. */
  compression?: 'none' | 'deflate' | undefined;
  /** 'auto' (default): BigTIFF when the projected file passes ~4 GB. */
  bigtiff?: 'auto' | 'always' | 'never' | undefined;
  overwrite?: boolean | undefined;
  /** Software tag; defaults to "PSSR". */
  software?: string | undefined;
}

/** How a stack will be laid out, computed from StackInfo alone before anything is written. */
export interface TiffWritePlan {
  bigtiff: boolean;
  /** Upper bound of the file size (compressed output is usually smaller). */
  projectedBytes: number;
  rowsPerStrip: number;
  stripsPerFrame: number;
  /**
   * 'contiguous' (uncompressed): every frame's pixels back to back, as ImageJ writes and reads a stack
   * (first IFD, pixel block, the other IFDs). 'per-page' (deflate): each page's strips then its IFD.
   */
  layout: 'contiguous' | 'per-page';
}

/** Classic TIFF offsets are 32-bit; switch to BigTIFF with a margin below 4 GiB. */
export const CLASSIC_TIFF_MAX_BYTES = 2 ** 32 - 2 ** 26;
const DEFLATE_STRIP_BYTES = 256 * 1024;
const RAW_STRIP_MAX_BYTES = 2 ** 31;
/** Room left in the first page's description for min=/max= lines filled in at commit(). */
const DESCRIPTION_RESERVE = 96;
const ENTRIES_PER_IFD = 17;

function fail(code: 'INVALID_ARGUMENT' | 'OUTPUT_EXISTS' | 'OUTPUT_NOT_WRITABLE', path: string, detail: string, userError = true): PssrError {
  return new PssrError(code, `${path}: ${detail}`, userError);
}

function validateInfo(path: string, info: StackInfo): void {
  const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  if (!positiveInt(info.frames) || !positiveInt(info.height) || !positiveInt(info.width)) {
    throw fail('INVALID_ARGUMENT', path, `cannot write a stack of ${info.frames} x ${info.height} x ${info.width}`, false);
  }
  if (!['uint8', 'uint16', 'float32'].includes(info.dtype)) throw fail('INVALID_ARGUMENT', path, `cannot write sample type ${String(info.dtype)}`, false);
  if (info.axis !== 'T' && info.axis !== 'Z') throw fail('INVALID_ARGUMENT', path, `frame axis must be T or Z, got ${String(info.axis)}`, false);
  const ps = info.pixelSize;
  if (ps && !(Number.isFinite(ps.x) && ps.x > 0 && Number.isFinite(ps.y) && ps.y > 0)) {
    throw fail('INVALID_ARGUMENT', path, `pixel size must be positive, got ${ps.x} x ${ps.y} ${ps.unit}`, false);
  }
}

export function planTiffWrite(info: StackInfo, opts: Pick<TiffWriterOptions, 'compression' | 'bigtiff'> = {}): TiffWritePlan {
  const compressed = opts.compression === 'deflate';
  const rowBytes = info.width * bytesPerSample(info.dtype);
  const stripBytes = compressed ? DEFLATE_STRIP_BYTES : RAW_STRIP_MAX_BYTES;
  const rowsPerStrip = Math.max(1, Math.min(info.height, Math.floor(stripBytes / rowBytes)));
  const stripsPerFrame = Math.ceil(info.height / rowsPerStrip);
  const frameBytes = rowBytes * info.height;
  // zlib's worst case grows incompressible data by ~0.03% plus a few bytes per stream.
  const frameBound = compressed ? Math.ceil(frameBytes * 1.001) + stripsPerFrame * 64 : frameBytes;
  const projected = (bigtiff: boolean): number => {
    const ifd = (bigtiff ? 16 : 6) + ENTRIES_PER_IFD * (bigtiff ? 20 : 12) + 2 * stripsPerFrame * (bigtiff ? 8 : 4) + 256;
    return (bigtiff ? 16 : 8) + 1024 + info.frames * (frameBound + ifd + 16);
  };
  const bigtiff = opts.bigtiff === 'always' || (opts.bigtiff !== 'never' && projected(false) > CLASSIC_TIFF_MAX_BYTES);
  return { bigtiff, projectedBytes: projected(bigtiff), rowsPerStrip, stripsPerFrame, layout: compressed ? 'per-page' : 'contiguous' };
}

/** Java-style escapes keep the ASCII tag ASCII (newlines kept); ImageJ decodes them (`unit=\u00B5m`). */
function asciiEscape(text: string): string {
  return text.replace(/[^\n\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** ImageJ hyperstack description so Fiji opens the file as a T or Z stack with the right calibration. */
export function imagejDescription(info: StackInfo, range?: { min: number; max: number }): string {
  const lines = ['ImageJ=1.11a', `images=${info.frames}`];
  if (info.frames > 1) {
    lines.push(info.axis === 'T' ? `frames=${info.frames}` : `slices=${info.frames}`);
    lines.push('hyperstack=true', 'mode=grayscale');
  }
  if (info.pixelSize) lines.push(`unit=${asciiEscape(info.pixelSize.unit)}`);
  if (info.frames > 1 && info.axis === 'T') lines.push('loop=false');
  if (range) lines.push(`min=${range.min}`, `max=${range.max}`);
  return `${lines.join('\n')}\n`;
}

/** A RATIONAL as close to `value` as 32-bit numerator and denominator allow. */
export function toRational(value: number): [number, number] {
  const max = 0xffffffff;
  const den = Math.max(1, Math.floor(Math.min(max, max / value)));
  const num = Math.round(value * den);
  return num === 0 ? [1, max] : [Math.min(num, max), den];
}

interface Entry {
  tag: number;
  type: number;
  /** Little-endian value bytes (without any reserve). */
  value: Buffer;
  count: number;
  /** Extra zero bytes kept after the value (so it can grow in place). */
  reserve?: number;
}

function shorts(tag: number, ...values: number[]): Entry {
  const value = Buffer.alloc(2 * values.length);
  values.forEach((v, i) => value.writeUInt16LE(v, 2 * i));
  return { tag, type: FieldType.SHORT, value, count: values.length };
}
function longs(tag: number, values: ArrayLike<number>, long8: boolean): Entry {
  const size = long8 ? 8 : 4;
  const value = Buffer.alloc(size * values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    if (long8) value.writeBigUInt64LE(BigInt(v), 8 * i);
    else value.writeUInt32LE(v, 4 * i);
  }
  return { tag, type: long8 ? FieldType.LONG8 : FieldType.LONG, value, count: values.length };
}
function rational(tag: number, v: number): Entry {
  const [num, den] = toRational(v);
  const value = Buffer.alloc(8);
  value.writeUInt32LE(num, 0);
  value.writeUInt32LE(den, 4);
  return { tag, type: FieldType.RATIONAL, value, count: 1 };
}
function ascii(tag: number, text: string, reserve = 0): Entry {
  const value = Buffer.from(`${asciiEscape(text)}\0`, 'latin1');
  return { tag, type: FieldType.ASCII, value, count: value.length, reserve };
}

interface EncodedIfd {
  bytes: Buffer;
  /** Absolute positions, for patching later. */
  nextPointerPos: number;
  countPos: Map<number, number>;
  valuePos: Map<number, number>;
}

/** Serialises an IFD (entries sorted by tag, as TIFF requires) followed by its out-of-line values. */
function encodeIfd(entries: Entry[], at: number, bigtiff: boolean): EncodedIfd {
  entries.sort((a, b) => a.tag - b.tag);
  const countSize = bigtiff ? 8 : 2;
  const entrySize = bigtiff ? 20 : 12;
  const inline = bigtiff ? 8 : 4;
  const align = bigtiff ? 8 : 2;
  const headerBytes = countSize + entries.length * entrySize + (bigtiff ? 8 : 4);
  let extra = headerBytes;
  const placed: number[] = [];
  for (const e of entries) {
    const len = e.value.length + (e.reserve ?? 0);
    if (len <= inline) {
      placed.push(-1);
    } else {
      extra = Math.ceil(extra / align) * align;
      placed.push(extra);
      extra += len;
    }
  }
  const bytes = Buffer.alloc(extra);
  if (bigtiff) bytes.writeBigUInt64LE(BigInt(entries.length), 0);
  else bytes.writeUInt16LE(entries.length, 0);
  const countPos = new Map<number, number>();
  const valuePos = new Map<number, number>();
  entries.forEach((e, i) => {
    const p = countSize + i * entrySize;
    bytes.writeUInt16LE(e.tag, p);
    bytes.writeUInt16LE(e.type, p + 2);
    if (bigtiff) bytes.writeBigUInt64LE(BigInt(e.count), p + 4);
    else bytes.writeUInt32LE(e.count, p + 4);
    countPos.set(e.tag, at + p + 4);
    const field = p + (bigtiff ? 12 : 8);
    const where = placed[i] ?? -1;
    if (where < 0) {
      e.value.copy(bytes, field);
      valuePos.set(e.tag, at + field);
    } else {
      if (bigtiff) bytes.writeBigUInt64LE(BigInt(at + where), field);
      else bytes.writeUInt32LE(at + where, field);
      e.value.copy(bytes, where);
      valuePos.set(e.tag, at + where);
    }
  });
  return { bytes, nextPointerPos: at + headerBytes - (bigtiff ? 8 : 4), countPos, valuePos };
}

async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let pos = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, pos);
    pos += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Opens a sink that writes `info.frames` pages, one per writeFrame, to `<path>.partial-<random>` and
 * renames it to `path` on commit(). Every check a user can fail (existing output, missing or read-only
 * folder, a disk too small for the uncompressed stack) happens here, before a long restore starts.
 */
export async function createTiffStackWriter(path: string, info: StackInfo, opts: TiffWriterOptions = {}): Promise<FrameSink> {
  validateInfo(path, info);
  const plan = planTiffWrite(info, opts);
  if (opts.bigtiff === 'never' && opts.compression !== 'deflate' && plan.projectedBytes > CLASSIC_TIFF_MAX_BYTES) {
    throw fail('INVALID_ARGUMENT', path, `the stack needs about ${(plan.projectedBytes / 2 ** 30).toFixed(1)} GiB, more than a classic TIFF holds (4 GiB); allow BigTIFF`);
  }
  const target = resolve(path);
  const folder = dirname(target);
  try {
    const existing = await stat(target);
    if (existing.isDirectory()) throw fail('OUTPUT_NOT_WRITABLE', path, 'is a folder; give a file name for the output');
    if (!opts.overwrite) throw fail('OUTPUT_EXISTS', path, 'already exists; choose another output name or allow overwriting (--force)');
  } catch (err) {
    if (err instanceof PssrError) throw err;
    if (errnoCode(err) === 'ENOTDIR') throw fail('OUTPUT_NOT_WRITABLE', path, `${folder} is not a folder`);
    if (errnoCode(err) !== 'ENOENT') throw fail('OUTPUT_NOT_WRITABLE', path, `cannot be checked (${errnoCode(err) ?? String(err)})`);
  }
  try {
    const dir = await stat(folder);
    if (!dir.isDirectory()) throw fail('OUTPUT_NOT_WRITABLE', path, `${folder} is not a folder`);
  } catch (err) {
    if (err instanceof PssrError) throw err;
    if (errnoCode(err) === 'ENOENT') throw fail('OUTPUT_NOT_WRITABLE', path, `the folder ${folder} does not exist`);
    throw fail('OUTPUT_NOT_WRITABLE', path, `the folder ${folder} cannot be used (${errnoCode(err) ?? String(err)})`);
  }
  const partial = `${target}.partial-${randomBytes(6).toString('hex')}`;
  let handle: FileHandle;
  try {
    handle = await open(partial, 'wx');
  } catch (err) {
    const code = errnoCode(err);
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (code ?? String(err));
    throw fail('OUTPUT_NOT_WRITABLE', path, `cannot create files in ${folder} (${why})`);
  }
  const writer = new TiffStackWriter(path, target, partial, handle, info, plan, opts);
  try {
    if (!plan.bigtiff && (writer.contiguous?.end ?? 0) > 0xffffffff) {
      throw fail('INVALID_ARGUMENT', path, 'the stack needs more than 4 GiB, the most a classic TIFF holds; allow BigTIFF');
    }
    if (opts.compression !== 'deflate') {
      const fs = await statfs(folder).catch(() => undefined);
      const free = fs ? fs.bavail * fs.bsize : Number.POSITIVE_INFINITY;
      if (free < plan.projectedBytes) {
        throw fail('OUTPUT_NOT_WRITABLE', path, `the stack needs ${(plan.projectedBytes / 2 ** 30).toFixed(2)} GiB but only ${(free / 2 ** 30).toFixed(2)} GiB are free in ${folder}`);
      }
    }
    await writer.writeHeader();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer;
}

/** Where the contiguous layout puts each frame's pixels and IFD; fixed before the first frame is written. */
interface ContiguousLayout {
  firstIfdPos: number;
  /** The pixel block: frame i's strips start at pixelStart + i * frameBytes. */
  pixelStart: number;
  frameBytes: number;
  /** The IFDs of frames 2..N, after the pixel block; all the same size (same tags, same value counts). */
  ifdStart: number;
  ifdStride: number;
  end: number;
}

class TiffStackWriter implements FrameSink {
  /** End of what is written so far (per-page layout). */
  private pos = 0;
  private framesWritten = 0;
  private state: 'open' | 'failed' | 'committed' | 'aborted' = 'open';
  private queue: Promise<void> = Promise.resolve();
  private prevNextPointerPos = 0;
  private description: { text: string; countPos: number; valuePos: number; capacity: number } | undefined;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private readonly bigtiff: boolean;
  private readonly compressed: boolean;
  private readonly software: string;
  readonly contiguous: ContiguousLayout | undefined;

  constructor(
    private readonly path: string,
    private readonly target: string,
    private readonly partial: string,
    private readonly handle: FileHandle,
    readonly info: StackInfo,
    private readonly plan: TiffWritePlan,
    private readonly opts: TiffWriterOptions,
  ) {
    this.bigtiff = plan.bigtiff;
    this.compressed = opts.compression === 'deflate';
    this.software = opts.software ?? 'PSSR';
    this.contiguous = plan.layout === 'contiguous' ? this.contiguousLayout() : undefined;
  }

  /** Sizes the IFDs from placeholder offsets: their length depends on the tags and counts, not the values. */
  private contiguousLayout(): ContiguousLayout {
    const { frames, width, height, dtype } = this.info;
    const zeros = new Array<number>(this.plan.stripsPerFrame).fill(0);
    const ifdBytes = (first: boolean): number => encodeIfd(this.pageEntries(zeros, zeros, first), 0, this.bigtiff).bytes.length;
    const firstIfdPos = this.bigtiff ? 16 : 8;
    const frameBytes = width * height * bytesPerSample(dtype);
    const pixelStart = this.align(firstIfdPos + ifdBytes(true), 16);
    const ifdStart = this.align(pixelStart + frames * frameBytes, 8);
    const ifdStride = this.align(ifdBytes(false), 8);
    return { firstIfdPos, pixelStart, frameBytes, ifdStart, ifdStride, end: ifdStart + (frames - 1) * ifdStride };
  }

  /** Where frame `framesWritten`'s strips and IFD go. */
  private place(stripBytes: number): { dataStart: number; ifdPos: number; room: number } {
    const c = this.contiguous;
    const i = this.framesWritten;
    if (c) {
      const dataStart = c.pixelStart + i * c.frameBytes;
      return i === 0 ? { dataStart, ifdPos: c.firstIfdPos, room: c.pixelStart - c.firstIfdPos } : { dataStart, ifdPos: c.ifdStart + (i - 1) * c.ifdStride, room: c.ifdStride };
    }
    const dataStart = this.align(this.pos, 8);
    return { dataStart, ifdPos: this.align(dataStart + stripBytes, this.bigtiff ? 8 : 2), room: Number.POSITIVE_INFINITY };
  }

  async writeHeader(): Promise<void> {
    const header = Buffer.alloc(this.bigtiff ? 16 : 8);
    header.write('II', 0, 'latin1');
    if (this.bigtiff) {
      header.writeUInt16LE(43, 2);
      header.writeUInt16LE(8, 4);
      header.writeUInt16LE(0, 6);
      this.prevNextPointerPos = 8;
    } else {
      header.writeUInt16LE(42, 2);
      this.prevNextPointerPos = 4;
    }
    // The first-IFD pointer stays 0 until the first page is complete.
    await writeAll(this.handle, [header], 0);
    this.pos = header.length;
  }

  writeFrame(data: FrameArray): Promise<void> {
    const run = this.queue.then(() => this.writeFrameNow(data));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async writeFrameNow(data: FrameArray): Promise<void> {
    if (this.state !== 'open') throw new PssrError('INTERNAL', `${this.path}: writeFrame after the writer was ${this.state}`, false);
    const { width, height, dtype, frames } = this.info;
    const expected = dtype === 'uint8' ? Uint8Array : dtype === 'uint16' ? Uint16Array : Float32Array;
    if (!(data instanceof expected) || data.length !== width * height) {
      throw fail('INVALID_ARGUMENT', this.path, `writeFrame expects a ${dtype} frame of ${width}x${height} values, got ${data.constructor.name} of ${data.length}`, false);
    }
    if (this.framesWritten >= frames) throw fail('INVALID_ARGUMENT', this.path, `all ${frames} frames are already written`, false);
    try {
      await this.appendPage(data, dtype);
    } catch (err) {
      this.state = 'failed';
      if (err instanceof PssrError) throw err;
      const code = errnoCode(err);
      const why = code === 'ENOSPC' ? 'no space left on the disk' : code === 'EDQUOT' ? 'disk quota exceeded' : (code ?? String(err));
      throw new PssrError('OUTPUT_NOT_WRITABLE', `${this.path}: writing frame ${this.framesWritten + 1} failed (${why})`, code === 'ENOSPC' || code === 'EDQUOT', { cause: err });
    }
  }

  private async appendPage(data: FrameArray, dtype: DType): Promise<void> {
    const { width, height } = this.info;
    const { rowsPerStrip, stripsPerFrame } = this.plan;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const rowBytes = width * bytesPerSample(dtype);
    let strips: Buffer[] = [];
    for (let s = 0; s < stripsPerFrame; s++) {
      strips.push(bytes.subarray(s * rowsPerStrip * rowBytes, Math.min(height, (s + 1) * rowsPerStrip) * rowBytes));
    }
    // zlib runs on the libuv thread pool, off the event loop.
    if (this.compressed) strips = await Promise.all(strips.map((strip) => deflate(strip)));

    const { dataStart, ifdPos, room } = this.place(strips.reduce((sum, strip) => sum + strip.length, 0));
    const offsets: number[] = [];
    const counts: number[] = [];
    let p = dataStart;
    for (const strip of strips) {
      offsets.push(p);
      counts.push(strip.length);
      p += strip.length;
    }
    const first = this.framesWritten === 0;
    const entries = this.pageEntries(offsets, counts, first);
    const ifd = encodeIfd(entries, ifdPos, this.bigtiff);
    if (ifd.bytes.length > room) throw new PssrError('INTERNAL', `${this.path}: IFD ${this.framesWritten + 1} outgrew its precomputed place`, false);
    const end = Math.max(this.pos, ifdPos + ifd.bytes.length);
    if (!this.bigtiff && end > 0xffffffff) {
      throw fail('INVALID_ARGUMENT', this.path, 'the output passed 4 GiB, the most a classic TIFF holds; allow BigTIFF (bigtiff auto or always)');
    }
    await writeAll(this.handle, strips, dataStart);
    await writeAll(this.handle, [ifd.bytes], ifdPos);
    // Link the chain only once the page is complete on disk.
    await writeAll(this.handle, [this.pointer(ifdPos)], this.prevNextPointerPos);
    this.prevNextPointerPos = ifd.nextPointerPos;
    this.pos = end;
    if (first) {
      const desc = entries.find((e) => e.tag === Tag.ImageDescription);
      const countPos = ifd.countPos.get(Tag.ImageDescription);
      const valuePos = ifd.valuePos.get(Tag.ImageDescription);
      if (desc && countPos !== undefined && valuePos !== undefined) {
        this.description = { text: desc.value.toString('latin1', 0, desc.value.length - 1), countPos, valuePos, capacity: desc.value.length + (desc.reserve ?? 0) };
      }
    }
    if (dtype === 'float32') this.updateRange(data as Float32Array);
    this.framesWritten++;
  }

  private pageEntries(offsets: number[], counts: number[], first: boolean): Entry[] {
    const { width, height, dtype, pixelSize } = this.info;
    const entries: Entry[] = [
      longs(Tag.NewSubfileType, [0], false),
      longs(Tag.ImageWidth, [width], false),
      longs(Tag.ImageLength, [height], false),
      shorts(Tag.BitsPerSample, bytesPerSample(dtype) * 8),
      shorts(Tag.Compression, this.compressed ? 8 : 1),
      shorts(Tag.Photometric, 1),
      longs(Tag.StripOffsets, offsets, this.bigtiff),
      shorts(Tag.SamplesPerPixel, 1),
      longs(Tag.RowsPerStrip, [this.plan.rowsPerStrip], false),
      longs(Tag.StripByteCounts, counts, this.bigtiff),
      shorts(Tag.PlanarConfiguration, 1),
      ascii(Tag.Software, this.software),
      shorts(Tag.SampleFormat, dtype === 'float32' ? 3 : 1),
    ];
    if (pixelSize) {
      // ImageJ convention: pixels per `unit` (named in the description), ResolutionUnit none.
      entries.push(rational(Tag.XResolution, 1 / pixelSize.x), rational(Tag.YResolution, 1 / pixelSize.y), shorts(Tag.ResolutionUnit, 1));
    }
    // ImageJ reads its metadata from the first page only.
    if (first) entries.push(ascii(Tag.ImageDescription, imagejDescription(this.info), dtype === 'float32' ? DESCRIPTION_RESERVE : 0));
    return entries;
  }

  private updateRange(data: Float32Array): void {
    let { min, max } = this;
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.min = min;
    this.max = max;
  }

  private align(n: number, to: number): number {
    return Math.ceil(n / to) * to;
  }

  private pointer(value: number): Buffer {
    const b = Buffer.alloc(this.bigtiff ? 8 : 4);
    if (this.bigtiff) b.writeBigUInt64LE(BigInt(value));
    else b.writeUInt32LE(value);
    return b;
  }

  async commit(): Promise<void> {
    await this.queue;
    if (this.state !== 'open') throw new PssrError('INTERNAL', `${this.path}: commit after the writer was ${this.state}`, false);
    if (this.framesWritten !== this.info.frames) {
      await this.abort();
      throw fail('INVALID_ARGUMENT', this.path, `only ${this.framesWritten} of ${this.info.frames} frames were written; nothing was saved`, false);
    }
    try {
      await this.finishDescription();
      await this.handle.datasync();
      await this.handle.close();
      if (!this.opts.overwrite && (await stat(this.target).then(() => true, () => false))) {
        throw fail('OUTPUT_EXISTS', this.path, 'appeared while the stack was being written; nothing was replaced');
      }
      await rename(this.partial, this.target);
      this.state = 'committed';
    } catch (err) {
      await this.abort();
      if (err instanceof PssrError) throw err;
      throw new PssrError('OUTPUT_NOT_WRITABLE', `${this.path}: could not be saved (${errnoCode(err) ?? String(err)})`, true, { cause: err });
    }
  }

  /** ImageJ shows float stacks with the display range in min=/max=; known only once every frame is written. */
  private async finishDescription(): Promise<void> {
    const desc = this.description;
    if (!desc || this.info.dtype !== 'float32' || !(this.min <= this.max)) return;
    const text = imagejDescription(this.info, { min: this.min, max: this.max });
    const value = Buffer.from(`${text}\0`, 'latin1');
    if (value.length > desc.capacity) return;
    const count = Buffer.alloc(this.bigtiff ? 8 : 4);
    if (this.bigtiff) count.writeBigUInt64LE(BigInt(value.length));
    else count.writeUInt32LE(value.length);
    await writeAll(this.handle, [value], desc.valuePos);
    await writeAll(this.handle, [count], desc.countPos);
  }

  async abort(): Promise<void> {
    if (this.state === 'committed' || this.state === 'aborted') return;
    this.state = 'aborted';
    await this.queue.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await unlink(this.partial).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
  }
}
