import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATASETS } from '../../../test/e2e/support/datasets.js';
import { after, before, describe, it } from 'node:test';
import { isPssrError, type FrameArray, type StackInfo } from '@pssr/core';
import { inspectTiff, openTiffStack } from '@pssr/tiff';
import { decodeArray, pyRead, pyWrite, tempDir, type AnyTyped, type PyWriteItem } from './helpers/python.js';

interface ReadCase {
  name: string;
  write: Omit<PyWriteItem, 'path'>;
  channel?: number;
  /** Expected StackInfo (pixel size compared with a relative tolerance). */
  info: StackInfo;
  /** Flat index into the written array of pixel (y, x) of frame f. */
  index: (f: number, y: number, x: number) => number;
  /** Also check that our reader agrees with tifffile's own reading of the file. */
}

function expectedFrame(data: AnyTyped, info: StackInfo, f: number, index: ReadCase['index']): number[] {
  const out: number[] = [];
  for (let y = 0; y < info.height; y++) for (let x = 0; x < info.width; x++) out.push(data[index(f, y, x)] as number);
  return out;
}

function assertInfo(actual: StackInfo, expected: StackInfo, name: string): void {
  const { pixelSize, ...rest } = actual;
  const { pixelSize: want, ...wantRest } = expected;
  assert.deepEqual(rest, wantRest, name);
  if (!want) {
    assert.equal(pixelSize, undefined, `${name}: no pixel size expected`);
    return;
  }
  assert.ok(pixelSize, `${name}: pixel size missing`);
  assert.equal(pixelSize.unit, want.unit, name);
  assert.ok(Math.abs(pixelSize.x / want.x - 1) < 1e-6, `${name}: x ${pixelSize.x} vs ${want.x}`);
  assert.ok(Math.abs(pixelSize.y / want.y - 1) < 1e-6, `${name}: y ${pixelSize.y} vs ${want.y}`);
}

const stack = (f: number, h: number, w: number) => (t: number, y: number, x: number) => (t * h + y) * w + x;

