/**
 * Evidence that the trust maps mean something (issue 8 item 7): on held-out data with ground truth, the
 * tile-level Spearman correlation between a map and the true error |restored - HR|.
 */
import { spearman } from '@pssr/core';

/** Mean of `map` (mapH x mapW) over a grid of square tiles of `tile` pixels (partial tiles at the edges dropped). */
export function tileMeans(map: ArrayLike<number>, mapH: number, mapW: number, tile: number): Float64Array {
  const rows = Math.floor(mapH / tile);
  const cols = Math.floor(mapW / tile);
  const out = new Float64Array(rows * cols);
  for (let ty = 0; ty < rows; ty++) {
    for (let tx = 0; tx < cols; tx++) {
      let s = 0;
      for (let y = ty * tile; y < (ty + 1) * tile; y++) for (let x = tx * tile; x < (tx + 1) * tile; x++) s += map[y * mapW + x]!;
      out[ty * cols + tx] = s / (tile * tile);
    }
  }
  return out;
}

/** |restored - hr| per output pixel. */
export function absoluteError(restored: ArrayLike<number>, hr: ArrayLike<number>): Float32Array {
  const out = new Float32Array(hr.length);
  for (let i = 0; i < hr.length; i++) out[i] = Math.abs(restored[i]! - hr[i]!);
  return out;
}

/**
 * Spearman correlation, over tiles of `tileOut` output pixels, between a map (at output size, or at LR size
 * when `mapScale` is 4: its tiles are tileOut / 4 LR pixels) and the true error at output size.
 */
export function tileSpearman(map: ArrayLike<number>, error: ArrayLike<number>, outH: number, outW: number, tileOut: number, mapScale: 1 | 4 = 1): number {
  const m = tileMeans(map, outH / mapScale, outW / mapScale, tileOut / mapScale);
  const e = tileMeans(error, outH, outW, tileOut);
  return spearman(m, e);
}
