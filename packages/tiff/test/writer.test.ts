import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isPssrError, type DType, type FrameArray, type StackInfo } from '@pssr/core';
import { createTiffStackWriter, openTiffStack, planTiffWrite, CLASSIC_TIFF_MAX_BYTES } from '@pssr/tiff';
import { concat, makeFrame } from './helpers/frames.js';
import { decodeArray, pyRead, tempDir } from './helpers/python.js';

async function expectCode(promise: Promise<unknown>, code: string): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isPssrError(err), `expected a PssrError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

interface Case {
  name: string;
  path: string;
  info: StackInfo;
  opts: { compression: 'none' | 'deflate'; bigtiff: 'auto' | 'always' };
  frames: FrameArray[];
}

describe('TIFF writer round trips, checked by tifffile and by our reader', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);

  const cases: Case[] = [];
  let n = 0;
  for (const dtype of ['uint8', 'uint16', 'float32'] as const) {
    for (const frames of [1, 7]) {
      for (const bigtiff of ['auto', 'always'] as const) {
        for (const compression of ['none', 'deflate'] as const) {
          n++;
          const axis = n % 2 === 0 ? 'T' : 'Z';
          const info: StackInfo = { frames, height: 19, width: 23, dtype, axis };
          if (n % 3 !== 0) info.pixelSize = { x: 0.0515, y: 0.0515, unit: 'um' };
          const name = `${dtype}-${frames}p-${bigtiff}-${compression}-${axis}`;
          cases.push({
            name,
            path: join(dir, `${name}.tif`),
            info,
            opts: { compression, bigtiff },
            frames: Array.from({ length: frames }, (_, i) => makeFrame(dtype, 19 * 23, n * 100 + i)),
          });
        }
      }
    }
  }
  // Frames large enough for several deflate strips, with a non-square anisotropic pixel size in nm.
  cases.push({
    name: 'uint16-multistrip-deflate',
    path: join(dir, 'multistrip.tif'),
    info: { frames: 3, height: 301, width: 700, dtype: 'uint16', axis: 'T', pixelSize: { x: 4.6, y: 5.2, unit: 'nm' } },
    opts: { compression: 'deflate', bigtiff: 'auto' },
    frames: Array.from({ length: 3 }, (_, i) => makeFrame('uint16', 301 * 700, 9000 + i)),
  });

  it('writes every case', async () => {
    for (const c of cases) {
      const sink = await createTiffStackWriter(c.path, c.info, { ...c.opts, software: 'pssr-test' });
      for (const frame of c.frames) await sink.writeFrame(frame);
      await sink.commit();
      assert.ok(existsSync(c.path), c.name);
    }
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.partial-')),
      [],
      'no partial files remain',
    );
  });

  it('tifffile reads back shape, dtype, values and ImageJ metadata', () => {
    const read = pyRead(cases.map((c) => c.path));
    cases.forEach((c, i) => {
      const r = read[i];
      assert.ok(r, c.name);
      const { frames, height, width, dtype, axis, pixelSize } = c.info;
      assert.deepEqual(r.shape, frames > 1 ? [frames, height, width] : [height, width], c.name);
      assert.equal(r.dtype, dtype, c.name);
      assert.equal(r.is_bigtiff, c.opts.bigtiff === 'always', c.name);
      assert.equal(r.pages, frames, c.name);
      assert.deepEqual(r.page_compressions, [c.opts.compression === 'deflate' ? 8 : 1], c.name);
      assert.equal(r.sample_format, dtype === 'float32' ? 3 : 1, c.name);
      assert.equal(r.software, 'pssr-test', c.name);
      assert.ok(Buffer.from(r.data, 'base64').equals(concat(c.frames)), `${c.name}: values differ`);
      assert.equal(r.is_imagej, true, c.name);
      const ij = r.imagej_metadata ?? {};
      assert.equal(ij.images, frames, c.name);
      if (frames > 1) {
        assert.equal(ij[axis === 'T' ? 'frames' : 'slices'], frames, c.name);
        assert.equal(ij[axis === 'T' ? 'slices' : 'frames'], undefined, c.name);
        assert.equal(r.axes, `${axis === 'T' ? 'T' : 'Z'}YX`, c.name);
      }
      if (pixelSize) {
        assert.equal(ij.unit, pixelSize.unit, c.name);
        const [xn, xd] = r.resolution.XResolution ?? [0, 1];
        const [yn, yd] = r.resolution.YResolution ?? [0, 1];
        assert.ok(Math.abs(xd / xn - pixelSize.x) < 1e-9 * pixelSize.x, `${c.name}: x pixel size ${xd / xn}`);
        assert.ok(Math.abs(yd / yn - pixelSize.y) < 1e-9 * pixelSize.y, `${c.name}: y pixel size ${yd / yn}`);
      } else {
        assert.equal(ij.unit, undefined, c.name);
      }
      if (dtype === 'float32') {
        // ImageJ display range for float stacks, filled in at commit().
        const values = c.frames.flatMap((f) => Array.from(f));
        assert.equal(ij.min, Math.min(...values), c.name);
        assert.equal(ij.max, Math.max(...values), c.name);
      }
    });
  });

  it('our reader reads back the same frames and metadata', async () => {
    for (const c of cases) {
      const reader = await openTiffStack(c.path);
      try {
        assert.equal(reader.bigtiff, c.opts.bigtiff === 'always', c.name);
        const { pixelSize, ...rest } = reader.info;
        const { pixelSize: wantPs, ...wantRest } = c.info;
        // A single frame has no axis in ImageJ metadata; 'T' is what the reader reports then.
        assert.deepEqual(rest, { ...wantRest, axis: c.info.frames > 1 ? c.info.axis : 'T' }, c.name);
        if (wantPs) {
          assert.ok(pixelSize, c.name);
          assert.equal(pixelSize.unit, wantPs.unit);
          assert.ok(Math.abs(pixelSize.x / wantPs.x - 1) < 1e-9 && Math.abs(pixelSize.y / wantPs.y - 1) < 1e-9, c.name);
        } else {
          assert.equal(pixelSize, undefined, c.name);
        }
        for (let i = c.frames.length - 1; i >= 0; i--) {
          assert.deepEqual(await reader.readFrame(i), c.frames[i], `${c.name} frame ${i}`);
        }
      } finally {
        await reader.close();
      }
    }
  });
});

describe('TIFF writer layout plan', () => {
  it('picks BigTIFF only when the projected size passes about 4 GB', () => {
    const small = planTiffWrite({ frames: 200, height: 1024, width: 1024, dtype: 'uint16', axis: 'T' });
    assert.equal(small.bigtiff, false);
    assert.ok(small.projectedBytes > 200 * 1024 * 1024 * 2 && small.projectedBytes < 200 * 1024 * 1024 * 2 * 1.01);
    // The engine's benchmark case: 200 frames restored to 4096x4096 uint16 = 6.7 GB.
    const big = planTiffWrite({ frames: 200, height: 4096, width: 4096, dtype: 'uint16', axis: 'T' });
    assert.equal(big.bigtiff, true);
    assert.ok(big.projectedBytes > 6.7e9);
    // Just under and just over the classic limit.
    const frameBytes = 2048 * 2048 * 2;
    const under = Math.floor((CLASSIC_TIFF_MAX_BYTES - 1e6) / (frameBytes + 1024));
    assert.equal(planTiffWrite({ frames: under, height: 2048, width: 2048, dtype: 'uint16', axis: 'Z' }).bigtiff, false);
    assert.equal(planTiffWrite({ frames: under + 2, height: 2048, width: 2048, dtype: 'uint16', axis: 'Z' }).bigtiff, true);
    assert.equal(planTiffWrite({ frames: 1, height: 8, width: 8, dtype: 'uint8', axis: 'T' }, { bigtiff: 'always' }).bigtiff, true);
    assert.equal(planTiffWrite({ frames: 200, height: 4096, width: 4096, dtype: 'uint16', axis: 'T' }, { bigtiff: 'never' }).bigtiff, false);
  });

  it("refuses bigtiff:'never' for an uncompressed stack past 4 GB before writing anything", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'huge.tif');
      const message = await expectCode(
        createTiffStackWriter(path, { frames: 200, height: 4096, width: 4096, dtype: 'uint16', axis: 'T' }, { bigtiff: 'never' }),
        'INVALID_ARGUMENT',
      );
      assert.match(message, /BigTIFF/);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      cleanup();
    }
  });
});

describe('TIFF writer output handling', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);
  const info: StackInfo = { frames: 2, height: 4, width: 5, dtype: 'uint8', axis: 'T' };
  const frame = (): Uint8Array => new Uint8Array(20).fill(7);

  it('refuses an existing output unless overwrite is set, then replaces it', async () => {
    const path = join(dir, 'exists.tif');
    writeFileSync(path, 'old');
    const message = await expectCode(createTiffStackWriter(path, info), 'OUTPUT_EXISTS');
    assert.ok(message.includes(path));
    const sink = await createTiffStackWriter(path, info, { overwrite: true });
    await sink.writeFrame(frame());
    await sink.writeFrame(frame());
    await sink.commit();
    const reader = await openTiffStack(path);
    assert.equal(reader.info.frames, 2);
    await reader.close();
  });

  it('refuses a missing folder, a path below a file and a folder as output', async () => {
    const m1 = await expectCode(createTiffStackWriter(join(dir, 'no-such-folder', 'out.tif'), info), 'OUTPUT_NOT_WRITABLE');
    assert.match(m1, /does not exist/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expectCode(createTiffStackWriter(join(file, 'out.tif'), info), 'OUTPUT_NOT_WRITABLE');
    await expectCode(createTiffStackWriter(dir, info, { overwrite: true }), 'OUTPUT_NOT_WRITABLE');
  });

  it('shows nothing at the destination until commit, and abort removes the partial file', async () => {
    const path = join(dir, 'aborted.tif');
    const sink = await createTiffStackWriter(path, info);
    await sink.writeFrame(frame());
    assert.equal(existsSync(path), false);
    const partials = readdirSync(dir).filter((f) => f.startsWith('aborted.tif.partial-'));
    assert.equal(partials.length, 1);
    await sink.abort();
    await sink.abort();
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('aborted.tif')), []);
  });

  it('abort after commit keeps the committed file', async () => {
    const path = join(dir, 'kept.tif');
    const sink = await createTiffStackWriter(path, info);
    await sink.writeFrame(frame());
    await sink.writeFrame(frame());
    await sink.commit();
    await sink.abort();
    assert.ok(existsSync(path));
  });

  it('refuses to commit a stack with missing frames and leaves nothing behind', async () => {
    const path = join(dir, 'short.tif');
    const sink = await createTiffStackWriter(path, info);
    await sink.writeFrame(frame());
    await expectCode(sink.commit(), 'INVALID_ARGUMENT');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('short.tif')), []);
  });

  it('refuses frames of the wrong type, size or count', async () => {
    const path = join(dir, 'wrong.tif');
    const sink = await createTiffStackWriter(path, info);
    await expectCode(sink.writeFrame(new Uint16Array(20)), 'INVALID_ARGUMENT');
    await expectCode(sink.writeFrame(new Uint8Array(21)), 'INVALID_ARGUMENT');
    await sink.writeFrame(frame());
    await sink.writeFrame(frame());
    await expectCode(sink.writeFrame(frame()), 'INVALID_ARGUMENT');
    await sink.abort();
    assert.equal(existsSync(path), false);
  });

  it('writes frames handed over without awaiting, in order', async () => {
    const path = join(dir, 'concurrent.tif');
    const frames = Array.from({ length: 5 }, (_, i) => new Uint8Array(20).fill(i * 10));
    const sink = await createTiffStackWriter(path, { ...info, frames: 5 });
    await Promise.all(frames.map((f) => sink.writeFrame(f)));
    await sink.commit();
    const reader = await openTiffStack(path);
    for (let i = 0; i < 5; i++) assert.deepEqual(await reader.readFrame(i), frames[i]);
    await reader.close();
  });
});
