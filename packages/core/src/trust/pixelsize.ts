/** Does the file's pixel size match what the model was trained for? (card `inputPixelSize` vs the TIFF's). */
import type { PixelSize } from '../types.js';

/** Relative difference above which the report warns (issue 8: 25%). */
export const PIXEL_SIZE_TOLERANCE = 0.25;

const NANOMETRES: Record<string, number> = { m: 1e9, mm: 1e6, um: 1e3, 'µm': 1e3, micron: 1e3, microns: 1e3, nm: 1, a: 0.1, 'å': 0.1, angstrom: 0.1 };

export interface PixelSizeCheck {
  /** 'ok', 'mismatch' (warn), or 'unknown' (the card or the file does not say, or a unit is unknown). */
  status: 'ok' | 'mismatch' | 'unknown';
  cardNm: number | null;
  fileNm: number | null;
  /** file / card. */
  ratio: number | null;
  message: string;
}

export function toNanometres(value: number, unit: string): number | null {
  const k = NANOMETRES[unit.trim().toLowerCase()];
  return k === undefined || !(value > 0) ? null : value * k;
}

/**
 * Whether a pixel size lies in [lo, hi]. TIFF stores pixel sizes as rationals (18.4 nm reads back as
 * 18.39999997), so the ends are widened by one part in a million.
 */
export function withinPixelRange(v: number, lo: number, hi: number): boolean {
  return v >= lo * (1 - 1e-6) && v <= hi * (1 + 1e-6);
}

/**
 * Compares the LR file's pixel size (x; y when it differs more) with the card's expected input pixel size,
 * or with the range of pixel sizes it was trained for (card `inputPixelSizeRange`) when the card has one.
 */
export function checkPixelSize(
  card: { value: number; unit: string } | null,
  file: PixelSize | undefined,
  modelName: string,
  range?: { min: number; max: number; unit: string },
): PixelSizeCheck {
  const cardNm = card ? toNanometres(card.value, card.unit) : null;
  const xNm = file ? toNanometres(file.x, file.unit) : null;
  const yNm = file ? toNanometres(file.y, file.unit) : null;
  // The axis farther from the card's size decides (pixels are square in nearly every file).
  const fileNm = xNm === null || yNm === null || cardNm === null ? xNm : Math.abs(xNm - cardNm) >= Math.abs(yNm - cardNm) ? xNm : yNm;
  if (cardNm === null) return { status: 'unknown', cardNm, fileNm, ratio: null, message: `the ${modelName} card does not record an input pixel size` };
  if (fileNm === null) return { status: 'unknown', cardNm, fileNm, ratio: null, message: `the file does not record a pixel size (${modelName} expects ${fmt(cardNm)} nm)` };
  const ratio = fileNm / cardNm;
  const lo = range ? toNanometres(range.min, range.unit) : null;
  const hi = range ? toNanometres(range.max, range.unit) : null;
  if (lo !== null && hi !== null) {
    const inside = [xNm, yNm].every((v) => v !== null && withinPixelRange(v, lo, hi));
    return inside
      ? { status: 'ok', cardNm, fileNm, ratio, message: `pixel size ${fmt(fileNm)} nm is within the ${fmt(lo)}-${fmt(hi)} nm ${modelName} was trained for` }
      : { status: 'mismatch', cardNm, fileNm, ratio, message: `the file's pixel size ${fmt(fileNm)} nm is outside the ${fmt(lo)}-${fmt(hi)} nm ${modelName} was trained for: structures appear at another scale than in training` };
  }
  if (Math.abs(ratio - 1) > PIXEL_SIZE_TOLERANCE) {
    return { status: 'mismatch', cardNm, fileNm, ratio, message: `the file's pixel size ${fmt(fileNm)} nm is ${fmt(ratio)}x the ${fmt(cardNm)} nm ${modelName} was trained for: structures appear at another scale than in training` };
  }
  return { status: 'ok', cardNm, fileNm, ratio, message: `pixel size ${fmt(fileNm)} nm matches ${modelName}'s ${fmt(cardNm)} nm` };
}

const fmt = (x: number) => Number(x.toPrecision(3)).toString();
