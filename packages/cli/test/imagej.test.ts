import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { StackInfo } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { createTiffStackWriter } from '@pssr/tiff';
import { imagejOpen } from '../../tiff/test/helpers/imagej.js';
import { pyRead } from '../../tiff/test/helpers/python.js';
import { pssr } from './helpers.js';

let work: string;
let input: string;
const info: StackInfo = { frames: 3, height: 80, width: 96, dtype: 'uint16', axis: 'T', pixelSize: { x: 0.02, y: 0.02, unit: 'um' } };
const frames = Array.from({ length: 3 }, (_, f) => Uint16Array.from({ length: 80 * 96 }, (_, k) => 20000 + Math.round(8000 * Math.sin(k / 7 + f) * Math.cos(k / 331))));

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'pssr-cli-imagej-'));
  input = join(work, 'in.tif');
  const sink = await createTiffStackWriter(input, info);
  for (const f of frames) await sink.writeFrame(f);
  await sink.commit();
});
after(() => rmSync(work, { recursive: true, force: true }));

test('pssr restore output opens in real ImageJ as a calibrated time-lapse of what the engine restored', async () => {
  const outputs = [join(work, 'restored.tif'), join(work, 'restored-deflate.tif')];
  for (const [i, output] of outputs.entries()) {
    const r = await pssr(['restore', input, '-o', output, '--model', 'em', '--device', 'cpu', ...(i === 1 ? ['--compression', 'deflate'] : [])]);
    assert.equal(r.code, 0, r.stderr);
  }
  const engine = await RestoreEngine.load(await resolveModel('em'), { device: 'cpu' });
  const expected = new MemoryFrameSink(engine.outputInfo(info));
  await engine.restore(MemoryFrameSource.fromFrames(info, frames), expected);
  const views = imagejOpen(outputs);
  const py = pyRead(outputs);
  outputs.forEach((output, i) => {
    const v = views[i];
    assert.ok(v && !v.error, `${output}: ${v?.error}`);
    assert.deepEqual([v.width, v.height, v.bitDepth, v.nFrames, v.nSlices, v.nChannels], [384, 320, 16, 3, 1, 1], output);
    assert.equal(v.unit, '\u00B5m');
    assert.ok(Math.abs(v.pixelWidth - 0.005) < 1e-12 && Math.abs(v.pixelHeight - 0.005) < 1e-12, `${output}: ImageJ's pixel size ${v.pixelWidth} x ${v.pixelHeight}, want 0.02 / 4`);
    expected.frames.forEach((frame, f) => {
      const want = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
      assert.ok(Buffer.from(v.slices[f] ?? '', 'base64').equals(want), `${output}: ImageJ's slice ${f + 1} differs from the restored frame`);
    });
    assert.ok(Buffer.from(py[i]?.data ?? '', 'base64').equals(Buffer.concat(expected.frames.map((fr) => Buffer.from(fr.buffer, fr.byteOffset, fr.byteLength)))), `${output}: tifffile's series`);
  });
});
