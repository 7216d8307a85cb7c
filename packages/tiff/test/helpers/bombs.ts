/** Decompression bombs: small TIFFs whose one strip decodes to far more than the page declares. */
import { createDeflate } from 'node:zlib';
import { craftTiff, grayPage } from './craft.js';

/** zlib data of `bytes` zero bytes, produced in 1 MiB steps (never holding the inflated size in memory). */
export async function zlibZeros(bytes: number): Promise<Buffer> {
  const z = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise<void>((resolve, reject) => {
    z.on('end', resolve);
    z.on('error', reject);
  });
  const mib = Buffer.alloc(2 ** 20);
  for (let left = bytes; left > 0; left -= mib.length) {
    if (!z.write(left >= mib.length ? mib : mib.subarray(0, left))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return Buffer.concat(parts);
}

/** A width x height uint8 page compressed with `compression` (8 deflate, 5 LZW) whose single strip is `strip`. */
export function compressedPage(width: number, height: number, compression: number, strip: Buffer): Buffer {
  const probe = craftTiff([grayPage(width, height, 8, 0)]);
  const page = grayPage(width, height, 8, probe.length);
  page.tags = page.tags.map(([tag, type, v]) => (tag === 259 ? [tag, type, [compression]] : tag === 279 ? [tag, type, [strip.length]] : [tag, type, v]));
  // The IFD size does not depend on the values, so the strip lands right after it.
  return craftTiff([page], { tail: strip });
}

/** TIFF LZW (MSB-first, early change) of `data`: helpers/tiffpy.py's encoder (libtiff's layout), for tests. */
export function lzwEncode(data: Uint8Array): Buffer {
  const out: number[] = [];
  let acc = 0;
  let nacc = 0;
  const emit = (code: number, width: number) => {
    acc = (acc << width) | code;
    nacc += width;
    while (nacc >= 8) {
      nacc -= 8;
      out.push((acc >>> nacc) & 0xff);
    }
    acc &= (1 << nacc) - 1;
  };
  const fresh = () => new Map<string, number>(Array.from({ length: 256 }, (_, i) => [String.fromCharCode(i), i]));
  let table = fresh();
  let next = 258;
  let width = 9;
  emit(256, width);
  if (data.length > 0) {
    let w = String.fromCharCode(data[0]!);
    for (let i = 1; i < data.length; i++) {
      const c = String.fromCharCode(data[i]!);
      const wc = w + c;
      if (table.has(wc)) {
        w = wc;
        continue;
      }
      emit(table.get(w)!, width);
      table.set(wc, next++);
      if (next >= 1 << width) width += 1;
      if (next >= 4000) {
        emit(256, width);
        table = fresh();
        next = 258;
        width = 9;
      }
      w = c;
    }
    emit(table.get(w)!, width);
    if (next + 1 >= 1 << width) width += 1;
  }
  emit(257, width);
  if (nacc > 0) out.push((acc << (8 - nacc)) & 0xff);
  return Buffer.from(out);
}
