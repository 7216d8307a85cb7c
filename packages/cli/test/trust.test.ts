/**
 * `pssr restore --report [--tta]` and `pssr check` (issue 8) with the bundled, calibrated em model on real
 * held-out ssTEM data (crops of examples/em-lr.tif, sections 16-18), and the evidence that the flags mean
 * something: a pasted vesicle-sized disc is flagged where it is, clean held-out EM is not, and each model
 * flags the other modality as out of distribution.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { degradationSpec } from '@pssr/core';
import type { FrameArray, StackInfo } from '@pssr/core';
import { degradedSource } from '@pssr/report';
import type { TrustReport } from '@pssr/report';
import { createTiffStackWriter, openTiffStack } from '@pssr/tiff';
import { REPO, pssr } from './helpers.js';
import { DATASETS } from '../../../test/e2e/support/datasets.js';

const DATA = DATASETS;
let work: string;
let lr: string; // 2 frames of 96x96 LR, held-out ssTEM (sections 16, 17)

async function writeStack(path: string, info: StackInfo, frames: FrameArray[]): Promise<void> {
  const sink = await createTiffStackWriter(path, info);
  for (const f of frames) await sink.writeFrame(f);
  await sink.commit();
}

/** The top-left size x size crop of frames of a TIFF (channel optional). */
async function crop(path: string, size: number, frames: number[], channel?: number): Promise<{ info: StackInfo; frames: FrameArray[] }> {
  const r = await openTiffStack(path, channel === undefined ? {} : { channel });
  try {
    const out: FrameArray[] = [];
    for (const t of frames) {
      const f = await r.readFrame(t);
      const c = new (f.constructor as new (n: number) => FrameArray)(size * size);
      for (let y = 0; y < size; y++) c.set(f.subarray(y * r.info.width, y * r.info.width + size), y * size);
      out.push(c);
    }
    return { info: { ...r.info, frames: frames.length, height: size, width: size }, frames: out };
  } finally {
    await r.close();
  }
}

const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as TrustReport;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'pssr-trust-'));
  lr = join(work, 'lr.tif');
  const c = await crop(join(REPO, 'examples', 'em-lr.tif'), 96, [0, 1]);
  await writeStack(lr, c.info, c.frames);
});
after(() => rmSync(work, { recursive: true, force: true }));

