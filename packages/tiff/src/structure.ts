import { PssrError, type ErrorCode } from '@pssr/core';
import type { ByteSource } from './bytesource.js';

/**
 * The TIFF container itself: header and image file directories (IFDs), classic and BigTIFF, both byte
 * orders. Walked by hand, before geotiff sees the file, so that a broken or hostile file is refused with a
 * precise error and nothing large is allocated (geotiff trusts what the file declares).
 */

export const Tag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  ImageDescription: 270,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  XResolution: 282,
  YResolution: 283,
  PlanarConfiguration: 284,
  ResolutionUnit: 296,
  Software: 305,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SampleFormat: 339,
} as const;

export const FieldType = {
  BYTE: 1,
  ASCII: 2,
  SHORT: 3,
  LONG: 4,
  RATIONAL: 5,
  SBYTE: 6,
  UNDEFINED: 7,
  SSHORT: 8,
  SLONG: 9,
  SRATIONAL: 10,
  FLOAT: 11,
  DOUBLE: 12,
  IFD: 13,
  LONG8: 16,
  SLONG8: 17,
  IFD8: 18,
} as const;

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/** Largest out-of-line tag value we agree to read (descriptions, offset tables): bounds memory on garbage counts. */
const MAX_TAG_BYTES = 256 * 1024 * 1024;

export function tiffError(code: ErrorCode, path: string, detail: string): PssrError {
  return new PssrError(code, `${path}: ${detail}`);
}

export interface TiffHeader {
  littleEndian: boolean;
  bigtiff: boolean;
  firstIfd: number;
}

export interface IfdEntry {
  tag: number;
  type: number;
  count: number;
  /** Absolute file position of the value bytes (inside the entry when they fit there). */
  valuePos: number;
}

export interface Ifd {
  offset: number;
  entries: Map<number, IfdEntry>;
  /** Offset of the next IFD, 0 at the end of the chain. */
  next: number;
}

/** True when the first bytes carry a TIFF or BigTIFF signature (either byte order). */
export function hasTiffSignature(head: Buffer): boolean {
  if (head.length < 4) return false;
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return false;
  const magic = order === 'II' ? head.readUInt16LE(2) : head.readUInt16BE(2);
  return magic === 42 || magic === 43;
}

export class TiffStructure {
  private constructor(
    readonly src: ByteSource,
    readonly header: TiffHeader,
  ) {}

  get path(): string {
    return this.src.path;
  }

  /** Parses the header; the caller has already checked the signature (hasTiffSignature). */
  static async open(src: ByteSource): Promise<TiffStructure> {
    const path = src.path;
    const head = await src.read(0, Math.min(src.size, 16));
    const littleEndian = head.toString('latin1', 0, 2) === 'II';
    const magic = littleEndian ? head.readUInt16LE(2) : head.readUInt16BE(2);
    const bigtiff = magic === 43;
    const headerSize = bigtiff ? 16 : 8;
    if (src.size < headerSize) {
      throw tiffError('TIFF_TRUNCATED', path, `the file ends after ${src.size} bytes, inside the ${bigtiff ? 'BigTIFF' : 'TIFF'} header`);
    }
    let firstIfd: number;
    if (bigtiff) {
      const offsetSize = littleEndian ? head.readUInt16LE(4) : head.readUInt16BE(4);
      if (offsetSize !== 8) throw tiffError('TIFF_CORRUPT', path, `BigTIFF header declares ${offsetSize}-byte offsets; only 8 is valid`);
      firstIfd = Number(littleEndian ? head.readBigUInt64LE(8) : head.readBigUInt64BE(8));
    } else {
      firstIfd = littleEndian ? head.readUInt32LE(4) : head.readUInt32BE(4);
    }
    if (firstIfd === 0) throw tiffError('TIFF_CORRUPT', path, 'the TIFF header points to no image (first IFD offset is 0)');
    return new TiffStructure(src, { littleEndian, bigtiff, firstIfd });
  }

