import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isPssrError } from '@pssr/core';
import { DEFAULT_TIFF_LIMITS, inspectTiff, openTiffStack, type TiffLimits } from '@pssr/tiff';
import { craftTiff, grayPage } from './helpers/craft.js';
import { pyWrite, tempDir } from './helpers/python.js';

/** inspectTiff and openTiffStack both refuse with `code`; the message names the file and is 1-3 lines. */
async function refuses(path: string, code: string, opts: { limits?: Partial<TiffLimits>; channel?: number } = {}, pattern?: RegExp): Promise<string> {
  let message = '';
  for (const attempt of [() => inspectTiff(path, opts), () => openTiffStack(path, opts)]) {
    await assert.rejects(attempt(), (err: unknown) => {
      assert.ok(isPssrError(err), `expected PssrError ${code}, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.ok(err.message.includes(path), `message names the file: ${err.message}`);
      const lines = err.message.split('\n').length;
      assert.ok(lines >= 1 && lines <= 3, `1-3 lines: ${err.message}`);
      if (pattern) assert.match(err.message, pattern);
      message = err.message;
      if (process.env.SHOW_MESSAGES) console.log(`[${err.code}] ${err.message}`);
      return true;
    });
  }
  return message;
}

/** Offsets of each IFD of a little-endian classic TIFF, in chain order. */
function classicIfds(buf: Buffer): number[] {
  const out: number[] = [];
  for (let off = buf.readUInt32LE(4); off !== 0 && out.length < 100; off = buf.readUInt32LE(off + 2 + buf.readUInt16LE(off) * 12)) out.push(off);
  return out;
}
function nextPointerPos(buf: Buffer, ifd: number): number {
  return ifd + 2 + buf.readUInt16LE(ifd) * 12;
}

describe('bad input is refused with a stable code before anything large is allocated', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);
  const p = (name: string): string => join(dir, name);

  before(() => {
    pyWrite([
      { path: p('four.tif'), shape: [4, 32, 40], dtype: 'uint16', kwargs: { photometric: 'minisblack' } },
      { path: p('complex.tif'), shape: [8, 8], dtype: 'complex64' },
      { path: p('bilevel.tif'), shape: [8, 16], dtype: 'bool' },
      { path: p('int16.tif'), shape: [8, 8], dtype: 'int16' },
      { path: p('float64.tif'), shape: [8, 8], dtype: 'float64' },
      { path: p('uint32.tif'), shape: [8, 8], dtype: 'uint32' },
      { path: p('palette.tif'), shape: [8, 8], dtype: 'uint8', kwargs: { photometric: 'palette', colormap: Array.from({ length: 3 }, () => Array.from({ length: 256 }, (_, i) => i * 256)) } },
      { path: p('lzma.tif'), shape: [8, 8], dtype: 'uint8', kwargs: { compression: 'lzma' } },
      { path: p('sizes.tif'), shape: [2, 16, 16], dtype: 'uint8', append: [{ shape: [16, 20], dtype: 'uint8' }] },
      { path: p('dtypes.tif'), shape: [2, 16, 16], dtype: 'uint8', append: [{ shape: [16, 16], dtype: 'uint16' }] },
      { path: p('4d.tif'), shape: [2, 3, 8, 8], dtype: 'uint8', kwargs: { imagej: true, metadata: { axes: 'TZYX' } } },
      { path: p('deflate.tif'), shape: [2, 64, 64], dtype: 'uint16', kwargs: { compression: 'zlib' } },
    ]);
  });

  it('missing file: INPUT_NOT_FOUND', async () => {
    await refuses(p('nope.tif'), 'INPUT_NOT_FOUND');
    await refuses(join(p('four.tif'), 'below-a-file.tif'), 'INPUT_NOT_FOUND');
  });

  it('a folder: INPUT_UNREADABLE', async () => {
    mkdirSync(p('folder.tif'));
    await refuses(p('folder.tif'), 'INPUT_UNREADABLE', {}, /folder/);
  });

  it('empty file: INPUT_EMPTY', async () => {
    writeFileSync(p('empty.tif'), '');
    await refuses(p('empty.tif'), 'INPUT_EMPTY');
  });

  it('random bytes, a PNG, a JPEG and a text file named .tif: NOT_A_TIFF saying what they are', async () => {
    writeFileSync(p('random.tif'), Buffer.from([0x13, 0x37, 0xc0, 0xde, 0x00, 0xff, 0x42, 0x99, 0x01, 0x02]));
    await refuses(p('random.tif'), 'NOT_A_TIFF', {}, /starts with bytes 13 37 c0 de/);
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(40)]);
    writeFileSync(p('image.png.tif'), png);
    await refuses(p('image.png.tif'), 'NOT_A_TIFF', {}, /is a PNG image, not a TIFF/);
    writeFileSync(p('photo.tif'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(40)]));
    await refuses(p('photo.tif'), 'NOT_A_TIFF', {}, /JPEG image/);
    writeFileSync(p('notes.tif'), 'frame,intensity\n1,2\n');
    await refuses(p('notes.tif'), 'NOT_A_TIFF', {}, /text file starting with "frame,intensity"/);
  });

  it('truncated files: TIFF_TRUNCATED (pixel data, IFD and header past the end)', async () => {
    const whole = readFileSync(p('four.tif'));
    writeFileSync(p('cut.tif'), whole.subarray(0, Math.floor(whole.length * 0.6)));
    await refuses(p('cut.tif'), 'TIFF_TRUNCATED', {}, /truncated/);

    const ifdPastEnd = Buffer.from(whole);
    ifdPastEnd.writeUInt32LE(whole.length + 1000, 4);
    writeFileSync(p('ifd-past-end.tif'), ifdPastEnd);
    await refuses(p('ifd-past-end.tif'), 'TIFF_TRUNCATED', {}, /IFD 1 .* past the end/);

    // IFD intact, pixel data cut: a 16x16 uint16 strip at byte 1000 of a 1100-byte file.
    const header = craftTiff([grayPage(16, 16, 16, 1000)]);
    writeFileSync(p('data-cut.tif'), Buffer.concat([header, Buffer.alloc(1100 - header.length)]));
    await refuses(p('data-cut.tif'), 'TIFF_TRUNCATED', {}, /pixel data of page 1 \(strip 1, bytes 1000\.\.1512\) extends past the end of the file \(1100 bytes\)/);

    writeFileSync(p('header-only.tif'), Buffer.from('II*\0\x08', 'latin1'));
    await refuses(p('header-only.tif'), 'TIFF_TRUNCATED');
    writeFileSync(p('two-bytes.tif'), Buffer.from('MM', 'latin1'));
    await refuses(p('two-bytes.tif'), 'TIFF_TRUNCATED');
  });

  it('an IFD chain that loops: TIFF_IFD_LOOP', async () => {
    const buf = Buffer.from(readFileSync(p('four.tif')));
    const ifds = classicIfds(buf);
    assert.equal(ifds.length, 4);
    buf.writeUInt32LE(ifds[1] ?? 0, nextPointerPos(buf, ifds[2] ?? 0));
    writeFileSync(p('loop.tif'), buf);
    await refuses(p('loop.tif'), 'TIFF_IFD_LOOP', {}, /loops/);
    const self = Buffer.from(readFileSync(p('four.tif')));
    self.writeUInt32LE(ifds[0] ?? 0, nextPointerPos(self, ifds[0] ?? 0));
    writeFileSync(p('self-loop.tif'), self);
    await refuses(p('self-loop.tif'), 'TIFF_IFD_LOOP');
  });

  it('unsupported sample types: TIFF_UNSUPPORTED saying what is allowed', async () => {
    for (const [name, what] of [
      ['complex.tif', /complex/],
      ['bilevel.tif', /1-bit/],
      ['int16.tif', /16-bit signed/],
      ['float64.tif', /64-bit float/],
      ['uint32.tif', /32-bit unsigned/],
      ['palette.tif', /palette/],
    ] as const) {
      const message = await refuses(p(name), 'TIFF_UNSUPPORTED', {}, what);
      assert.match(message, /8-bit or 16-bit unsigned integer, or 32-bit float/);
    }
    await refuses(p('lzma.tif'), 'TIFF_UNSUPPORTED', {}, /LZMA compression/);
    await refuses(p('4d.tif'), 'TIFF_UNSUPPORTED', {}, /4D stack/);
  });

  it('enormous declared dimensions: TIFF_TOO_LARGE naming the limit, in every header flavour', async () => {
    const huge = (offset: number) => {
      const page = grayPage(100_000, 100_000, 16, offset);
      page.tags = page.tags.map((t) => (t[0] === 279 ? [279, 4, [0xffffffff]] : t));
      return page;
    };
    for (const [name, opts] of [
      ['huge-le.tif', { littleEndian: true, bigtiff: false }],
      ['huge-be.tif', { littleEndian: false, bigtiff: false }],
      ['huge-big-le.tif', { littleEndian: true, bigtiff: true }],
      ['huge-big-be.tif', { littleEndian: false, bigtiff: true }],
    ] as const) {
      writeFileSync(p(name), craftTiff([huge(300)], { ...opts, tail: Buffer.alloc(200) }));
      const message = await refuses(p(name), 'TIFF_TOO_LARGE', {}, /100000 x 100000/);
      assert.match(message, new RegExp(`${DEFAULT_TIFF_LIMITS.maxFramePixels}.*maxFramePixels`));
    }
  });

  it('limits are configurable: frame pixels, frame count and total bytes', async () => {
    const file = p('four.tif');
    assert.equal((await inspectTiff(file)).frames, 4);
    await refuses(file, 'TIFF_TOO_LARGE', { limits: { maxFramePixels: 1000 } }, /maxFramePixels/);
    await refuses(file, 'TIFF_TOO_LARGE', { limits: { maxFrames: 3 } }, /maxFrames/);
    await refuses(file, 'TIFF_TOO_LARGE', { limits: { maxTotalBytes: 4 * 32 * 40 * 2 - 1 } }, /maxTotalBytes/);
    assert.equal((await inspectTiff(file, { limits: { maxTotalBytes: 4 * 32 * 40 * 2, maxFrames: 4, maxFramePixels: 32 * 40 } })).frames, 4);
  });

  it('frames of different sizes or sample types: FRAME_SIZE_MISMATCH', async () => {
    await refuses(p('sizes.tif'), 'FRAME_SIZE_MISMATCH', {}, /page 3 is 20x16 uint8 but page 1 is 16x16 uint8/);
    await refuses(p('dtypes.tif'), 'FRAME_SIZE_MISMATCH', {}, /uint16/);
  });

  it('strip tables that do not match the image: TIFF_CORRUPT', async () => {
    // 8x8 uint8 declared, one uncompressed strip of only 10 bytes.
    const page = grayPage(8, 8, 8, 200);
    page.tags = page.tags.map((t) => (t[0] === 279 ? [279, 4, [10]] : t));
    writeFileSync(p('short-strip.tif'), craftTiff([page], { tail: Buffer.alloc(200) }));
    await refuses(p('short-strip.tif'), 'TIFF_CORRUPT', {}, /holds 10 bytes, 64 expected/);
    const noOffsets = grayPage(8, 8, 8, 200);
    noOffsets.tags = noOffsets.tags.filter((t) => t[0] !== 273);
    writeFileSync(p('no-offsets.tif'), craftTiff([noOffsets], { tail: Buffer.alloc(200) }));
    await refuses(p('no-offsets.tif'), 'TIFF_CORRUPT', {}, /StripOffsets/);
  });

  it('hand-built pages read correctly in both byte orders, classic and BigTIFF', async () => {
    for (const [name, opts] of [
      ['ok-le.tif', { littleEndian: true, bigtiff: false }],
      ['ok-be.tif', { littleEndian: false, bigtiff: false }],
      ['ok-big-le.tif', { littleEndian: true, bigtiff: true }],
      ['ok-big-be.tif', { littleEndian: false, bigtiff: true }],
    ] as const) {
      const pixels = Buffer.alloc(6 * 4 * 2);
      for (let i = 0; i < 24; i++) opts.littleEndian ? pixels.writeUInt16LE(i * 1000, 2 * i) : pixels.writeUInt16BE(i * 1000, 2 * i);
      const at = 1000;
      const file = craftTiff([grayPage(6, 4, 16, at), grayPage(6, 4, 16, at)], opts);
      writeFileSync(p(name), Buffer.concat([file, Buffer.alloc(at - file.length), pixels]));
      const reader = await openTiffStack(p(name));
      try {
        assert.deepEqual(reader.info, { frames: 2, height: 4, width: 6, dtype: 'uint16', axis: 'T' }, name);
        assert.equal(reader.bigtiff, opts.bigtiff);
        assert.deepEqual(Array.from(await reader.readFrame(1)), Array.from({ length: 24 }, (_, i) => i * 1000), name);
      } finally {
        await reader.close();
      }
    }
  });

  it('compressed data that does not decode: TIFF_CORRUPT from readFrame, naming the frame', async () => {
    const buf = Buffer.from(readFileSync(p('deflate.tif')));
    // Overwrite the second page's deflate stream (its first strip) with garbage.
    const ifds = classicIfds(buf);
    const ifd = ifds[1] ?? 0;
    let stripOffset = 0;
    for (let e = 0; e < buf.readUInt16LE(ifd); e++) {
      const at = ifd + 2 + e * 12;
      if (buf.readUInt16LE(at) === 273) {
        const count = buf.readUInt32LE(at + 4);
        const value = buf.readUInt32LE(at + 8);
        stripOffset = count === 1 ? value : buf.readUInt32LE(value);
      }
    }
    assert.ok(stripOffset > 0);
    buf.fill(0x5a, stripOffset, stripOffset + 16);
    writeFileSync(p('bad-deflate.tif'), buf);
    const reader = await openTiffStack(p('bad-deflate.tif'));
    try {
      assert.equal((await reader.readFrame(0)).length, 64 * 64);
      await assert.rejects(reader.readFrame(1), (err: unknown) => isPssrError(err) && err.code === 'TIFF_CORRUPT' && /frame 2/.test(err.message));
      await assert.rejects(reader.readFrame(2), (err: unknown) => isPssrError(err) && err.code === 'INVALID_ARGUMENT');
    } finally {
      await reader.close();
    }
  });
});

