/**
 * `npm run bench:trust`: evidence and cost of the trust report (issue 8 items 2, 7, 8), printed as numbers.
 * The em model's splits (its card): trained on ssTEM sections 0..15 and FIB-SEM sample1 + sample3 z 0..89;
 * checkpoint chosen on sections 16..17 and sample3 z 95..129; validation (never trained on, never chose a
 * checkpoint) sections 18..19 and sample2, on which its trust statistics were also calibrated.
 * - TTA quality and the maps' tile-level Spearman correlation with the true error |restored - HR| on the
 *   validation split (calibration does not enter these numbers), next to a content-only baseline map (edge
 *   strength of the restoration): the uncertainty map is worth something only where it beats that;
 * - flags on clean EM that neither trained nor calibrated em (the checkpoint split), fluorescence restored with
 *   em and EM restored with fluo;
 * - cost: the report's share of a CPU restore, and what --tta costs.
 * Options: --crop N (HR px, default 1024 = whole sections), --tiles a,b,c (output px per Spearman tile,
 * default 16,32,64), --skip-evidence, --skip-cost.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATASETS } from '../../../test/e2e/support/datasets.js';
import { assessFrame, minMax, psnr, ssim, trustThresholds } from '@pssr/core';
import type { FrameArray, FrameTrust } from '@pssr/core';
import { MemoryFrameSink, MemoryFrameSource, RestoreEngine } from '@pssr/inference';
import type { RestoredFrame } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import type { ModelBundle } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { TrustReportWriter, absoluteError, degradedSource, tileSpearman } from '../src/index.js';

const DATA = DATASETS;
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
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

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, k) => a + k);
const section = (n: number) => `${DATA}em-sstem-vnc/stack1_${String(n).padStart(2, '0')}.tif`;

/** HR frames of one source: ssTEM sections (one file each) or slices of one FIB-SEM volume. */
async function readSource(src: { sections: number[] } | { volume: string; slices: number[] }): Promise<{ frames: FrameArray[]; height: number; width: number }> {
  if ('volume' in src) return readHr(`${DATA}em-fibsem-medulla/${src.volume}.tif`, src.slices);
  const parts = await Promise.all(src.sections.map((n) => readHr(section(n))));
  return { frames: parts.map((p) => p.frames[0]!), height: parts[0]!.height, width: parts[0]!.width };
}

/** Sobel gradient magnitude: where the image has edges, a map any error predictor must beat. */
function edgeStrength(img: ArrayLike<number>, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const p = (dy: number, dx: number) => img[(y + dy) * W + x + dx]!;
      const gx = p(-1, 1) + 2 * p(0, 1) + p(1, 1) - p(-1, -1) - 2 * p(0, -1) - p(1, -1);
      const gy = p(1, -1) + 2 * p(1, 0) + p(1, 1) - p(-1, -1) - 2 * p(-1, 0) - p(-1, 1);
      out[y * W + x] = Math.hypot(gx, gy);
    }
  }
  return out;
}

const flagLine = (stats: FrameTrust[]) => {
  const kinds = [...new Set(stats.flatMap((s) => s.flags.map((f) => f.kind)))];
  return `${stats.filter((s) => s.flags.length > 0).length} of ${stats.length} frames flagged${kinds.length ? ` (${kinds.join(', ')})` : ''}`;
};

