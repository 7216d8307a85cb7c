/**
 * Hand-built TIFF files for cases no writer produces on purpose (absurd dimensions, broken chains),
 * in either byte order, classic or BigTIFF. One IFD per page, values out of line after each IFD.
 */
export interface CraftPage {
  /** [tag, field type, values] with field type 3 SHORT, 4 LONG, 16 LONG8, 2 ASCII (values = string). */
  tags: Array<[number, number, number[] | string]>;
}

const SIZE: Record<number, number> = { 2: 1, 3: 2, 4: 4, 5: 8, 16: 8 };

export function craftTiff(pages: CraftPage[], opts: { littleEndian?: boolean; bigtiff?: boolean; tail?: Buffer } = {}): Buffer {
  const le = opts.littleEndian ?? true;
  const big = opts.bigtiff ?? false;
  const chunks: Buffer[] = [];
  let pos = 0;
  const push = (b: Buffer): void => {
    chunks.push(b);
    pos += b.length;
  };
  const uint = (v: number, bytes: number): Buffer => {
    const b = Buffer.alloc(bytes);
    if (bytes === 2) le ? b.writeUInt16LE(v) : b.writeUInt16BE(v);
    else if (bytes === 4) le ? b.writeUInt32LE(v) : b.writeUInt32BE(v);
    else le ? b.writeBigUInt64LE(BigInt(v)) : b.writeBigUInt64BE(BigInt(v));
    return b;
  };
  const header = Buffer.concat([Buffer.from(le ? 'II' : 'MM', 'latin1'), uint(big ? 43 : 42, 2), ...(big ? [uint(8, 2), uint(0, 2), uint(big ? 16 : 8, 8)] : [uint(8, 4)])]);
  push(header);
  pages.forEach((page, p) => {
    const ifdStart = pos;
    const n = page.tags.length;
    const entrySize = big ? 20 : 12;
    const ifdBytes = (big ? 8 : 2) + n * entrySize + (big ? 8 : 4);
    let valuesAt = ifdStart + ifdBytes;
    const entries: Buffer[] = [];
    const values: Buffer[] = [];
    for (const [tag, type, raw] of [...page.tags].sort((a, b) => a[0] - b[0])) {
      const value =
        typeof raw === 'string'
          ? Buffer.from(`${raw}\0`, 'latin1')
          : Buffer.concat(raw.map((v) => uint(v, SIZE[type] ?? 4)));
      const count = typeof raw === 'string' ? value.length : raw.length;
      const inline = big ? 8 : 4;
      let field: Buffer;
      if (value.length <= inline) {
        field = Buffer.concat([value, Buffer.alloc(inline - value.length)]);
      } else {
        field = uint(valuesAt, inline);
        values.push(value);
        valuesAt += value.length;
      }
      entries.push(Buffer.concat([uint(tag, 2), uint(type, 2), uint(count, big ? 8 : 4), field]));
    }
    const last = p === pages.length - 1;
    const next = last ? 0 : valuesAt;
    push(Buffer.concat([uint(n, big ? 8 : 2), ...entries, uint(next, big ? 8 : 4), ...values]));
  });
  if (opts.tail) push(opts.tail);
  return Buffer.concat(chunks);
}

/** Tags of a grayscale page whose single strip starts at `dataOffset`. */
export function grayPage(width: number, height: number, bits: number, dataOffset: number, sampleFormat = 1): CraftPage {
  return {
    tags: [
      [256, 4, [width]],
      [257, 4, [height]],
      [258, 3, [bits]],
      [259, 3, [1]],
      [262, 3, [1]],
      [273, 4, [dataOffset]],
      [277, 3, [1]],
      [278, 4, [height]],
      [279, 4, [(width * height * bits) / 8]],
      [339, 3, [sampleFormat]],
    ],
  };
}
