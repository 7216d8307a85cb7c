/**
 * Tiling plan and seam-free blending for the restore engine (DESIGN.md "Restore").
 *
 * A frame is cut into overlapping LR tiles of one shape (so tiles of several frames batch together).
 * Each tile is its core plus `halo` LR pixels of context on every side; the halo is at least the network's
 * receptive-field radius, so the network output over the core equals what a whole-frame run would give.
 * Neighbouring cores overlap by a few pixels more, and inside that overlap the two outputs are cross-faded
 * with a raised-cosine ramp whose weights sum to exactly one: where both tiles are exact the blend is exact,
 * and where a network's effective context exceeds the halo the residual difference is spread smoothly
 * instead of showing as a step (a seam). Outside the image the input is reflect-padded (numpy 'reflect').
 *
 * Tile origins sit on multiples of `tile.multiple` counted from the padded origin (-halo), so networks with
 * stride-2 levels see the same sampling grid in every tile as in a whole-frame run.
 */
import { PssrError } from './errors.js';
import type { TileSpec } from './modelcard.js';

/** LR input rect incl. halo; may extend past the image (reflect-padded). `frame` is set by batchers. */
export interface TileRect {
  frame?: number;
  y: number;
  x: number;
  h: number;
  w: number;
}

/** The tiling of one axis: every tile has input length `length` and starts at `starts[k]` (may be < 0). */
export interface AxisPlan {
  length: number;
  starts: number[];
  /** Core length (length - 2 * halo) and the step between tiles; cores overlap by core - stride. */
  core: number;
  stride: number;
  halo: number;
}

/**
 * Smallest LR tile edge (incl. halo) for a card's halo and multiple: the halo on both sides plus a core of
 * twice the blend width, so neighbouring cores overlap by the blend and any point lies in at most two.
 * Used by the engine, the CLI and the API's submission check alike.
 */
export function minTileSize(tile: Pick<TileSpec, 'halo' | 'multiple'>): number {
  return 2 * tile.halo + 2 * blendWidth(tile);
}

/** `source` names what the size came from in the caller's words (`--tile`, `options.tileSize`, a card). */
export function validateTileSpec(tile: TileSpec, source = 'tile'): void {
  const { size, halo, multiple } = tile;
  const int = (v: number) => Number.isInteger(v);
  if (!int(multiple) || multiple < 1) throw new PssrError('INVALID_ARGUMENT', `${source}: multiple must be an integer >= 1 (got ${multiple}).`);
  if (!int(halo) || halo < 0 || halo % multiple !== 0) {
    throw new PssrError('INVALID_ARGUMENT', `${source}: halo must be a non-negative multiple of ${multiple} (got ${halo}).`);
  }
  const min = minTileSize(tile);
  if (!int(size) || size % multiple !== 0 || size < min) {
    throw new PssrError(
      'INVALID_ARGUMENT',
      `${source}: tile size must be a multiple of ${multiple} and at least ${min} (halo ${halo} on each side plus a core of ${min - 2 * halo}); got ${size}.`,
    );
  }
}

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;
const roundDown = (v: number, m: number) => Math.floor(v / m) * m;

/**
 * Minimum overlap of neighbouring cores, in LR pixels: the width of the cross-fade. Half the halo (at least
 * one `multiple`) gives a ramp of 2*halo HR pixels, smooth to the eye, for a modest amount of extra work.
 */
export function blendWidth(tile: Pick<TileSpec, 'halo' | 'multiple'>): number {
  return Math.max(tile.multiple, roundUp(Math.ceil(tile.halo / 2), tile.multiple));
}

/**
 * Plans one axis of `extent` LR pixels: the fewest tiles of length <= tile.size, each as short as the
 * extent allows (a small frame gets one small tile, not a mostly-padded big one).
 */
export function planAxis(extent: number, tile: TileSpec): AxisPlan {
  validateTileSpec(tile);
  if (!Number.isInteger(extent) || extent < 1) throw new PssrError('INVALID_ARGUMENT', `Cannot tile an axis of ${extent} pixels.`);
  const { size, halo, multiple: m } = tile;
  const blend = blendWidth(tile);
  const maxCore = size - 2 * halo;
  for (let count = 1; ; count++) {
    // Cores of length C with step S = C - overlap cover count*C - (count-1)*overlap pixels.
    if (count > extent + 1) throw new PssrError('INTERNAL', `No tiling of ${extent} px with ${JSON.stringify(tile)}.`, false);
    // Neighbouring cores overlap by exactly `blend` (all lengths are multiples of m); a core of at least
    // 2 * blend keeps every point inside at most two cores.
    let core = count === 1 ? roundUp(extent, m) : Math.max(2 * blend, roundUp(Math.ceil((extent + (count - 1) * blend) / count), m));
    if (core > maxCore) continue;
    let stride = count === 1 ? core : core - blend;
    while (count > 1 && (count - 1) * stride + core < extent) {
      core += m;
      stride = core - blend;
    }
    if (core > maxCore) continue;
    const starts: number[] = [];
    for (let k = 0; k < count; k++) starts.push(k * stride - halo);
    return { length: core + 2 * halo, starts, core, stride, halo };
  }
}

