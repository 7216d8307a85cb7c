/**
 * Signal-to-noise ratio as the PSSR paper defines it (Fang et al. 2021, Methods): SNR = (I_max - mean_bg)
 * / sd_bg. Background rule (automatic, the same for every image so numbers compare): cut the LR frame into
 * a BACKGROUND_GRID x BACKGROUND_GRID grid of blocks and take the block with the lowest mean (the darkest
 * region, the usual background ROI in fluorescence); I_max is the image's maximum. The bilinear input and
 * the restoration are measured on the same block, so their SNRs compare. The block is found on the LR
 * frame's grid (the same blocks, 16x fewer pixels), and the bilinear input's SNR is computed without
 * upsampling the whole frame (bilinearSnr).
 */
import { upsampleBilinear4 } from '../interp.js';
import { minMax } from '../stats.js';

export const BACKGROUND_GRID = 8;

export interface BackgroundBlock {
  y: number;
  x: number;
  h: number;
  w: number;
}

/** The darkest block of the grid (ties: the first in row-major order). */
export function backgroundBlock(image: ArrayLike<number>, height: number, width: number): BackgroundBlock {
  const rows = Math.min(BACKGROUND_GRID, height);
  const cols = Math.min(BACKGROUND_GRID, width);
  let best: BackgroundBlock = { y: 0, x: 0, h: height, w: width };
  let bestMean = Infinity;
  for (let by = 0; by < rows; by++) {
    const y0 = Math.floor((by * height) / rows);
    const y1 = Math.floor(((by + 1) * height) / rows);
    for (let bx = 0; bx < cols; bx++) {
      const x0 = Math.floor((bx * width) / cols);
      const x1 = Math.floor(((bx + 1) * width) / cols);
      const { mean } = blockStats(image, width, { y: y0, x: x0, h: y1 - y0, w: x1 - x0 });
      if (mean < bestMean) {
        bestMean = mean;
        best = { y: y0, x: x0, h: y1 - y0, w: x1 - x0 };
      }
    }
  }
  return best;
}

/** (max - mean_bg) / sd_bg on `block`; null when the background is perfectly flat (sd 0). */
export function snr(image: ArrayLike<number>, height: number, width: number, block: BackgroundBlock = backgroundBlock(image, height, width)): number | null {
  const { mean, sd } = blockStats(image, width, block);
  const { max } = minMax(image);
  return sd > 0 ? (max - mean) / sd : null;
}

function blockStats(image: ArrayLike<number>, width: number, b: BackgroundBlock): { mean: number; sd: number } {
  let s = 0;
  let ss = 0;
  for (let y = b.y; y < b.y + b.h; y++) {
    for (let x = b.x; x < b.x + b.w; x++) {
      const v = image[y * width + x]!;
      s += v;
      ss += v * v;
    }
  }
  const n = b.h * b.w;
  const mean = s / n;
  return { mean, sd: Math.sqrt(Math.max(0, ss / n - mean * mean)) };
}

/**
 * SNR of the bilinear 4x upsampling of `lr` on the output block 4 x `lrBlock`, exactly as snr() on the
 * upsampled image would give, without making it: the block is upsampled from its LR crop with one pixel
 * of margin (bilinear taps reach one LR pixel), and the maximum is found among the output pixels where a
 * bilinear image can peak (it is linear between LR pixel centres, so per axis at output pixels 4k+1 and
 * 4k+2 next to each centre, and at the two edge pixels).
 */
export function bilinearSnr(lr: ArrayLike<number>, height: number, width: number, lrBlock: BackgroundBlock): number | null {
  const y0 = Math.max(0, lrBlock.y - 1);
  const x0 = Math.max(0, lrBlock.x - 1);
  const y1 = Math.min(height, lrBlock.y + lrBlock.h + 1);
  const x1 = Math.min(width, lrBlock.x + lrBlock.w + 1);
  const ch = y1 - y0;
  const cw = x1 - x0;
  const crop = new Float32Array(ch * cw);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) crop[y * cw + x] = lr[(y0 + y) * width + x0 + x]!;
  const up = upsampleBilinear4(crop, ch, cw);
  const block = { y: 4 * (lrBlock.y - y0), x: 4 * (lrBlock.x - x0), h: 4 * lrBlock.h, w: 4 * lrBlock.w };
  const { mean, sd } = blockStats(up, 4 * cw, block);
  return sd > 0 ? (bilinearMax(lr, height, width) - mean) / sd : null;
}

/**
 * Maximum of the bilinear 4x upsampling (pixel-centre geometry, edge clamp) of an h x w image. Every output
 * pixel where it can peak lies next to one LR centre and gives that centre's value a weight of at least
 * 0.875^2 (the rest goes to its neighbours, at most the image's maximum), so only centres whose value could
 * beat the best found so far are visited: on real frames a handful, not the whole grid.
 */
function bilinearMax(lr: ArrayLike<number>, height: number, width: number): number {
  const rows = tapsNear(height);
  const cols = tapsNear(width);
  const at = (i: number, j: number) => {
    let max = -Infinity;
    for (const [r0, r1, ty] of rows[i]!) {
      for (const [c0, c1, tx] of cols[j]!) {
        const top = lr[r0 * width + c0]! * (1 - tx) + lr[r0 * width + c1]! * tx;
        const bottom = lr[r1 * width + c0]! * (1 - tx) + lr[r1 * width + c1]! * tx;
        const v = top * (1 - ty) + bottom * ty;
        if (v > max) max = v;
      }
    }
    return max;
  };
  let top = 0;
  for (let p = 1; p < lr.length; p++) if (lr[p]! > lr[top]!) top = p;
  const peak = lr[top]!;
  let best = at(Math.floor(top / width), top % width);
  const SELF = 0.875 * 0.875;
  for (let p = 0; p < lr.length; p++) {
    // The most a peak next to this centre can reach: SELF * its value + (1 - SELF) * the image maximum.
    if (SELF * lr[p]! + (1 - SELF) * peak > best) best = Math.max(best, at(Math.floor(p / width), p % width));
  }
  return best;
}

/**
 * Per LR index k along an axis of n pixels: the taps (i0, i1, t) of the output pixels next to centre k where
 * a bilinear image can peak (4k+1 and 4k+2, and the edge pixels 0 and 4n-1, which equal the edge values).
 */
function tapsNear(n: number): [number, number, number][][] {
  const m = 4 * n;
  const tap = (j: number): [number, number, number] => {
    const src = Math.max((j + 0.5) / 4 - 0.5, 0);
    const i0 = Math.floor(src);
    return [Math.min(i0, n - 1), Math.min(i0 + 1, n - 1), src - i0];
  };
  return Array.from({ length: n }, (_, k) => {
    const js = [4 * k + 1, 4 * k + 2].filter((j) => j < m);
    if (k === 0) js.push(0);
    if (k === n - 1) js.push(m - 1);
    return js.map(tap);
  });
}
