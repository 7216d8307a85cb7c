/**
 * `npm run bench:trust`: evidence and cost of the trust report (issue 8 items 2, 7, 8), printed as numbers.
 * - TTA quality and the maps' tile-level Spearman correlation with the true error |restored - HR| on the em
 *   model's held-out ssTEM sections 16-19 (never trained on; they did choose its checkpoints);
 * - what the flags say on clean held-out EM, fluorescence restored with em and EM restored with fluo;
 * - cost: the report's share of a CPU restore, and what --tta costs.
 * Options: --sections 16..19 (default), --crop N (HR px, default 1024 = whole sections), --tiles a,b,c (output px per
 * Spearman tile, default 16,32,64), --skip-evidence, --skip-cost.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assessFrame, minMax, psnr, ssim, trustThresholds } from '@pssr/core';
import type { FrameArray, FrameTrust } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import type { RestoredFrame } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { TrustReportWriter, absoluteError, degradedSource, tileSpearman } from '../src/index.js';

const DATA = new URL('../../../../shared/datasets/', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const [first, last] = opt('sections', '16..19').split('..').map(Number) as [number, number];
const crop = Number(opt('crop', '1024'));
const tiles = opt('tiles', '16,32,64').split(',').map(Number);
const SEED = 7; // a noise realisation used neither by the trainer (valSeed 0) nor by calibration (101, 202, 303)

/** HR frames (cropped to `crop` x `crop` at the top left) of a TIFF, one per page or as listed. */
async function readHr(path: string, frames?: number[], channel?: number): Promise<{ frames: FrameArray[]; height: number; width: number }> {
  const r = await openTiffStack(path, channel === undefined ? {} : { channel });
  try {
    const H = Math.min(crop, r.info.height) & ~3;
    const W = Math.min(crop, r.info.width) & ~3;
    const out: FrameArray[] = [];
    for (const t of frames ?? Array.from({ length: r.info.frames }, (_, i) => i)) {
      const f = await r.readFrame(t);
      const c = new (f.constructor as new (n: number) => FrameArray)(H * W);
      for (let y = 0; y < H; y++) c.set(f.subarray(y * r.info.width, y * r.info.width + W), y * W);
      out.push(c);
    }
    return { frames: out, height: H, width: W };
  } finally {
    await r.close();
  }
}

interface Restored {
  lr: FrameArray[];
  frames: RestoredFrame[];
  seconds: number;
}

async function restore(model: ModelBundle, hr: FrameArray[], H: number, W: number, tta: boolean): Promise<Restored> {
  const dtype = hr[0] instanceof Uint8Array ? 'uint8' : hr[0] instanceof Uint16Array ? 'uint16' : 'float32';
  const src = degradedSource(MemoryFrameSource.fromFrames({ height: H, width: W, dtype, axis: 'Z' }, hr), model.card.degradation, SEED);
  const engine = await RestoreEngine.load(model, { device: 'cpu' });
  const frames: RestoredFrame[] = [];
  const sink = new MemoryFrameSink(engine.outputInfo(src.info), () => undefined);
  const timing = await engine.restore(src, sink, { tta, onFrame: (f) => void frames.push(f) });
  const lr = await Promise.all(hr.map((_, i) => src.readFrame(i)));
  return { lr, frames, seconds: timing.seconds };
}

function assess(model: ModelBundle, r: Restored, h: number, w: number): FrameTrust[] {
  const t = trustThresholds(model.card);
  return r.frames.map((f) => assessFrame({ index: f.index, lr: f.input, restored: f.output, height: h, width: w, uncertainty: f.uncertainty }, model.card, t).stats);
}