/** All tiles of one frame, row by row. */
export function planTiles(height: number, width: number, tile: TileSpec): TileRect[] {
  const py = planAxis(height, tile);
  const px = planAxis(width, tile);
  const rects: TileRect[] = [];
  for (const y of py.starts) for (const x of px.starts) rects.push({ y, x, h: py.length, w: px.length });
  return rects;
}

/** numpy 'reflect' (edge not repeated) index, folded as often as needed for tiles wider than the image. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let r = i % period;
  if (r < 0) r += period;
  return r < n ? r : period - r;
}

/** Copies rect (h x w) out of a height x width frame, reflect-padding where the rect leaves the frame. */
export function extractTile(frame: Float32Array, height: number, width: number, rect: TileRect, out?: Float32Array): Float32Array {
  const { y, x, h, w } = rect;
  const dst = out ?? new Float32Array(h * w);
  if (dst.length < h * w) throw new PssrError('INTERNAL', `Tile buffer of ${dst.length} values is smaller than ${h}x${w}.`, false);
  const inside = x >= 0 && x + w <= width;
  const cols = inside ? null : Int32Array.from({ length: w }, (_, j) => reflectIndex(x + j, width));
  for (let i = 0; i < h; i++) {
    const row = reflectIndex(y + i, height) * width;
    const o = i * w;
    if (cols === null) {
      dst.set(frame.subarray(row + x, row + x + w), o);
    } else {
      for (let j = 0; j < w; j++) dst[o + j] = frame[row + cols[j]!]!;
    }
  }
  return dst;
}

/** HR weights of one tile along one axis, and where they are non-zero and exactly one. */
interface AxisWindow {
  weights: Float64Array;
  /** weights are > 0 on [nonZeroStart, nonZeroEnd) and exactly 1 on [oneStart, oneEnd). */
  nonZeroStart: number;
  nonZeroEnd: number;
  oneStart: number;
  oneEnd: number;
}

/**
 * Per-tile HR weights of one axis. Tile k's weight is 1 over its core, ramps with a raised cosine over the
 * overlap with each neighbour (the neighbour's ramp is the exact complement) and is 0 in the halo, except on
 * the image's own borders where nothing else covers those pixels.
 */
function axisWeights(plan: AxisPlan, scale: number): AxisWindow[] {
  const n = plan.starts.length;
  const overlap = plan.core - plan.stride; // LR pixels shared by neighbouring cores
  return plan.starts.map((start, k) => {
    const weights = new Float64Array(plan.length * scale);
    const coreStart = start + plan.halo; // image coordinates (LR)
    const coreEnd = coreStart + plan.core;
    for (let j = 0; j < weights.length; j++) {
      const pos = start + (j + 0.5) / scale; // HR pixel centre in LR units
      let w = 1;
      if (k > 0) {
        // rising ramp over [coreStart, coreStart + overlap]
        if (pos < coreStart) w = 0;
        else if (pos < coreStart + overlap) w *= ramp((pos - coreStart) / overlap);
      }
      if (k < n - 1) {
        // falling ramp over [coreEnd - overlap, coreEnd]
        if (pos >= coreEnd) w = 0;
        else if (pos > coreEnd - overlap) w *= ramp((coreEnd - pos) / overlap);
      }
      weights[j] = w;
    }
    const nonZero = [...weights.keys()].filter((j) => weights[j]! > 0);
    const one = nonZero.filter((j) => weights[j] === 1);
    return {
      weights,
      nonZeroStart: nonZero[0] ?? 0,
      nonZeroEnd: (nonZero[nonZero.length - 1] ?? -1) + 1,
      oneStart: one[0] ?? 0,
      oneEnd: (one[one.length - 1] ?? -1) + 1,
    };
  });
}

// Every frame of a stack has the same plan and weights: compute them once per (extent, tile, scale).
const layouts = new Map<string, { plan: AxisPlan; windows: AxisWindow[] }>();

