/**
 * Signal-to-noise ratio as the PSSR paper defines it (Fang et al. 2021, Methods): SNR = (I_max - mean_bg)
 * / sd_bg. Background rule (automatic, the same for every image so numbers compare): cut the image into a
 * BACKGROUND_GRID x BACKGROUND_GRID grid of blocks and take the block with the lowest mean (the darkest
 * region, the usual background ROI in fluorescence); I_max is the image's maximum. The bilinear input and
 * the restoration are measured on the same block (found on the bilinear input), so their SNRs compare.
 */
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
