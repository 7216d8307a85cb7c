/**
 * The uncertainty map means something (issue 8 item 7): on a held-out ssTEM section the em model never
 * trained on, tiles where the TTA uncertainty is high are tiles where the restoration is really wrong.
 * `npm run bench:trust` prints the same correlation on all four held-out sections, at several tile sizes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { assessFrame } from '@pssr/core';
import type { FrameArray } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import type { RestoredFrame } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { absoluteError, degradedSource, tileSpearman } from '../src/index.js';
import { DATASETS } from '../../../test/e2e/support/datasets.js';

const SECTION = join(DATASETS, 'em-sstem-vnc', 'stack1_19.tif');
const CROP = 512;
const TILE = 32;

test('the TTA uncertainty map ranks tiles by their true error on a held-out EM section; it carries more of it than the consistency map', async () => {
  const r = await openTiffStack(SECTION);
  const full = await r.readFrame(0);
  await r.close();
  const hr = new Uint8Array(CROP * CROP);
  for (let y = 0; y < CROP; y++) hr.set(full.subarray(y * r.info.width, y * r.info.width + CROP), y * CROP);
  const em = await resolveModel('em');
  const lr = degradedSource(MemoryFrameSource.fromFrames({ height: CROP, width: CROP, dtype: 'uint8', axis: 'Z' }, [hr as FrameArray]), em.card.degradation, 19);
  const engine = await RestoreEngine.load(em, { device: 'cpu' });
  let frame: RestoredFrame | undefined;
  await engine.restore(lr, new MemoryFrameSink(engine.outputInfo(lr.info), () => undefined), { tta: true, onFrame: (f) => void (frame = f) });
  const error = absoluteError(frame!.output, hr);
  const uncertainty = tileSpearman(frame!.uncertainty!, error, CROP, CROP, TILE);
  const residual = assessFrame({ index: 0, lr: frame!.input, restored: frame!.output, height: CROP / 4, width: CROP / 4 }, em.card, null).residual;
  const consistency = tileSpearman(residual, error, CROP, CROP, TILE, 4);
  // 256 tiles: an unrelated map gives |rho| below about 0.15 (2 standard errors); these are measured values.
  assert.ok(uncertainty > 0.25, `uncertainty Spearman ${uncertainty}`);
  assert.ok(uncertainty > consistency + 0.2, `uncertainty ${uncertainty} vs consistency ${consistency}`);
});
