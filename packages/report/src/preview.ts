/**
 * preview.png: the centre frame as a person checks it: bilinear input, restoration, consistency map and
 * (TTA) uncertainty map side by side, each with a colour bar, flagged regions outlined, and the numbers.
 * Drawn with @napi-rs/canvas (Skia, prebuilt binaries inside the npm package) and the DejaVu Sans font from
 * the dejavu-fonts-ttf package, so it renders the same offline and in slim containers without system fonts.
 */
import { createRequire } from 'node:module';
import { GlobalFonts, createCanvas } from '@napi-rs/canvas';
import type { SKRSContext2D } from '@napi-rs/canvas';
import { percentiles } from '@pssr/core';
import type { FrameTrust } from '@pssr/core';
import { LUT_SIZE, lookup } from './colormap.js';
import type { ColourScale } from './colormap.js';

const FONT = 'DejaVu Sans';
let fontRegistered = false;

function registerFont(): void {
  if (fontRegistered) return;
  const require = createRequire(import.meta.url);
  GlobalFonts.registerFromPath(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), FONT);
  fontRegistered = true;
}

export interface PreviewPanel {
  title: string;
  data: ArrayLike<number>;
  height: number;
  width: number;
  scale: ColourScale;
  /** Display range; default: the 0.1..99.9 percentiles (grey) or 0..99.5th percentile (colour). */
  range?: { min: number; max: number };
  unit: string;
}

export interface PreviewContent {
  heading: string;
  panels: PreviewPanel[];
  /** Flagged regions in output pixel coordinates (drawn on every panel of output size). */
  regions: { x: number; y: number; w: number; h: number }[];
  outputHeight: number;
  outputWidth: number;
  lines: string[];
  flagged: boolean;
}

const PANEL = 300;
const GAP = 16;
const TITLE = 22;
const BAR = 14;
const BAR_LABELS = 18;
const LINE = 17;

/** Renders the preview to PNG bytes. */
export function renderPreview(content: PreviewContent): Buffer {
  registerFont();
  const n = content.panels.length;
  const aspect = content.outputHeight / content.outputWidth;
  const panelH = Math.round(PANEL * Math.min(Math.max(aspect, 0.25), 2));
  const wrapped = content.lines.flatMap((l) => wrap(l, Math.floor((n * (PANEL + GAP) - GAP) / 7.2)));
  const width = GAP + n * (PANEL + GAP);
  const height = GAP + 26 + TITLE + panelH + 8 + BAR + BAR_LABELS + 10 + wrapped.length * LINE + GAP;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = content.flagged ? '#b00020' : '#1b5e20';
  ctx.font = `bold 17px "${FONT}"`;
  ctx.fillText(content.heading, GAP, GAP + 17);
  const top = GAP + 26;
  content.panels.forEach((p, k) => drawPanel(ctx, p, GAP + k * (PANEL + GAP), top, panelH, content));
  ctx.fillStyle = '#222222';
  ctx.font = `13px "${FONT}"`;
  let y = top + TITLE + panelH + 8 + BAR + BAR_LABELS + 10 + 12;
  for (const line of wrapped) {
    ctx.fillText(line, GAP, y);
    y += LINE;
  }
  return canvas.toBuffer('image/png');
}

function drawPanel(ctx: SKRSContext2D, p: PreviewPanel, x: number, y: number, panelH: number, content: PreviewContent): void {
  ctx.fillStyle = '#222222';
  ctx.font = `bold 14px "${FONT}"`;
  ctx.fillText(p.title, x, y + 15);
  const range = p.range ?? displayRange(p.data, p.scale);
  // Colour the image at about display size (box-averaged), not at full size: a 1024x1024 output would
  // cost a million colour lookups for a 300-pixel panel.
  const shown = boxDownsample(p.data, p.height, p.width, Math.max(1, Math.floor(p.width / PANEL)));
  const span = range.max - range.min || 1;
  const image = colourImage(shown.data, shown.height, shown.width, p.scale, (v) => (v - range.min) / span);
  const iy = y + TITLE;
  ctx.imageSmoothingEnabled = shown.width > PANEL;
  ctx.drawImage(image, x, iy, PANEL, panelH);
  // Flagged regions, scaled from output pixels to the panel.
  ctx.strokeStyle = '#00e5ff';
  ctx.lineWidth = 2;
  for (const r of content.regions) {
    const sx = PANEL / content.outputWidth;
    const sy = panelH / content.outputHeight;
    ctx.strokeRect(x + r.x * sx - 3, iy + r.y * sy - 3, Math.max(r.w * sx, 2) + 6, Math.max(r.h * sy, 2) + 6);
  }
  // Colour bar with its range.
  const by = iy + panelH + 8;
  const ramp = Float32Array.from({ length: PANEL }, (_, i) => i / (PANEL - 1));
  ctx.drawImage(colourImage(ramp, 1, PANEL, p.scale, (v) => v), x, by, PANEL, BAR);
  ctx.strokeStyle = '#888888';
  ctx.lineWidth = 1;
  ctx.strokeRect(x + 0.5, by + 0.5, PANEL - 1, BAR - 1);
  ctx.fillStyle = '#222222';
  ctx.font = `12px "${FONT}"`;
  const lo = formatValue(range.min);
  const hi = `${formatValue(range.max)} ${p.unit}`.trim();
  ctx.fillText(lo, x, by + BAR + 14);
  ctx.fillText(hi, x + PANEL - ctx.measureText(hi).width, by + BAR + 14);
}

