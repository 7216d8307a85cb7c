/**
 * The 8 symmetries of the square (dihedral group D4) on stacks of planes, for test-time augmentation:
 * transform g = optional transpose (bit 2), then flip rows (bit 1), then flip columns (bit 0). A model
 * trained with dihedral augmentation should give the same answer for each; how much its 8 answers differ
 * is its uncertainty.
 */
export const DIHEDRAL_COUNT = 8;

/** Shape of a height x width plane after transform g. */
export function dihedralShape(g: number, height: number, width: number): [number, number] {
  return g & 4 ? [width, height] : [height, width];
}

/**
 * Applies g (or its inverse) to each of `planes` consecutive height x width planes of `src` (the shape
 * before the operation). The inverse of g applied to dihedral(x, g) gives x back.
 */
export function dihedral(src: Float32Array, planes: number, height: number, width: number, g: number, inverse = false, out?: Float32Array): Float32Array {
  const size = height * width;
  const dst = out ?? new Float32Array(planes * size);
  const transpose = (g & 4) !== 0;
  const flipRows = (g & 2) !== 0;
  const flipCols = (g & 1) !== 0;
  if (!inverse) {
    const [H, W] = dihedralShape(g, height, width);
    for (let p = 0; p < planes; p++) {
      const s = p * size;
      for (let y = 0; y < H; y++) {
        const y1 = flipRows ? H - 1 - y : y;
        for (let x = 0; x < W; x++) {
          const x1 = flipCols ? W - 1 - x : x;
          dst[s + y * W + x] = transpose ? src[s + x1 * width + y1]! : src[s + y1 * width + x1]!;
        }
      }
    }
    return dst;
  }
  // src is H x W = (height, width) here, the transformed shape; the result has the original shape.
  const [h, w] = transpose ? [width, height] : [height, width];
  for (let p = 0; p < planes; p++) {
    const s = p * size;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let ty = transpose ? x : y;
        let tx = transpose ? y : x;
        if (flipRows) ty = height - 1 - ty;
        if (flipCols) tx = width - 1 - tx;
        dst[s + y * w + x] = src[s + ty * width + tx]!;
      }
    }
  }
  return dst;
}