// tifffile takes a leading dimension of 3 or 4 for RGB(A) planes unless told photometric='minisblack'.
const CASES: ReadCase[] = [
  {
    name: 'strips of 4 rows, uint16',
    write: { shape: [5, 37, 41], dtype: 'uint16', kwargs: { rowsperstrip: 4 } },
    info: { frames: 5, height: 37, width: 41, dtype: 'uint16', axis: 'T' },
    index: stack(5, 37, 41),
  },
  {
    name: 'tiles 16x32 with partial edge tiles, uint8',
    write: { shape: [3, 50, 70], dtype: 'uint8', kwargs: { tile: [16, 32], photometric: 'minisblack' } },
    info: { frames: 3, height: 50, width: 70, dtype: 'uint8', axis: 'T' },
    index: stack(3, 50, 70),
  },
  {
    name: 'deflate float32',
    write: { shape: [4, 33, 29], dtype: 'float32', kwargs: { compression: 'zlib', photometric: 'minisblack' } },
    info: { frames: 4, height: 33, width: 29, dtype: 'float32', axis: 'T' },
    index: stack(4, 33, 29),
  },
  {
    name: 'deflate + horizontal predictor, uint16 tiles',
    write: { shape: [2, 40, 48], dtype: 'uint16', kwargs: { compression: 'zlib', predictor: true, tile: [16, 16] } },
    info: { frames: 2, height: 40, width: 48, dtype: 'uint16', axis: 'T' },
    index: stack(2, 40, 48),
  },
  {
    name: 'LZW uint16 strips',
    write: { shape: [3, 45, 61], dtype: 'uint16', compression_codec: 'lzw', kwargs: { compression: 'lzw', rowsperstrip: 8, photometric: 'minisblack' } },
    info: { frames: 3, height: 45, width: 61, dtype: 'uint16', axis: 'T' },
    index: stack(3, 45, 61),
  },
  {
    name: 'LZW + predictor uint8 (long strips that reset the LZW table)',
    write: { shape: [2, 120, 150], dtype: 'uint8', compression_codec: 'lzw', kwargs: { compression: 'lzw', predictor: true } },
    info: { frames: 2, height: 120, width: 150, dtype: 'uint8', axis: 'T' },
    index: stack(2, 120, 150),
  },
  {
    name: 'PackBits uint8',
    write: { shape: [2, 21, 35], dtype: 'uint8', compression_codec: 'packbits', kwargs: { compression: 'packbits' } },
    info: { frames: 2, height: 21, width: 35, dtype: 'uint8', axis: 'T' },
    index: stack(2, 21, 35),
  },
  {
    name: 'BigTIFF uint16',
    write: { shape: [6, 20, 30], dtype: 'uint16', kwargs: { bigtiff: true } },
    info: { frames: 6, height: 20, width: 30, dtype: 'uint16', axis: 'T' },
    index: stack(6, 20, 30),
  },
  {
    name: 'big-endian float32',
    write: { shape: [3, 16, 24], dtype: 'float32', kwargs: { byteorder: '>', photometric: 'minisblack' } },
    info: { frames: 3, height: 16, width: 24, dtype: 'float32', axis: 'T' },
    index: stack(3, 16, 24),
  },
  {
    name: 'big-endian BigTIFF uint16 tiles, deflate',
    write: { shape: [2, 40, 40], dtype: 'uint16', kwargs: { byteorder: '>', bigtiff: true, tile: [16, 16], compression: 'zlib' } },
    info: { frames: 2, height: 40, width: 40, dtype: 'uint16', axis: 'T' },
    index: stack(2, 40, 40),
  },
  {
    name: 'tifffile shaped description with axes ZYX',
    write: { shape: [3, 10, 12], dtype: 'uint8', kwargs: { metadata: { axes: 'ZYX' }, photometric: 'minisblack' } },
    info: { frames: 3, height: 10, width: 12, dtype: 'uint8', axis: 'Z' },
    index: stack(3, 10, 12),
  },
  {
    name: 'ImageJ hyperstack with frames, unit um',
    write: { shape: [6, 24, 32], dtype: 'uint16', kwargs: { imagej: true, metadata: { axes: 'TYX', unit: 'um' }, resolution: [5, 5] } },
    info: { frames: 6, height: 24, width: 32, dtype: 'uint16', axis: 'T', pixelSize: { x: 0.2, y: 0.2, unit: 'um' } },
    index: stack(6, 24, 32),
  },
  {
    name: 'ImageJ hyperstack with slices, unit nm, anisotropic',
    write: { shape: [4, 24, 32], dtype: 'uint8', kwargs: { imagej: true, metadata: { axes: 'ZYX', unit: 'nm', spacing: 50 }, resolution: [1 / 4.6, 1 / 5.2] } },
    info: { frames: 4, height: 24, width: 32, dtype: 'uint8', axis: 'Z', pixelSize: { x: 4.6, y: 5.2, unit: 'nm' } },
    index: stack(4, 24, 32),
  },
  {
    name: 'ImageJ hyperstack with 2 channels as pages, channel 1',
    write: { shape: [3, 2, 16, 20], dtype: 'uint16', kwargs: { imagej: true, metadata: { axes: 'TCYX' } } },
    channel: 1,
    info: { frames: 3, height: 16, width: 20, dtype: 'uint16', axis: 'T' },
    index: (t, y, x) => ((t * 2 + 1) * 16 + y) * 20 + x,
  },
  {
    name: 'OME-TIFF time series with PhysicalSizeX in µm',
    write: { shape: [5, 16, 20], dtype: 'uint16', kwargs: { ome: true, metadata: { axes: 'TYX', PhysicalSizeX: 0.1, PhysicalSizeY: 0.1, PhysicalSizeXUnit: 'µm', PhysicalSizeYUnit: 'µm' } } },
    info: { frames: 5, height: 16, width: 20, dtype: 'uint16', axis: 'T', pixelSize: { x: 0.1, y: 0.1, unit: 'um' } },
    index: stack(5, 16, 20),
  },
  {
    name: 'OME-TIFF z-stack in nm, float32',
    write: { shape: [3, 16, 20], dtype: 'float32', kwargs: { ome: true, metadata: { axes: 'ZYX', PhysicalSizeX: 4.6, PhysicalSizeXUnit: 'nm', PhysicalSizeY: 4.8, PhysicalSizeYUnit: 'nm' } } },
    info: { frames: 3, height: 16, width: 20, dtype: 'float32', axis: 'Z', pixelSize: { x: 4.6, y: 4.8, unit: 'nm' } },
    index: stack(3, 16, 20),
  },
  {
    name: 'OME-TIFF with 3 channels as pages (XYCZT), channel 2',
    write: { shape: [2, 3, 16, 20], dtype: 'uint8', kwargs: { ome: true, metadata: { axes: 'TCYX' } } },
    channel: 2,
    info: { frames: 2, height: 16, width: 20, dtype: 'uint8', axis: 'T' },
    index: (t, y, x) => ((t * 3 + 2) * 16 + y) * 20 + x,
  },
  {
    name: 'RGB contiguous, channel 1',
    write: { shape: [16, 20, 3], dtype: 'uint8', kwargs: { photometric: 'rgb' } },
    channel: 1,
    info: { frames: 1, height: 16, width: 20, dtype: 'uint8', axis: 'T' },
    index: (_t, y, x) => (y * 20 + x) * 3 + 1,
  },
  {
    name: 'RGB planar (separate), uint16, channel 2',
    write: { shape: [2, 3, 16, 20], dtype: 'uint16', kwargs: { photometric: 'rgb', planarconfig: 'separate' } },
    channel: 2,
    info: { frames: 2, height: 16, width: 20, dtype: 'uint16', axis: 'T' },
    index: (t, y, x) => ((t * 3 + 2) * 16 + y) * 20 + x,
  },
  {
    name: 'two-sample minisblack pixels, channel 1',
    write: { shape: [16, 20, 2], dtype: 'uint16', kwargs: { photometric: 'minisblack', planarconfig: 'contig' } },
    channel: 1,
    info: { frames: 1, height: 16, width: 20, dtype: 'uint16', axis: 'T' },
    index: (_t, y, x) => (y * 20 + x) * 2 + 1,
  },
  {
    name: 'reduced-resolution page after the frames is skipped',
    write: { shape: [2, 32, 32], dtype: 'uint16', append: [{ shape: [8, 8], dtype: 'uint8', kwargs: { subfiletype: 1 } }] },
    info: { frames: 2, height: 32, width: 32, dtype: 'uint16', axis: 'T' },
    index: stack(2, 32, 32),
  },
  {
    name: '400 small pages',
    write: { shape: [400, 6, 5], dtype: 'uint8' },
    info: { frames: 400, height: 6, width: 5, dtype: 'uint8', axis: 'T' },
    index: stack(400, 6, 5),
  },
];

