import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FrameArray, StackInfo } from '@pssr/core';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';
import { concat, makeFrame } from './helpers/frames.js';
import { imagejOpen, type ImageJView } from './helpers/imagej.js';
import { pyRead, tempDir, type PyRead } from './helpers/python.js';

interface Case {
  name: string;
  path: string;
  info: StackInfo;
  compression: 'none' | 'deflate';
  bigtiff: 'auto' | 'always';
  frames: FrameArray[];
}

/** ImageJ shows `um` as `µm`. */
const imagejUnit = (unit: string): string => (unit === 'um' ? '\u00B5m' : unit);

describe('multi-frame stacks open right in real ImageJ, in tifffile and in our reader', () => {
  const { dir, cleanup } = tempDir('pssr-imagej-');
  after(cleanup);
  const cases: Case[] = [];
  let n = 0;
  for (const frames of [1, 2, 3, 17]) {
    for (const dtype of ['uint8', 'uint16', 'float32'] as const) {
      for (const compression of ['none', 'deflate'] as const) {
        n++;
        const axis = n % 2 === 0 ? 'T' : 'Z';
        // Odd sizes, and an anisotropic pixel size, so that a row or frame offset error cannot hide.
        const info: StackInfo = { frames, height: 21, width: 37, dtype, axis, pixelSize: { x: 0.0125, y: n % 3 === 0 ? 0.015 : 0.0125, unit: n % 4 === 0 ? 'nm' : 'um' } };
        const name = `${frames}f-${dtype}-${compression}-${axis}`;
        cases.push({ name, path: join(dir, `${name}.tif`), info, compression, bigtiff: 'auto', frames: Array.from({ length: frames }, (_, i) => makeFrame(dtype, 21 * 37, n * 100 + i)) });
      }
    }
  }
  // ImageJ 1.x cannot open BigTIFF (Fiji hands it to Bio-Formats); tifffile and our reader must still agree.
  const bigtiff: Case[] = (['none', 'deflate'] as const).map((compression, i) => ({
    name: `bigtiff-3f-uint16-${compression}`,
    path: join(dir, `bigtiff-${compression}.tif`),
    info: { frames: 3, height: 21, width: 37, dtype: 'uint16', axis: 'T', pixelSize: { x: 0.0125, y: 0.0125, unit: 'um' } },
    compression,
    bigtiff: 'always',
    frames: Array.from({ length: 3 }, (_, f) => makeFrame('uint16', 21 * 37, 7000 + 10 * i + f)),
  }));
  const all = [...cases, ...bigtiff];
  let views: ImageJView[] = [];
  let py: PyRead[] = [];

  before(async () => {
    for (const c of all) {
      const sink = await createTiffStackWriter(c.path, c.info, { compression: c.compression, bigtiff: c.bigtiff });
      for (const frame of c.frames) await sink.writeFrame(frame);
      await sink.commit();
    }
    views = imagejOpen(all.map((c) => c.path));
    py = pyRead(all.map((c) => c.path));
  });

  it('ImageJ reads every slice as written, as a T or Z stack, with the pixel size written', () => {
    cases.forEach((c, i) => {
      const v = views[i];
      assert.ok(v && !v.error, `${c.name}: ${v?.error}`);
      const { frames, width, height, dtype, axis, pixelSize } = c.info;
      assert.deepEqual([v.width, v.height, v.bitDepth, v.stackSize, v.nChannels], [width, height, dtype === 'uint8' ? 8 : dtype === 'uint16' ? 16 : 32, frames, 1], c.name);
      if (frames > 1) assert.deepEqual([v.nSlices, v.nFrames], axis === 'T' ? [1, frames] : [frames, 1], `${c.name}: ImageJ's axis`);
      c.frames.forEach((frame, f) => {
        const got = Buffer.from(v.slices[f] ?? '', 'base64');
        assert.ok(got.equals(concat([frame])), `${c.name}: ImageJ's slice ${f + 1} differs from frame ${f + 1} as written`);
      });
      assert.ok(pixelSize);
      assert.equal(v.unit, imagejUnit(pixelSize.unit), c.name);
      assert.ok(Math.abs(v.pixelWidth / pixelSize.x - 1) < 1e-9, `${c.name}: ImageJ's pixel width ${v.pixelWidth}, written ${pixelSize.x}`);
      assert.ok(Math.abs(v.pixelHeight / pixelSize.y - 1) < 1e-9, `${c.name}: ImageJ's pixel height ${v.pixelHeight}, written ${pixelSize.y}`);
      if (dtype === 'float32') {
        const values = c.frames.flatMap((fr) => Array.from(fr));
        assert.deepEqual([v.displayMin, v.displayMax], [Math.min(...values), Math.max(...values)], `${c.name}: display range`);
      }
    });
  });

  it("tifffile's series reader and our reader agree with what was written on every frame", async () => {
    for (const [i, c] of all.entries()) {
      const r = py[i];
      assert.ok(r, c.name);
      assert.ok(Buffer.from(r.data, 'base64').equals(concat(c.frames)), `${c.name}: tifffile's series differs`);
      const reader = await openTiffStack(c.path);
      try {
        for (let f = 0; f < c.frames.length; f++) assert.deepEqual(await reader.readFrame(f), c.frames[f], `${c.name}: our frame ${f + 1}`);
      } finally {
        await reader.close();
      }
    }
  });

  it('ImageJ 1.x refuses BigTIFF, which is why the writer only uses it past 4 GB', () => {
    for (const view of views.slice(cases.length)) assert.ok(view.error, `${view.path}: ImageJ opened a BigTIFF; update the README's note`);
  });
});