  private u16(buf: Buffer, at: number): number {
    return this.header.littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
  }
  private u32(buf: Buffer, at: number): number {
    return this.header.littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  }
  private u64(buf: Buffer, at: number): number {
    return Number(this.header.littleEndian ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at));
  }

  /** Reads the IFD at `offset`; `index` (0-based page number) is only for messages. */
  async readIfd(offset: number, index: number): Promise<Ifd> {
    const { bigtiff } = this.header;
    const size = this.src.size;
    const countSize = bigtiff ? 8 : 2;
    const entrySize = bigtiff ? 20 : 12;
    const pointerSize = bigtiff ? 8 : 4;
    const where = `IFD ${index + 1} at byte ${offset}`;
    if (offset + countSize > size) {
      throw tiffError('TIFF_TRUNCATED', this.path, `${where} lies past the end of the file (${size} bytes): the file is truncated`);
    }
    const countBuf = await this.src.read(offset, countSize);
    const n = bigtiff ? this.u64(countBuf, 0) : this.u16(countBuf, 0);
    if (n === 0) throw tiffError('TIFF_CORRUPT', this.path, `${where} has no entries`);
    const total = countSize + n * entrySize + pointerSize;
    if (offset + total > size) {
      throw tiffError('TIFF_TRUNCATED', this.path, `${where} (${n} entries) extends past the end of the file (${size} bytes): the file is truncated`);
    }
    const buf = await this.src.read(offset, total);
    const entries = new Map<number, IfdEntry>();
    const inlineSize = bigtiff ? 8 : 4;
    for (let e = 0; e < n; e++) {
      const at = countSize + e * entrySize;
      const tag = this.u16(buf, at);
      const type = this.u16(buf, at + 2);
      const count = bigtiff ? this.u64(buf, at + 4) : this.u32(buf, at + 4);
      const valueField = at + (bigtiff ? 12 : 8);
      const typeSize = TYPE_SIZE[type] ?? 0;
      const bytes = typeSize * count;
      const valuePos = bytes <= inlineSize ? offset + valueField : bigtiff ? this.u64(buf, valueField) : this.u32(buf, valueField);
      // The first occurrence wins when a (broken) writer repeats a tag.
      if (!entries.has(tag)) entries.set(tag, { tag, type, count, valuePos });
    }
    const nextAt = countSize + n * entrySize;
    const next = bigtiff ? this.u64(buf, nextAt) : this.u32(buf, nextAt);
    return { offset, entries, next };
  }

  private async valueBytes(entry: IfdEntry, what: string): Promise<Buffer> {
    const typeSize = TYPE_SIZE[entry.type];
    if (typeSize === undefined) throw tiffError('TIFF_CORRUPT', this.path, `tag ${what} has unknown field type ${entry.type}`);
    const bytes = typeSize * entry.count;
    if (bytes > MAX_TAG_BYTES) throw tiffError('TIFF_CORRUPT', this.path, `tag ${what} declares ${entry.count} values (${bytes} bytes), which is implausible`);
    if (entry.valuePos + bytes > this.src.size) {
      throw tiffError('TIFF_TRUNCATED', this.path, `the values of tag ${what} (bytes ${entry.valuePos}..${entry.valuePos + bytes}) lie past the end of the file (${this.src.size} bytes): the file is truncated`);
    }
    return bytes > 1024 * 1024 ? this.src.readDirect(entry.valuePos, bytes) : this.src.read(entry.valuePos, bytes);
  }

  /** Integer or real values of a tag (rationals as num/den). */
  async numbers(entry: IfdEntry, what: string): Promise<number[]> {
    const buf = await this.valueBytes(entry, what);
    const le = this.header.littleEndian;
    const out = new Array<number>(entry.count);
    for (let i = 0; i < entry.count; i++) {
      switch (entry.type) {
        case FieldType.BYTE:
        case FieldType.UNDEFINED:
          out[i] = buf.readUInt8(i);
          break;
        case FieldType.SBYTE:
          out[i] = buf.readInt8(i);
          break;
        case FieldType.SHORT:
          out[i] = le ? buf.readUInt16LE(2 * i) : buf.readUInt16BE(2 * i);
          break;
        case FieldType.SSHORT:
          out[i] = le ? buf.readInt16LE(2 * i) : buf.readInt16BE(2 * i);
          break;
        case FieldType.LONG:
        case FieldType.IFD:
          out[i] = le ? buf.readUInt32LE(4 * i) : buf.readUInt32BE(4 * i);
          break;
        case FieldType.SLONG:
          out[i] = le ? buf.readInt32LE(4 * i) : buf.readInt32BE(4 * i);
          break;
        case FieldType.LONG8:
        case FieldType.IFD8:
          out[i] = Number(le ? buf.readBigUInt64LE(8 * i) : buf.readBigUInt64BE(8 * i));
          break;
        case FieldType.SLONG8:
          out[i] = Number(le ? buf.readBigInt64LE(8 * i) : buf.readBigInt64BE(8 * i));
          break;
        case FieldType.FLOAT:
          out[i] = le ? buf.readFloatLE(4 * i) : buf.readFloatBE(4 * i);
          break;
        case FieldType.DOUBLE:
          out[i] = le ? buf.readDoubleLE(8 * i) : buf.readDoubleBE(8 * i);
          break;
        case FieldType.RATIONAL: {
          const num = le ? buf.readUInt32LE(8 * i) : buf.readUInt32BE(8 * i);
          const den = le ? buf.readUInt32LE(8 * i + 4) : buf.readUInt32BE(8 * i + 4);
          out[i] = den === 0 ? Number.NaN : num / den;
          break;
        }
        case FieldType.SRATIONAL: {
          const num = le ? buf.readInt32LE(8 * i) : buf.readInt32BE(8 * i);
          const den = le ? buf.readInt32LE(8 * i + 4) : buf.readInt32BE(8 * i + 4);
          out[i] = den === 0 ? Number.NaN : num / den;
          break;
        }
        default:
          throw tiffError('TIFF_CORRUPT', this.path, `tag ${what} has field type ${entry.type}, expected a number`);
      }
    }
    return out;
  }

  /** ASCII (or byte) tag as a string, cut at the first NUL; at most `maxBytes` are read. */
  async text(entry: IfdEntry, what: string, maxBytes = 1024 * 1024): Promise<string> {
    const limited: IfdEntry = { ...entry, count: Math.min(entry.count, maxBytes) };
    const buf = await this.valueBytes(limited, what);
    const nul = buf.indexOf(0);
    // latin1 keeps every byte; UTF-8 is decoded where valid (OME-XML declares UTF-8, ImageJ escapes non-ASCII).
    const raw = nul >= 0 ? buf.subarray(0, nul) : buf;
    const utf8 = raw.toString('utf8');
    return utf8.includes('\uFFFD') ? raw.toString('latin1') : utf8;
  }
}