function axisLayout(extent: number, tile: TileSpec, scale: number): { plan: AxisPlan; windows: AxisWindow[] } {
  const key = `${extent}/${tile.size}/${tile.halo}/${tile.multiple}/${scale}`;
  let layout = layouts.get(key);
  if (!layout) {
    const plan = planAxis(extent, tile);
    layout = { plan, windows: axisWeights(plan, scale) };
    if (layouts.size > 64) layouts.clear();
    layouts.set(key, layout);
  }
  return layout;
}

/** Raised cosine: ramp(u) + ramp(1 - u) = 1. */
function ramp(u: number): number {
  return 0.5 - 0.5 * Math.cos(Math.PI * u);
}

/** Accumulates 4x tile outputs of one frame into the HR frame with the smooth window. */
export class TileBlender {
  readonly outHeight: number;
  readonly outWidth: number;
  private readonly acc: Float32Array;
  private readonly py: AxisPlan;
  private readonly px: AxisPlan;
  private readonly wy: AxisWindow[];
  private readonly wx: AxisWindow[];
  private remaining: number;

  /**
   * `buffer`: optional storage for the result (at least 16 * height * width values) to reuse between
   * frames; it is zeroed here. Reusing it matters: a fresh multi-megabyte array costs a page fault per 4 KB
   * on first touch (measured ~20 ms for 4 MB on the development VM, more than blending itself).
   */
  constructor(
    readonly height: number,
    readonly width: number,
    tile: TileSpec,
    readonly scale: 4,
    buffer?: Float32Array,
  ) {
    const y = axisLayout(height, tile, scale);
    const x = axisLayout(width, tile, scale);
    this.py = y.plan;
    this.px = x.plan;
    this.wy = y.windows;
    this.wx = x.windows;
    this.outHeight = height * scale;
    this.outWidth = width * scale;
    const size = this.outHeight * this.outWidth;
    if (buffer && buffer.length >= size) {
      this.acc = buffer.length === size ? buffer : buffer.subarray(0, size);
      this.acc.fill(0);
    } else {
      this.acc = new Float32Array(size);
    }
    this.remaining = this.py.starts.length * this.px.starts.length;
  }

  /** Tiles still to add before result() is complete. */
  get pending(): number {
    return this.remaining;
  }

  add(rect: TileRect, hrTile: Float32Array): void {
    const ky = this.py.starts.indexOf(rect.y);
    const kx = this.px.starts.indexOf(rect.x);
    const s = this.scale;
    const th = this.py.length * s;
    const tw = this.px.length * s;
    if (ky < 0 || kx < 0 || rect.h !== this.py.length || rect.w !== this.px.length || hrTile.length < th * tw) {
      throw new PssrError('INTERNAL', `Tile ${JSON.stringify(rect)} is not part of this frame's tiling plan.`, false);
    }
    const wy = this.wy[ky]!;
    const wx = this.wx[kx]!;
    const weightX = wx.weights;
    const oy = rect.y * s;
    const ox = rect.x * s;
    const acc = this.acc;
    // Only the part of the tile inside the image, and only where the weight is non-zero, is accumulated.
    const j0 = Math.max(0, -ox, wx.nonZeroStart);
    const j1 = Math.min(tw, this.outWidth - ox, wx.nonZeroEnd);
    // Where both weights are exactly one no other tile contributes (cores overlap pairwise only): copy.
    const c0 = Math.min(Math.max(wx.oneStart, j0), j1);
    const c1 = Math.max(Math.min(wx.oneEnd, j1), c0);
    const i0 = Math.max(0, -oy, wy.nonZeroStart);
    const i1 = Math.min(th, this.outHeight - oy, wy.nonZeroEnd);
    for (let i = i0; i < i1; i++) {
      const wyi = wy.weights[i]!;
      const src = i * tw;
      const dst = (oy + i) * this.outWidth + ox;
      if (wyi === 1) {
        for (let j = j0; j < c0; j++) acc[dst + j] = acc[dst + j]! + weightX[j]! * hrTile[src + j]!;
        if (c1 > c0) acc.set(hrTile.subarray(src + c0, src + c1), dst + c0);
        for (let j = c1; j < j1; j++) acc[dst + j] = acc[dst + j]! + weightX[j]! * hrTile[src + j]!;
      } else {
        for (let j = j0; j < j1; j++) acc[dst + j] = acc[dst + j]! + wyi * weightX[j]! * hrTile[src + j]!;
      }
    }
    this.remaining--;
  }

  /** The blended HR frame (outHeight x outWidth). The weights of all tiles sum to one at every pixel. */
  result(): Float32Array {
    return this.acc;
  }
}
