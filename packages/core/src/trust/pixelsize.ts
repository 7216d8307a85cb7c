/** Does the file's pixel size match what the model was trained for? (card `inputPixelSize` vs the TIFF's). */
import type { ModelCard } from '../modelcard.js';
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
 * The pixel sizes (nm) a card was trained for, as [min, max]: its `inputPixelSizeRange`, else its single
 * `inputPixelSize` within PIXEL_SIZE_TOLERANCE; undefined when the card says nothing usable. The trust
 * report's check and `--match-pixel-size` (../pixelsize.ts) both go by this.
 */
export function trainedPixelRange(card: Pick<ModelCard, 'inputPixelSize' | 'inputPixelSizeRange'>): [number, number] | undefined {
  const r = card.inputPixelSizeRange;
  if (r) {
    const lo = toNanometres(r.min, r.unit);
    const hi = toNanometres(r.max, r.unit);
    if (lo !== null && hi !== null) return [lo, hi];
  }
  const p = card.inputPixelSize;
  const v = p ? toNanometres(p.value, p.unit) : null;
  return v === null ? undefined : [v * (1 - PIXEL_SIZE_TOLERANCE), v * (1 + PIXEL_SIZE_TOLERANCE)];
}

/**
 * Compares the LR file's pixel size (x; y when it differs more) with what the card was trained for
 * (trainedPixelRange).
 */
export function checkPixelSize(card: Pick<ModelCard, 'inputPixelSize' | 'inputPixelSizeRange'>, file: PixelSize | undefined, modelName: string): PixelSizeCheck {
  const cardNm = card.inputPixelSize ? toNanometres(card.inputPixelSize.value, card.inputPixelSize.unit) : null;
  const xNm = file ? toNanometres(file.x, file.unit) : null;
  const yNm = file ? toNanometres(file.y, file.unit) : null;
  // The axis farther from the card's size decides (pixels are square in nearly every file).
  const fileNm = xNm === null || yNm === null || cardNm === null ? xNm : Math.abs(xNm - cardNm) >= Math.abs(yNm - cardNm) ? xNm : yNm;
  const range = trainedPixelRange(card);
  if (cardNm === null || !range) return { status: 'unknown', cardNm, fileNm, ratio: null, message: `the ${modelName} card does not record an input pixel size` };
  if (fileNm === null) return { status: 'unknown', cardNm, fileNm, ratio: null, message: `the file does not record a pixel size (${modelName} expects ${fmt(cardNm)} nm)` };
  const ratio = fileNm / cardNm;
  const [lo, hi] = range;
  const inside = [xNm, yNm].every((v) => v !== null && withinPixelRange(v, lo, hi));
  const trained = card.inputPixelSizeRange ? `the ${fmt(lo)}-${fmt(hi)} nm` : null;
  if (inside) {
    return { status: 'ok', cardNm, fileNm, ratio, message: trained ? `pixel size ${fmt(fileNm)} nm is within ${trained} ${modelName} was trained for` : `pixel size ${fmt(fileNm)} nm matches ${modelName}'s ${fmt(cardNm)} nm` };
  }
  const where = trained ? `outside ${trained}` : `${fmt(ratio)}x the ${fmt(cardNm)} nm`;
  return { status: 'mismatch', cardNm, fileNm, ratio, message: `the file's pixel size ${fmt(fileNm)} nm is ${where} ${modelName} was trained for: structures appear at another scale than in training` };
}

const fmt = (x: number) => Number(x.toPrecision(3)).toString();
