/**
 * Regenerates the sample stacks in this folder from the ssTEM dataset (see README.md):
 *   node --import tsx examples/make-sample.ts [DATASET_DIR]
 * DATASET_DIR defaults to ../shared/datasets/em-sstem-vnc next to the repository.
 *
 * em-hr.tif: sections stack1_16..18 (the EM validation split, never used for training), 1024x1024 uint8,
 * 4.6 nm pixels. em-lr.tif: each section degraded with the paper's EM recipe (Gaussian noise sigma 3 on
 * the 0-255 scale, 4x first-order downsampling at LR pixel centres; @pssr/core `degrade`, seed = section
 * number) and rounded to uint8: 256x256, 18.4 nm pixels, as a 4x faster acquisition would record it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { degradationSpec, degrade, toDType } from '@pssr/core';
import type { FrameArray, StackInfo } from '@pssr/core';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';

const here = fileURLToPath(new URL('.', import.meta.url));
const datasetDir = resolve(process.argv[2] ?? join(here, '..', '..', 'shared', 'datasets', 'em-sstem-vnc'));
const SECTIONS = [16, 17, 18];
const HR_PIXEL_NM = 4.6;

if (!existsSync(datasetDir)) {
  console.error(`dataset folder ${datasetDir} not found; pass the em-sstem-vnc folder as the first argument`);
  process.exit(2);
}

const hrFrames: FrameArray[] = [];
for (const s of SECTIONS) {
  const reader = await openTiffStack(join(datasetDir, `stack1_${s}.tif`));
  if (reader.info.dtype !== 'uint8' || reader.info.height !== 1024 || reader.info.width !== 1024) {
    throw new Error(`stack1_${s}.tif: expected 1024x1024 uint8, got ${reader.info.width}x${reader.info.height} ${reader.info.dtype}`);
  }
  hrFrames.push(await reader.readFrame(0));
  await reader.close();
}

const spec = degradationSpec('em');
const hrInfo: StackInfo = { frames: SECTIONS.length, height: 1024, width: 1024, dtype: 'uint8', axis: 'Z', pixelSize: { x: HR_PIXEL_NM, y: HR_PIXEL_NM, unit: 'nm' } };
const lrInfo: StackInfo = { ...hrInfo, height: 256, width: 256, pixelSize: { x: 4 * HR_PIXEL_NM, y: 4 * HR_PIXEL_NM, unit: 'nm' } };

const software = 'pssr examples/make-sample.ts';
const hrSink = await createTiffStackWriter(join(here, 'em-hr.tif'), hrInfo, { compression: 'deflate', overwrite: true, software });
const lrSink = await createTiffStackWriter(join(here, 'em-lr.tif'), lrInfo, { compression: 'deflate', overwrite: true, software });
for (let k = 0; k < SECTIONS.length; k++) {
  const hr = hrFrames[k]!;
  await hrSink.writeFrame(hr);
  const lr = degrade(hr, 1024, 1024, spec, SECTIONS[k]!);
  await lrSink.writeFrame(toDType(lr.data, 'uint8'));
}
await hrSink.commit();
await lrSink.commit();
console.log(`wrote ${join(here, 'em-lr.tif')} (3 x 256x256 uint8) and ${join(here, 'em-hr.tif')} (3 x 1024x1024 uint8)`);
