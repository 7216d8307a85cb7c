/**
 * Pixel-size matching (issue 12; PSSR, Fang et al., resampled 10 nm FIB-SEM to its model's 8 nm first):
 * when a stack's pixel size lies outside what a model was trained for, resample the LR input to the
 * model's pixel size, restore, and resample the output back, so the output is still exactly 4x the input.
 *
 * Resampling is Pillow's antialiased bicubic (Keys a = -0.5, kernel widened by the reduction factor when
 * shrinking, pixel centres, truncated and renormalised at the borders), so the TypeScript and the trainer's
 * Pillow resampling agree; test vectors in test/vectors/resize.json come from Pillow.
 */
import { PssrError } from './errors.js';
import { keysCubic } from './interp.js';
import type { ModelCard } from './modelcard.js';
import { toDType } from './normalize.js';
import type { FrameArray, FrameSink, FrameSource, PixelSize, StackInfo } from './types.js';

import { toNanometres, trainedPixelRange, withinPixelRange } from './trust/pixelsize.js';

export interface PixelSizeMatch {
  /** The input's LR pixel size and the model's, in nm, per axis. */
  from: { x: number; y: number };
  to: { x: number; y: number };
  /** For messages: what the card says the model was trained for. */
  trainedFor: string;
}

/**
 * null when the input's pixel size is unknown, not a length, or inside the model's range; otherwise the
 * resampling that brings each axis to the nearest end of the range (or to the card's single pixel size).
 */
export function pixelSizeMatch(input: PixelSize | undefined, card: Pick<ModelCard, 'inputPixelSize' | 'inputPixelSizeRange'>): PixelSizeMatch | null {
  if (!input) return null;
  const range = trainedPixelRange(card);
  const x = toNanometres(input.x, input.unit);
  const y = toNanometres(input.y, input.unit);
  if (!range || x === null || y === null) return null;
  const [lo, hi] = range;
  const single = !card.inputPixelSizeRange && card.inputPixelSize ? toNanometres(card.inputPixelSize.value, card.inputPixelSize.unit)! : undefined;
  const target = (v: number) => (withinPixelRange(v, lo, hi) ? v : single ?? (v < lo ? lo : hi));
  if (target(x) === x && target(y) === y) return null;
  const trainedFor = card.inputPixelSizeRange ? `${fmt(lo)}-${fmt(hi)} nm` : `${fmt(single!)} nm`;
  return { from: { x, y }, to: { x: target(x), y: target(y) }, trainedFor };
}

const fmt = (v: number) => String(Math.round(v * 100) / 100);

/** Frame size after resampling from pixel size `from` to `to` (at least 1 pixel). */
export function resampledLength(n: number, from: number, to: number): number {
  return Math.max(1, Math.round((n * from) / to));
}

/** For warnings: "the input's pixel size (40 nm) is outside what the model was trained for (18.4 nm)". */
export function describePixelSizeMatch(m: PixelSizeMatch): string {
  const px = m.from.x === m.from.y ? `${fmt(m.from.x)} nm` : `${fmt(m.from.x)} x ${fmt(m.from.y)} nm`;
  return `the input's pixel size (${px}) is outside what the model was trained for (${m.trainedFor})`;
}

interface Taps { start: Int32Array; count: Int32Array; weight: Float64Array; k: number }

/** Pillow's precompute_coeffs for the bicubic filter (support 2). */
function resizeTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const k = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weight = new Float64Array(outSize * k);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const n = Math.min(Math.trunc(centre + support + 0.5), inSize) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const wt = keysCubic((i + lo - centre + 0.5) / filterScale);
      weight[o * k + i] = wt;
      sum += wt;
    }
    for (let i = 0; i < n; i++) weight[o * k + i]! /= sum === 0 ? 1 : sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weight, k };
}

/** Antialiased bicubic resize of a row-major h x w image to outH x outW (rows first, then columns). */
export function resizeImage(src: ArrayLike<number>, h: number, w: number, outH: number, outW: number): Float32Array {
  for (const [v, what] of [[h, 'height'], [w, 'width'], [outH, 'output height'], [outW, 'output width']] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new PssrError('INVALID_ARGUMENT', `resizeImage: ${what} ${v} must be a positive integer.`, false);
  }
  if (src.length !== h * w) throw new PssrError('INVALID_ARGUMENT', `resizeImage: the array holds ${src.length} samples, ${h}x${w} needs ${h * w}.`, false);
  const cols = resizeTaps(w, outW);
  const tmp = new Float64Array(h * outW);
  for (let y = 0; y < h; y++) {
    const base = y * w;
    for (let x = 0; x < outW; x++) {
      const s = cols.start[x]!;
      const n = cols.count[x]!;
      const o = x * cols.k;
      let acc = 0;
      for (let i = 0; i < n; i++) acc += cols.weight[o + i]! * src[base + s + i]!;
      tmp[y * outW + x] = acc;
    }
  }
  const rows = resizeTaps(h, outH);
  const out = new Float32Array(outH * outW);
  const acc = new Float64Array(outW);
  for (let y = 0; y < outH; y++) {
    acc.fill(0);
    const s = rows.start[y]!;
    const n = rows.count[y]!;
    for (let i = 0; i < n; i++) {
      const wt = rows.weight[y * rows.k + i]!;
      const r = (s + i) * outW;
      for (let x = 0; x < outW; x++) acc[x]! += wt * tmp[r + x]!;
    }
    out.set(acc, y * outW);
  }
  return out;
}

function resizeFrame(data: FrameArray, from: StackInfo, to: StackInfo): FrameArray {
  return toDType(resizeImage(data, from.height, from.width, to.height, to.width), to.dtype);
}

/** The input stack at the model's pixel size (frames resampled on read, in the input's dtype). */
export class ResampledSource implements FrameSource {
  readonly info: StackInfo;

  constructor(private readonly inner: FrameSource, m: PixelSizeMatch) {
    const i = inner.info;
    this.info = { ...i, height: resampledLength(i.height, m.from.y, m.to.y), width: resampledLength(i.width, m.from.x, m.to.x) };
    if (i.pixelSize) {
      // the pixel size that results from the rounded frame size, in the input's unit
      this.info.pixelSize = { ...i.pixelSize, x: (i.pixelSize.x * i.width) / this.info.width, y: (i.pixelSize.y * i.height) / this.info.height };
    }
  }

  async readFrame(index: number): Promise<FrameArray> {
    return resizeFrame(await this.inner.readFrame(index), this.inner.info, this.info);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Takes frames restored at the model's pixel size and writes them resampled to the real output's size. */
export class ResampledSink implements FrameSink {
  readonly info: StackInfo;

  constructor(private readonly inner: FrameSink, restoredInfo: StackInfo) {
    this.info = restoredInfo;
  }

  async writeFrame(data: FrameArray): Promise<void> {
    await this.inner.writeFrame(resizeFrame(data, this.info, this.inner.info));
  }

  commit(): Promise<void> {
    return this.inner.commit();
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}