describe('reading TIFFs written by tifffile', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);
  const paths = CASES.map((_, i) => join(dir, `case${i}.tif`));
  let written: ReturnType<typeof pyWrite> = [];

  before(() => {
    written = pyWrite(CASES.map((c, i) => ({ ...c.write, path: paths[i] ?? '', seed: i + 1 })));
  });

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const path = paths[i] ?? '';
      const w = written[i];
      assert.ok(w);
      const data = decodeArray(w.data, w.dtype);
      const opts = c.channel === undefined ? {} : { channel: c.channel };
      assertInfo(await inspectTiff(path, opts), c.info, c.name);
      const reader = await openTiffStack(path, opts);
      try {
        assertInfo(reader.info, c.info, c.name);
        // Last frame first: random access must not depend on having read the earlier ones.
        const order = [...Array(c.info.frames).keys()].reverse();
        for (const f of order.length > 12 ? [order[0] ?? 0, 0, 137] : order) {
          const frame: FrameArray = await reader.readFrame(f);
          assert.equal(frame.length, c.info.height * c.info.width);
          assert.deepEqual(Array.from(frame), expectedFrame(data, c.info, f, c.index), `${c.name}: frame ${f}`);
        }
      } finally {
        await reader.close();
      }
    });
  });

  it('refuses a multi-channel ImageJ stack without a channel, and a channel that does not exist', async () => {
    const path = paths[CASES.findIndex((c) => c.name.startsWith('ImageJ hyperstack with 2 channels'))] ?? '';
    await assert.rejects(inspectTiff(path), (err: unknown) => isPssrError(err) && err.code === 'TIFF_UNSUPPORTED' && /channel/.test(err.message));
    await assert.rejects(inspectTiff(path, { channel: 2 }), (err: unknown) => isPssrError(err) && err.code === 'INVALID_ARGUMENT');
    await assert.rejects(inspectTiff(path, { channel: -1 }), (err: unknown) => isPssrError(err) && err.code === 'INVALID_ARGUMENT');
  });

  it('refuses RGB without a channel and says how to choose one', async () => {
    const path = paths[CASES.findIndex((c) => c.name.startsWith('RGB contiguous'))] ?? '';
    await assert.rejects(inspectTiff(path), (err: unknown) => isPssrError(err) && err.code === 'TIFF_UNSUPPORTED' && /RGB/.test(err.message) && /channel/.test(err.message));
    await assert.rejects(inspectTiff(path, { channel: 3 }), (err: unknown) => isPssrError(err) && err.code === 'INVALID_ARGUMENT');
  });
});