const fmt = (x: number, d = 3) => x.toFixed(d);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function evidence(): Promise<void> {
  const em = await resolveModel('em');
  const fluo = await resolveModel('fluo');
  const paths = Array.from({ length: last - first + 1 }, (_, k) => `${DATA}em-sstem-vnc/stack1_${String(first + k).padStart(2, '0')}.tif`);
  const hrs = await Promise.all(paths.map((p) => readHr(p)));
  const { height: H, width: W } = hrs[0]!;
  const hr = hrs.map((x) => x.frames[0]!);
  console.log(`em model, ssTEM sections ${first}..${last} (held out; chose em's checkpoints), ${W}x${H} HR, noise seed ${SEED}`);
  const plain = await restore(em, hr, H, W, false);
  const tta = await restore(em, hr, H, W, true);
  // PSNR/SSIM as CONTRACTS: data_range = max - min of the HR frame.
  const quality = (r: Restored) => {
    const range = (i: number) => { const m = minMax(hr[i]!); return m.max - m.min; };
    return {
      psnr: mean(r.frames.map((f, i) => psnr(hr[i]!, f.output, range(i)))),
      ssim: mean(r.frames.map((f, i) => ssim(hr[i]!, f.output, H, W, range(i)))),
    };
  };
  const qp = quality(plain);
  const qt = quality(tta);
  console.log(`  quality: plain PSNR ${fmt(qp.psnr)} dB SSIM ${fmt(qp.ssim, 4)} | TTA PSNR ${fmt(qt.psnr)} dB SSIM ${fmt(qt.ssim, 4)} | TTA - plain ${fmt(qt.psnr - qp.psnr)} dB, ${fmt(qt.ssim - qp.ssim, 4)} SSIM`);
  const stats = assess(em, tta, H / 4, W / 4);
  for (const tile of tiles) {
    const rhoU: number[] = [];
    const rhoC: number[] = [];
    for (let i = 0; i < hr.length; i++) {
      const f = tta.frames[i]!;
      const err = absoluteError(f.output, hr[i]!);
      rhoU.push(tileSpearman(f.uncertainty!, err, H, W, tile));
      const res = assessFrame({ index: i, lr: f.input, restored: f.output, height: H / 4, width: W / 4 }, em.card, null).residual;
      rhoC.push(tileSpearman(res, err, H, W, tile, 4));
    }
    console.log(`  Spearman with |restored - HR| over tiles of ${tile}x${tile} output px, per section: uncertainty ${rhoU.map((r) => fmt(r)).join(' ')} (mean ${fmt(mean(rhoU))}); consistency ${rhoC.map((r) => fmt(r)).join(' ')} (mean ${fmt(mean(rhoC))})`);
  }
  console.log(`  flags on clean held-out EM with em: ${stats.filter((s) => s.flags.length > 0).length} of ${stats.length} frames flagged${stats.flatMap((s) => s.flags).map((f) => ` [${f.kind}: ${f.reason}]`).join('')}`);

  // Out of distribution: fluorescence restored with em, EM restored with fluo.
  const hela = await readHr(`${DATA}fluo/hela-cells.tif`, [0], 1);
  const mito = await readHr(`${DATA}fluo/mitocheck/T24.tif`);
  for (const [name, x] of [['hela-cells ch1', hela], ['mitocheck T24', mito]] as const) {
    const s = assess(em, await restore(em, x.frames, x.height, x.width, true), x.height / 4, x.width / 4);
    console.log(`  fluorescence ${name} with em: ${s.filter((f) => f.flags.length > 0).length} of ${s.length} flagged: ${s.flatMap((f) => f.flags.map((g) => g.kind)).join(', ') || 'none'}`);
  }
  const emFluo = assess(fluo, await restore(fluo, hr, H, W, true), H / 4, W / 4);
  console.log(`  EM sections with fluo: ${emFluo.filter((f) => f.flags.length > 0).length} of ${emFluo.length} flagged: ${[...new Set(emFluo.flatMap((f) => f.flags.map((g) => g.kind)))].join(', ') || 'none'}`);
}

async function cost(): Promise<void> {
  const em = await resolveModel('em');
  const { frames, height: H, width: W } = await readHr(`${DATA}em-sstem-vnc/stack1_19.tif`);
  const stack = Array.from({ length: 4 }, () => frames[0]!);
  const engine = await RestoreEngine.load(em, { device: 'cpu' });
  const src = degradedSource(MemoryFrameSource.fromFrames({ height: H, width: W, dtype: 'uint8', axis: 'Z' }, stack), em.card.degradation, SEED);
  for (let i = 0; i < stack.length; i++) await src.readFrame(i); // degrade outside the timings
  const sink = () => new MemoryFrameSink(engine.outputInfo(src.info), () => undefined);
  await engine.restore(src, sink()); // warm-up
  const dir = await mkdtemp(join(tmpdir(), 'pssr-bench-trust-'));
  // Wall time moves with the load of a shared machine; CPU time (all threads of this process) much less.
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const runs: { plain: number; report: number; plainCpu: number; reportCpu: number }[] = [];
  try {
    for (let k = 0; k < 3; k++) {
      let c0 = cpu();
      const plain = (await engine.restore(src, sink())).seconds;
      const plainCpu = cpu() - c0;
      // The whole report as the CLI writes it: statistics, consistency.tif, report.json, preview.png.
      const t0 = performance.now();
      c0 = cpu();
      const writer = await TrustReportWriter.create(join(dir, `r${k}`), { model: em, input: src.info, tta: false });
      await engine.restore(src, sink(), { onFrame: (f) => writer.addFrame(f).then(() => undefined) });
      await writer.finish();
      runs.push({ plain, plainCpu, report: (performance.now() - t0) / 1000, reportCpu: cpu() - c0 });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const best = (f: (r: (typeof runs)[number]) => number) => Math.min(...runs.map(f));
  const plainBest = best((r) => r.plain);
  const reportBest = best((r) => r.report);
  console.log(`cost, em on CPU, ${stack.length} frames ${W / 4}x${H / 4} -> ${W}x${H} (best of 3): restore ${fmt(plainBest)} s wall / ${fmt(best((r) => r.plainCpu))} s CPU; restore + trust report ${fmt(reportBest)} s wall (+${fmt(100 * (reportBest / plainBest - 1), 1)}%) / ${fmt(best((r) => r.reportCpu))} s CPU (+${fmt(100 * (best((r) => r.reportCpu) / best((r) => r.plainCpu) - 1), 1)}%)`);
  const tta = await engine.restore(src, sink(), { tta: true });
  console.log(`  --tta: ${fmt(tta.seconds)} s (${fmt(tta.seconds / plainBest, 1)}x the plain restore)`);
}

if (!args.includes('--skip-evidence')) await evidence();
if (!args.includes('--skip-cost')) await cost();
