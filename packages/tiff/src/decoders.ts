/**
 * Strip/tile decoders with an output bound. geotiff's own deflate (pako) and LZW decoders inflate whatever a
 * chunk holds, so a 510 KB deflate strip declared as a small image could inflate to 512 MB before anything
 * checks its size. A chunk can never legitimately decode to more than its declared size (tile or strip
 * width x height x bytes per pixel), so these stop at that size and fail with ChunkOverflowError instead.
 * Registered with geotiff's `addDecoder` for deflate (8, 32946) and LZW (5) when this module loads.
 */
import { inflateSync } from 'node:zlib';
import { addDecoder, BaseDecoder } from 'geotiff';

/** A chunk decodes to more bytes than its declared size (a decompression bomb, or a corrupt stream). */
export class ChunkOverflowError extends Error {
  override readonly name = 'ChunkOverflowError';
  constructor(readonly limit: number) {
    super(`a strip or tile decodes to more than its declared ${limit} bytes`);
  }
}

interface DecoderParameters {
  tileWidth: number;
  tileHeight: number;
  planarConfiguration: number;
  bitsPerSample: number | ArrayLike<number>;
}

/** The decoded size of one full chunk, as the page declares it (the last strip may be shorter). */
export function declaredChunkBytes(p: DecoderParameters): number {
  const bits = typeof p.bitsPerSample === 'number' ? [p.bitsPerSample] : Array.from(p.bitsPerSample);
  const bitsPerPixel = p.planarConfiguration === 2 ? (bits[0] ?? 8) : bits.reduce((a, b) => a + b, 0);
  return Math.ceil((p.tileWidth * bitsPerPixel) / 8) * p.tileHeight;
}

class BoundedDeflateDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
    const limit = declaredChunkBytes(this.parameters as DecoderParameters);
    try {
      const out = inflateSync(new Uint8Array(buffer), { maxOutputLength: Math.max(1, limit) });
      return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ChunkOverflowError(limit);
      throw err;
    }
  }
}

class BoundedLzwDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
    const out = lzwDecode(new Uint8Array(buffer), declaredChunkBytes(this.parameters as DecoderParameters));
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  }
}

const CLEAR = 256;
const EOI = 257;
const NONE = 4096;

/**
 * TIFF LZW (MSB-first codes of 9..12 bits, "early change"), as geotiff decodes it, into at most `maxOutput`
 * bytes. Written out because geotiff's decoder collects every byte in an unbounded JS array.
 */
export function lzwDecode(input: Uint8Array, maxOutput: number): Uint8Array {
  const prefix = new Uint16Array(4096);
  const suffix = new Uint8Array(4096);
  const length = new Uint16Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = NONE;
    suffix[i] = i;
    length[i] = 1;
  }
  const out = new Uint8Array(maxOutput);
  const totalBits = input.length * 8;
  let bitPos = 0;
  let width = 9;
  let next = 258;
  let n = 0;
  let old = -1;

  const read = (): number => {
    if (bitPos + width > totalBits) return EOI; // ran off the end: what there is, is the data
    const byte = bitPos >> 3;
    const word = ((input[byte] ?? 0) << 16) | ((input[byte + 1] ?? 0) << 8) | (input[byte + 2] ?? 0);
    const code = (word >>> (24 - (bitPos & 7) - width)) & ((1 << width) - 1);
    bitPos += width;
    return code;
  };
  /** Writes the string of `code`; returns its first byte. */
  const emit = (code: number): number => {
    const len = length[code]!;
    if (n + len > maxOutput) throw new ChunkOverflowError(maxOutput);
    let c = code;
    for (let i = n + len - 1; i >= n; i--) {
      out[i] = suffix[c]!;
      c = prefix[c]!;
    }
    n += len;
    return out[n - len]!;
  };
  const add = (from: number, first: number): void => {
    if (next >= 4096) return;
    prefix[next] = from;
    suffix[next] = first;
    length[next] = length[from]! + 1;
    next += 1;
  };

  for (let code = read(); code !== EOI; code = read()) {
    if (code === CLEAR) {
      next = 258;
      width = 9;
      do code = read();
      while (code === CLEAR);
      if (code === EOI) break;
      if (code > CLEAR) throw new Error(`corrupt LZW data: code ${code} after a clear code`);
      emit(code);
      old = code;
    } else if (code < next) {
      const first = emit(code);
      if (old >= 0) add(old, first);
      old = code;
    } else {
      if (old < 0) throw new Error(`corrupt LZW data: code ${code} with no previous code`);
      const first = emit(old);
      if (n + 1 > maxOutput) throw new ChunkOverflowError(maxOutput);
      out[n++] = first;
      add(old, first);
      old = code;
    }
    if (next + 1 >= 1 << width) {
      // At 12 bits the table is full: no more entries until a clear code (as geotiff and libtiff read it).
      if (width === 12) old = -1;
      else width += 1;
    }
  }
  return out.subarray(0, n);
}

addDecoder([8, 32946], async () => BoundedDeflateDecoder);
addDecoder(5, async () => BoundedLzwDecoder);
