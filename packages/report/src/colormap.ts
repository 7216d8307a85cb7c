/** Colour scales of the preview: grey for images, inferno (matplotlib's, sampled at 9 stops) for error maps. */

const INFERNO: [number, number, number][] = [
  [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85], [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164],
];

export type ColourScale = 'grey' | 'inferno';

/** RGB of u in 0..1 (clamped) on the scale; computes what `lookup` tabulates. */
export function colour(scale: ColourScale, u: number): [number, number, number] {
  const t = u > 0 ? (u < 1 ? u : 1) : 0;
  if (scale === 'grey') {
    const g = Math.round(t * 255);
    return [g, g, g];
  }
  const x = t * (INFERNO.length - 1);
  const i = Math.min(Math.floor(x), INFERNO.length - 2);
  const f = x - i;
  const a = INFERNO[i]!;
  const b = INFERNO[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** LUT_SIZE RGB triples per scale, for colouring whole images without a call per pixel. */
export const LUT_SIZE = 1024;
const luts = new Map<ColourScale, Uint8Array>();

/** The scale tabulated at LUT_SIZE steps: entry k (3 bytes) is colour(scale, k / (LUT_SIZE - 1)). */
export function lookup(scale: ColourScale): Uint8Array {
  let lut = luts.get(scale);
  if (!lut) {
    lut = new Uint8Array(3 * LUT_SIZE);
    for (let k = 0; k < LUT_SIZE; k++) lut.set(colour(scale, k / (LUT_SIZE - 1)), 3 * k);
    luts.set(scale, lut);
  }
  return lut;
}