async function evidence(): Promise<void> {
  const em = await resolveModel('em');
  const fluo = await resolveModel('fluo');
  const range01 = (hr: FrameArray) => { const m = minMax(hr); return m.max - m.min; };
  console.log(`em model, noise seed ${SEED}; Spearman over tiles of ${tiles.join(', ')} output px, mean over frames`);
  const validation = [
    { name: 'ssTEM sections 18..19', src: { sections: [18, 19] } },
    { name: 'FIB-SEM sample2 (125 slices)', src: { volume: 'sample2', slices: range(0, 124) } },
  ];
  console.log('validation split (never trained on, never chose a checkpoint):');
  for (const v of validation) {
    const { frames: hr, height: H, width: W } = await readSource(v.src);
    const plain = await restore(em, hr, H, W, false);
    const tta = await restore(em, hr, H, W, true);
    // PSNR/SSIM as CONTRACTS: data_range = max - min of the HR frame.
    const quality = (r: Restored) => ({
      psnr: mean(r.frames.map((f, i) => psnr(hr[i]!, f.output, range01(hr[i]!)))),
      ssim: mean(r.frames.map((f, i) => ssim(hr[i]!, f.output, H, W, range01(hr[i]!)))),
    });
    const qp = quality(plain);
    const qt = quality(tta);
    console.log(`  ${v.name}, ${W}x${H} HR: plain PSNR ${fmt(qp.psnr)} dB SSIM ${fmt(qp.ssim, 4)} | TTA PSNR ${fmt(qt.psnr)} dB SSIM ${fmt(qt.ssim, 4)} | TTA - plain ${fmt(qt.psnr - qp.psnr)} dB, ${fmt(qt.ssim - qp.ssim, 4)} SSIM`);
    for (const tile of tiles.filter((t) => Math.floor(H / t) * Math.floor(W / t) >= 16)) {
      const rho = { uncertainty: [] as number[], consistency: [] as number[], edges: [] as number[] };
      tta.frames.forEach((f, i) => {
        const err = absoluteError(f.output, hr[i]!);
        rho.uncertainty.push(tileSpearman(f.uncertainty!, err, H, W, tile));
        const res = assessFrame({ index: i, lr: f.input, restored: f.output, height: H / 4, width: W / 4 }, em.card, null).residual;
        rho.consistency.push(tileSpearman(res, err, H, W, tile, 4));
        rho.edges.push(tileSpearman(edgeStrength(f.output, H, W), err, H, W, tile));
      });
      console.log(`    tiles ${tile}x${tile} (${Math.floor(H / tile) * Math.floor(W / tile)} per frame): uncertainty ${fmt(mean(rho.uncertainty))}, consistency ${fmt(mean(rho.consistency))}, edge-strength baseline ${fmt(mean(rho.edges))}`);
    }
  }

  console.log('clean EM that trained neither em nor its calibration (the checkpoint split), with TTA:');
  for (const v of [{ name: 'ssTEM sections 16..17', src: { sections: [16, 17] } }, { name: 'FIB-SEM sample3 z 95..129', src: { volume: 'sample3', slices: range(95, 129) } }]) {
    const { frames: hr, height: H, width: W } = await readSource(v.src);
    console.log(`  ${v.name}: ${flagLine(assess(em, await restore(em, hr, H, W, true), H / 4, W / 4))}`);
  }

  console.log('out of distribution, with TTA:');
  const hela = await readHr(`${DATA}fluo/hela-cells.tif`, [0], 1);
  const mito = await readHr(`${DATA}fluo/mitocheck/T24.tif`);
  for (const [name, x] of [['hela-cells ch1', hela], ['mitocheck T24', mito]] as const) {
    console.log(`  fluorescence ${name} with em: ${flagLine(assess(em, await restore(em, x.frames, x.height, x.width, true), x.height / 4, x.width / 4))}`);
  }
  const emHr = await readSource({ sections: [18, 19] });
  console.log(`  EM sections 18..19 with fluo: ${flagLine(assess(fluo, await restore(fluo, emHr.frames, emHr.height, emHr.width, true), emHr.height / 4, emHr.width / 4))}`);
}

/** Restore alone and restore + the whole report as the CLI writes it, best of 3 each, for stacks of `sizes` frames. */
async function cost(): Promise<void> {
  const em = await resolveModel('em');
  const sections = await Promise.all(range(4, 19).map((n) => readHr(section(n))));
  const { height: H, width: W } = sections[0]!;
  const engine = await RestoreEngine.load(em, { device: 'cpu' });
  // Wall time moves with the load of a shared machine; CPU time (all threads of this process) much less.
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const dir = await mkdtemp(join(tmpdir(), 'pssr-bench-trust-'));
  console.log(`cost, em on CPU, ${W / 4}x${H / 4} -> ${W}x${H} frames (best of 3; wall / CPU seconds):`);
  try {
    for (const frames of [1, 4, 16]) {
      const src = degradedSource(MemoryFrameSource.fromFrames({ height: H, width: W, dtype: 'uint8', axis: 'Z' }, sections.slice(0, frames).map((x) => x.frames[0]!)), em.card.degradation, SEED);
      for (let i = 0; i < frames; i++) await src.readFrame(i); // degrade outside the timings
      const sink = () => new MemoryFrameSink(engine.outputInfo(src.info), () => undefined);
      await engine.restore(src, sink()); // warm-up
      const runs: { plain: number; report: number; plainCpu: number; reportCpu: number }[] = [];
      for (let k = 0; k < 3; k++) {
        let c0 = cpu();
        let t0 = performance.now();
        await engine.restore(src, sink());
        const plain = (performance.now() - t0) / 1000;
        const plainCpu = cpu() - c0;
        // The whole report as the CLI writes it: statistics, consistency.tif, report.json, preview.png.
        t0 = performance.now();
        c0 = cpu();
        const writer = await TrustReportWriter.create(join(dir, `r${frames}-${k}`), { model: em, input: src.info, tta: false });
        await engine.restore(src, sink(), { onFrame: (f) => writer.addFrame(f).then(() => undefined) });
        await writer.finish();
        runs.push({ plain, plainCpu, report: (performance.now() - t0) / 1000, reportCpu: cpu() - c0 });
      }
      const best = (f: (r: (typeof runs)[number]) => number) => Math.min(...runs.map(f));
      const [pw, pc, rw, rc] = [best((r) => r.plain), best((r) => r.plainCpu), best((r) => r.report), best((r) => r.reportCpu)];
      console.log(`  ${String(frames).padStart(2)} frame${frames === 1 ? ' ' : 's'}: restore ${fmt(pw)} / ${fmt(pc)} s; with the report ${fmt(rw)} / ${fmt(rc)} s: +${fmt(100 * (rw / pw - 1), 1)}% wall, +${fmt(100 * (rc / pc - 1), 1)}% CPU`);
      if (frames === 4) {
        const t0 = performance.now();
        await engine.restore(src, sink(), { tta: true });
        const tta = (performance.now() - t0) / 1000;
        console.log(`     --tta on these 4 frames: ${fmt(tta)} s wall (${fmt(tta / pw, 1)}x the plain restore)`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (!args.includes('--skip-evidence')) await evidence();
if (!args.includes('--skip-cost')) await cost();