/** An h x w canvas of `data` coloured on `scale`, `unit` mapping a value to 0..1 (clamped). */
function colourImage(data: ArrayLike<number>, h: number, w: number, scale: ColourScale, unit: (v: number) => number) {
  const image = createCanvas(w, h);
  const ictx = image.getContext('2d');
  const pixels = ictx.createImageData(w, h);
  const lut = lookup(scale);
  const top = LUT_SIZE - 1;
  for (let i = 0; i < h * w; i++) {
    const u = unit(data[i]!);
    const k = 3 * Math.round((u > 0 ? (u < 1 ? u : 1) : 0) * top);
    pixels.data[4 * i] = lut[k]!;
    pixels.data[4 * i + 1] = lut[k + 1]!;
    pixels.data[4 * i + 2] = lut[k + 2]!;
    pixels.data[4 * i + 3] = 255;
  }
  ictx.putImageData(pixels, 0, 0);
  return image;
}

/** Mean over k x k blocks (partial blocks at the right/bottom dropped). */
function boxDownsample(data: ArrayLike<number>, height: number, width: number, k: number): { data: ArrayLike<number>; height: number; width: number } {
  if (k === 1) return { data, height, width };
  const h = Math.floor(height / k);
  const w = Math.floor(width / k);
  const out = new Float32Array(h * w);
  const norm = 1 / (k * k);
  for (let by = 0; by < h; by++) {
    for (let bx = 0; bx < w; bx++) {
      let sum = 0;
      for (let y = by * k; y < (by + 1) * k; y++) {
        const row = y * width + bx * k;
        for (let x = 0; x < k; x++) sum += data[row + x]!;
      }
      out[by * w + bx] = sum * norm;
    }
  }
  return { data: out, height: h, width: w };
}

/**
 * Display range of a panel: 0.1..99.9th percentiles (grey) or 0..99.5th (colour maps), from a strided
 * sample of at most 65,536 values (plenty for a display window, and no sort of a million floats).
 */
export function displayRange(data: ArrayLike<number>, scale: ColourScale): { min: number; max: number } {
  const step = Math.max(1, Math.floor(data.length / 65536));
  const values = new Float32Array(Math.ceil(data.length / step));
  for (let i = 0, k = 0; i < data.length; i += step, k++) values[k] = data[i]!;
  if (scale === 'grey') {
    const [min, max] = percentiles(values, [0.1, 99.9]) as [number, number];
    return { min, max: max > min ? max : min + 1 };
  }
  const [max] = percentiles(values, [99.5]) as [number];
  return { min: 0, max: max > 0 ? max : 1 };
}

function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000 || a < 0.01) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** Greedy word wrap to `columns` characters. */
function wrap(line: string, columns: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current.length > 0 && current.length + 1 + word.length > columns) {
      out.push(current);
      current = `    ${word}`;
    } else {
      current = current.length > 0 ? `${current} ${word}` : word;
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The numbers printed under the panels for one frame. */
export function frameLines(f: FrameTrust, frames: number): string[] {
  const snr = (v: number | null) => (v === null ? 'n/a' : v.toFixed(1));
  const lines = [
    `frame ${f.index + 1} of ${frames}: consistency RSE ${f.rse.toFixed(4)} (${f.rseToNoise === null ? 'no noise estimate' : `${f.rseToNoise.toFixed(2)}x the input's noise estimate`}), RSP ${f.rsp.toFixed(f.rsp > 0.999 ? 6 : 4)}` +
      (f.uncertainty === null ? '' : `, mean uncertainty ${f.uncertainty.toFixed(4)}`) +
      ` (normalised units); SNR bilinear ${snr(f.snr.bilinear)} -> restored ${snr(f.snr.restored)}`,
  ];
  for (const flag of f.flags) lines.push(`FLAG ${flag.kind}: ${flag.reason}`);
  return lines;
}
