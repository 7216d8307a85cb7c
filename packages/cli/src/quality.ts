/**
 * Quality numbers against an HR reference (docs/CONTRACTS.md "Quality metrics"): PSNR and SSIM with the
 * reference frame's own data range, averaged over frames, for the restoration and for bilinear and bicubic
 * upsampling of the same LR frames (pixel-centre geometry), plus optionally FRC resolution.
 * Baselines are rounded to the stack's dtype, as the restoration is when it is written.
 */
import { frcResolution, minMax, psnr, ssim, toDType, upsampleBicubic4, upsampleBilinear4 } from '@pssr/core';
import type { FrameArray } from '@pssr/core';

export type Method = 'model' | 'bicubic' | 'bilinear';
export const METHODS: Method[] = ['model', 'bicubic', 'bilinear'];

export interface QualityReport {
  frames: number;
  psnr: Record<Method, number>;
  ssim: Record<Method, number>;
  /** FRC resolution (1/7 threshold) against the reference, in pixels of the HR grid, when computed. */
  frc?: Record<Method, number>;
}

export class QualityMeter {
  private frames = 0;
  private readonly sums = { psnr: zero(), ssim: zero(), frc: zero() };

  constructor(private readonly withFrc = false) {}

  /**
   * hr: the reference frame (hrHeight x hrWidth, cropped here to 4h x 4w), lr: the LR input frame (h x w),
   * restored: the model output (4h x 4w).
   */
  add(hr: FrameArray | Float32Array, hrWidth: number, lr: FrameArray | Float32Array, h: number, w: number, restored: FrameArray): void {
    const H = 4 * h;
    const W = 4 * w;
    const ref = cropTo(hr, hrWidth, H, W);
    const { min, max } = minMax(ref);
    const range = max - min;
    const lrFloat = lr instanceof Float32Array ? lr : Float32Array.from(lr);
    const dtype = restored instanceof Uint8Array ? 'uint8' : restored instanceof Uint16Array ? 'uint16' : 'float32';
    const images: Record<Method, ArrayLike<number>> = {
      model: restored,
      bicubic: toDType(upsampleBicubic4(lrFloat, h, w), dtype),
      bilinear: toDType(upsampleBilinear4(lrFloat, h, w), dtype),
    };
    for (const m of METHODS) {
      this.sums.psnr[m] += psnr(ref, images[m], range);
      this.sums.ssim[m] += ssim(ref, images[m], H, W, range);
      if (this.withFrc) this.sums.frc[m] += frcResolution(images[m], ref, H, W).resolution;
    }
    this.frames++;
  }

  result(): QualityReport {
    const avg = (r: Record<Method, number>) => Object.fromEntries(METHODS.map((m) => [m, r[m] / this.frames])) as Record<Method, number>;
    const report: QualityReport = { frames: this.frames, psnr: avg(this.sums.psnr), ssim: avg(this.sums.ssim) };
    if (this.withFrc) report.frc = avg(this.sums.frc);
    return report;
  }
}

function zero(): Record<Method, number> {
  return { model: 0, bicubic: 0, bilinear: 0 };
}

function cropTo(frame: ArrayLike<number>, width: number, H: number, W: number): Float64Array {
  const out = new Float64Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = frame[y * width + x]!;
  return out;
}

/** A small table: one line per method, the model first. */
export function formatQuality(report: QualityReport, modelName: string, against: string): string {
  const name = (m: Method) => (m === 'model' ? `${modelName} (model)` : m);
  const width = Math.max(...METHODS.map((m) => name(m).length));
  const lines = [`quality against ${against} (${report.frames} frame${report.frames === 1 ? '' : 's'}; PSNR in dB, SSIM${report.frc ? ', FRC resolution in HR px' : ''}):`];
  for (const m of METHODS) {
    let line = `  ${name(m).padEnd(width)}  PSNR ${report.psnr[m].toFixed(2).padStart(6)}  SSIM ${report.ssim[m].toFixed(4)}`;
    if (report.frc) line += `  FRC ${Number.isFinite(report.frc[m]) ? report.frc[m].toFixed(2) : 'n/a'}`;
    lines.push(line);
  }
  const best = Math.max(report.psnr.bicubic, report.psnr.bilinear);
  lines.push(`  model vs better interpolation: ${signed(report.psnr.model - best)} dB PSNR, ${signed(report.ssim.model - Math.max(report.ssim.bicubic, report.ssim.bilinear), 4)} SSIM`);
  return lines.join('\n') + '\n';
}

function signed(v: number, digits = 2): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
}