test('restore --tta --report writes the four report files and prints the verdict line', async () => {
  const out = join(work, 'tta.tif');
  const dir = join(work, 'tta-report');
  const r = await pssr(['restore', lr, '-o', out, '--model', 'em', '--device', 'cpu', '--tta', '--report', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(dir).sort(), ['consistency.tif', 'preview.png', 'report.json', 'uncertainty.tif']);
  const report = readReport(dir);
  assert.match(r.stdout, /with TTA \(8 orientations\)/);
  assert.ok(r.stdout.includes(report.summary.verdict), r.stdout);
  assert.equal(report.tta, true);
  assert.equal(report.model.name, 'em');
  assert.equal(report.model.calibrated, true);
  assert.ok(report.thresholds && report.thresholds.rse > 0);
  assert.deepEqual(report.frames.map((f) => f.index), [0, 1]);
  assert.ok(report.frames.every((f) => f.uncertainty !== null && f.uncertainty > 0));
  // Clean held-out EM restored with em: within the model's validation range.
  assert.equal(report.summary.flagged, false, JSON.stringify(report.frames.map((f) => f.flags)));
  const u = await openTiffStack(join(dir, 'uncertainty.tif'));
  assert.deepEqual([u.info.frames, u.info.height, u.info.width], [2, 384, 384]);
  await u.close();
});

test('check refuses a restoration that is not 4x or has another frame count, and writes nothing', async () => {
  const c = await crop(join(REPO, 'examples', 'em-lr.tif'), 96, [0, 1, 2]);
  const three = join(work, 'three.tif');
  await writeStack(three, c.info, c.frames);
  const notFour = join(work, 'not4.tif');
  await writeStack(notFour, { ...c.info, frames: 2, height: 3 * 96, width: 3 * 96 }, [new Uint8Array(9 * 96 * 96), new Uint8Array(9 * 96 * 96)]);
  const dir = join(work, 'refused');
  let r = await pssr(['check', '--input', lr, '--restored', notFour, '--model', 'em', '--report', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /must be exactly 384x384/);
  r = await pssr(['check', '--input', three, '--restored', lr, '--model', 'em', '--report', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /has 2 frame\(s\) but .* has 3/);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  assert.ok(!existsSync(dir), 'no report folder');
  assert.ok(!readdirSync(work).some((n) => n.includes('.partial-')), 'no staging folder');
});

test('restore --report into a non-empty folder fails before restoring and leaves no output', async () => {
  const out = join(work, 'busy.tif');
  const r = await pssr(['restore', lr, '-o', out, '--model', 'em', '--device', 'cpu', '--report', join(REPO, 'examples')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not empty/);
  assert.ok(!existsSync(out));
});

test('a vesicle-sized disc pasted into a restored frame is flagged by check at its place; the untouched frame is not', async () => {
  const out = join(work, 'plain.tif');
  let r = await pssr(['restore', lr, '-o', out, '--model', 'em', '--device', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  const restored = await crop(out, 384, [0, 1]);
  // ssTEM at 4.6 nm/px: a synaptic vesicle (~40-50 nm) is ~10 output px across. Dark disc, radius 5.
  const [cx, cy, rad] = [200, 140, 5];
  const f1 = restored.frames[1]!;
  for (let y = cy - rad; y <= cy + rad; y++) for (let x = cx - rad; x <= cx + rad; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= rad * rad) f1[y * 384 + x] = 30;
  const pasted = join(work, 'pasted.tif');
  await writeStack(pasted, restored.info, restored.frames);
  const dir = join(work, 'pasted-report');
  r = await pssr(['check', '--input', lr, '--restored', pasted, '--model', 'em', '--report', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^trust: FLAGGED 1 of 2 frames; frame 2: .*region/m);
  const report = readReport(dir);
  assert.deepEqual(report.summary.flaggedFrames, [1]);
  assert.deepEqual(report.frames[0]!.flags, []);
  const regions = report.frames[1]!.regions;
  assert.ok(regions.length >= 1);
  const g = regions[0]!;
  assert.ok(4 * g.x <= cx && cx < 4 * (g.x + g.w) && 4 * g.y <= cy && cy < 4 * (g.y + g.h), `worst region ${JSON.stringify(g)} holds the disc at (${cx}, ${cy})`);
  assert.ok(4 * g.w <= 64 && 4 * g.h <= 64, `the region is local (${4 * g.w}x${4 * g.h} output px)`);
});

test('fluorescence restored with em, and EM restored with fluo, are flagged out of distribution', async () => {
  // HeLa mitochondria (widefield fluorescence): em never saw fluorescence. Degraded as an LR acquisition would be.
  const hela = await crop(join(DATA, 'fluo', 'hela-cells.tif'), 512, [0], 1);
  const helaHr = join(work, 'hela-hr.tif');
  await writeStack(helaHr, hela.info, hela.frames);
  const cases: [string, string, string][] = [
    ['em', helaHr, 'fluo'],
    ['fluo', join(DATA, 'em-sstem-vnc', 'stack1_19.tif'), 'em'],
  ];
  for (const [model, hr, recipe] of cases) {
    const lrPath = join(work, `ood-${model}-lr.tif`);
    const outPath = join(work, `ood-${model}.tif`);
    const dir = join(work, `ood-${model}-report`);
    // The LR input an acquisition would give: degraded with the data's own recipe.
    const src = await openTiffStack(hr);
    const lrStack = degradedSource(src, degradationSpec(recipe as 'em' | 'fluo'), 5);
    const frames = [await lrStack.readFrame(0)];
    await src.close();
    await writeStack(lrPath, { ...lrStack.info, frames: 1 }, frames);
    let r = await pssr(['restore', lrPath, '-o', outPath, '--model', model, '--device', 'cpu', '--tta', '--report', dir]);
    assert.equal(r.code, 0, r.stderr);
    const report = readReport(dir);
    assert.equal(report.summary.flagged, true, `${model} on ${recipe} data: ${report.summary.verdict}`);
    assert.match(r.stdout, new RegExp(`the input may not be the kind of data ${model} was trained on`));
    r = await pssr(['check', '--input', lrPath, '--restored', outPath, '--model', model, '--report', join(dir, 'check')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readReport(join(dir, 'check')).summary.flagged, true, 'check flags it without TTA too');
  }
});