/** Cuts an ImageJ file's IFD chain after the first page, as ImageJ writes stacks past 4 GB. */
function keepOnlyFirstIfd(path: string): void {
  const buf = readFileSync(path);
  const le = buf.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number): number => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (at: number): number => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const first = u32(4);
  const nextAt = first + 2 + u16(first) * 12;
  if (le) buf.writeUInt32LE(0, nextAt);
  else buf.writeUInt32BE(0, nextAt);
  writeFileSync(path, buf);
}

describe('ImageJ contiguous ("virtual") stacks with only the first IFD', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);

  it('reads every frame from the one IFD and the images= count', async () => {
    const path = join(dir, 'virtual.tif');
    const [w] = pyWrite([{ path, shape: [5, 16, 20], dtype: 'uint16', seed: 7, kwargs: { imagej: true, byteorder: '>', metadata: { axes: 'TYX' } } }]);
    keepOnlyFirstIfd(path);
    const [ref] = pyRead([path]);
    assert.deepEqual(ref?.shape, [5, 16, 20], 'tifffile also sees 5 frames');
    const data = decodeArray(w?.data ?? '', 'uint16');
    const reader = await openTiffStack(path);
    try {
      assert.deepEqual(reader.info, { frames: 5, height: 16, width: 20, dtype: 'uint16', axis: 'T' });
      for (let f = 4; f >= 0; f--) {
        assert.deepEqual(Array.from(await reader.readFrame(f)), Array.from(data.subarray(f * 320, (f + 1) * 320)), `frame ${f}`);
      }
    } finally {
      await reader.close();
    }
  });

  it('reports a truncated contiguous stack', async () => {
    const path = join(dir, 'virtual-cut.tif');
    pyWrite([{ path, shape: [5, 16, 20], dtype: 'uint16', kwargs: { imagej: true, metadata: { axes: 'ZYX' } } }]);
    keepOnlyFirstIfd(path);
    const buf = readFileSync(path);
    // Keep the first IFD and half of the pixel data.
    writeFileSync(path, buf.subarray(0, Math.floor(buf.length / 2)));
    await assert.rejects(inspectTiff(path), (err: unknown) => isPssrError(err) && err.code === 'TIFF_TRUNCATED' && err.message.includes(path));
  });
});

describe('the shared datasets', () => {
  const EM = join(DATASETS, 'em-sstem-vnc', 'stack1_00.tif');
  const HELA = join(DATASETS, 'fluo', 'hela-cells.tif');

  it('reads the ssTEM section as one 1024x1024 uint8 frame equal to tifffile', async () => {
    const [ref] = pyRead([EM]);
    const reader = await openTiffStack(EM);
    try {
      assert.deepEqual(reader.info, { frames: 1, height: 1024, width: 1024, dtype: 'uint8', axis: 'T' });
      assert.equal(reader.bigtiff, false);
      const frame = await reader.readFrame(0);
      assert.ok(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).equals(Buffer.from(ref?.data ?? '', 'base64')));
    } finally {
      await reader.close();
    }
  });

  it('reads channel 1 (mitochondria) of the HeLa RGB image with its ImageJ calibration', async () => {
    await assert.rejects(inspectTiff(HELA), (err: unknown) => isPssrError(err) && err.code === 'TIFF_UNSUPPORTED' && err.message.includes(HELA));
    const [ref] = pyRead([HELA]);
    assert.deepEqual(ref?.shape, [512, 672, 3]);
    const all = decodeArray(ref?.data ?? '', 'uint16');
    const reader = await openTiffStack(HELA, { channel: 1 });
    try {
      // ImageJ: unit=\u00B5m and 19.420064 pixels per micrometre.
      assertInfo(reader.info, { frames: 1, height: 512, width: 672, dtype: 'uint16', axis: 'T', pixelSize: { x: 1 / 19.420064, y: 1 / 19.420064, unit: 'um' } }, 'hela');
      const frame = await reader.readFrame(0);
      const expected = Uint16Array.from({ length: 512 * 672 }, (_, i) => all[i * 3 + 1] as number);
      assert.deepEqual(frame, expected);
    } finally {
      await reader.close();
    }
  });
});
