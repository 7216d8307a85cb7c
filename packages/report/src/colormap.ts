/** Colour scales of the preview: grey for images, inferno (matplotlib's, sampled at 9 stops) for error maps. */

const INFERNO: [number, number, number][] = [
  [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85], [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164],
];

export type ColourScale = 'grey' | 'inferno';

/** RGB of u in 0..1 (clamped) on the scale. */
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
