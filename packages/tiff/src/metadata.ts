import type { FrameAxis } from '@pssr/core';

/**
 * Stack metadata found in the first page's ImageDescription: ImageJ hyperstack key=value lines, OME-XML,
 * or tifffile's JSON "shaped" description. Pure string parsing, no I/O.
 */

export interface ImageJMeta {
  kind: 'imagej';
  images?: number;
  channels?: number;
  slices?: number;
  frames?: number;
  unit?: string;
  spacing?: number;
}

export interface OmeMeta {
  kind: 'ome';
  sizeC: number;
  sizeZ: number;
  sizeT: number;
  sizeX?: number;
  sizeY?: number;
  /** e.g. 'XYCZT'. */
  dimensionOrder: string;
  physicalSizeX?: number;
  physicalSizeY?: number;
  physicalSizeXUnit?: string;
  physicalSizeYUnit?: string;
  /** IFD of the first plane of the first image. */
  firstIfd: number;
}

export interface ShapedMeta {
  kind: 'shaped';
  axes?: string;
}

export type StackMeta = ImageJMeta | OmeMeta | ShapedMeta;

function positiveInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function positiveReal(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.trim());
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** ImageJ writes non-ASCII characters as Java escapes (`unit=\u00B5m`). */
function unescapeJava(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export function parseImageJ(description: string): ImageJMeta | undefined {
  if (!description.startsWith('ImageJ=')) return undefined;
  const values = new Map<string, string>();
  for (const line of description.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq).trim(), line.slice(eq + 1));
  }
  const meta: ImageJMeta = { kind: 'imagej' };
  const set = <K extends 'images' | 'channels' | 'slices' | 'frames'>(key: K): void => {
    const v = positiveInt(values.get(key));
    if (v !== undefined) meta[key] = v;
  };
  set('images');
  set('channels');
  set('slices');
  set('frames');
  const unit = values.get('unit');
  if (unit !== undefined) meta.unit = unescapeJava(unit.trim());
  const spacing = positiveReal(values.get('spacing'));
  if (spacing !== undefined) meta.spacing = spacing;
  return meta;
}

function xmlAttributes(tagBody: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const m of tagBody.matchAll(/([\w:.-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    const name = m[1] ?? '';
    attrs.set(name.replace(/^\w+:/, ''), m[3] ?? m[4] ?? '');
  }
  return attrs;
}

function xmlUnescape(text: string): string {
  return text
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The first Image's Pixels element of an OME-XML description (the stack PSSR reads is the first series). */
export function parseOme(description: string): OmeMeta | undefined {
  if (!/<(\w+:)?OME[\s>]/.test(description)) return undefined;
  const image = /<(?:\w+:)?Image[\s>]/.exec(description);
  const from = image ? image.index : 0;
  const pixels = /<(?:\w+:)?Pixels\s([^>]*)>/.exec(description.slice(from));
  if (!pixels) return undefined;
  const attrs = xmlAttributes(pixels[1] ?? '');
  const meta: OmeMeta = {
    kind: 'ome',
    sizeC: positiveInt(attrs.get('SizeC')) ?? 1,
    sizeZ: positiveInt(attrs.get('SizeZ')) ?? 1,
    sizeT: positiveInt(attrs.get('SizeT')) ?? 1,
    dimensionOrder: (attrs.get('DimensionOrder') ?? 'XYCZT').toUpperCase(),
    firstIfd: 0,
  };
  const sizeX = positiveInt(attrs.get('SizeX'));
  const sizeY = positiveInt(attrs.get('SizeY'));
  if (sizeX !== undefined) meta.sizeX = sizeX;
  if (sizeY !== undefined) meta.sizeY = sizeY;
  const px = positiveReal(attrs.get('PhysicalSizeX'));
  const py = positiveReal(attrs.get('PhysicalSizeY'));
  if (px !== undefined) meta.physicalSizeX = px;
  if (py !== undefined) meta.physicalSizeY = py;
  const ux = attrs.get('PhysicalSizeXUnit');
  const uy = attrs.get('PhysicalSizeYUnit');
  if (ux !== undefined) meta.physicalSizeXUnit = xmlUnescape(ux);
  if (uy !== undefined) meta.physicalSizeYUnit = xmlUnescape(uy);
  const pixelsEnd = description.indexOf('Pixels>', from + pixels.index);
  const scope = description.slice(from + pixels.index, pixelsEnd > 0 ? pixelsEnd : undefined);
  const tiffData = /<(?:\w+:)?TiffData\s([^>]*)>/.exec(scope);
  if (tiffData) {
    const ifd = Number(xmlAttributes(tiffData[1] ?? '').get('IFD') ?? '0');
    if (Number.isInteger(ifd) && ifd >= 0) meta.firstIfd = ifd;
  }
  return meta;
}

/** tifffile's default description: `{"shape": [48, 130, 130]}`, optionally with "axes". */
export function parseShaped(description: string): ShapedMeta | undefined {
  if (!description.startsWith('{') || !description.includes('"shape"')) return undefined;
  try {
    const json = JSON.parse(description) as { axes?: unknown };
    const meta: ShapedMeta = { kind: 'shaped' };
    if (typeof json.axes === 'string') meta.axes = json.axes.toUpperCase();
    return meta;
  } catch {
    return undefined;
  }
}

export function parseDescription(description: string | undefined): StackMeta | undefined {
  if (!description) return undefined;
  return parseImageJ(description) ?? parseOme(description) ?? parseShaped(description);
}

/**
 * One spelling per unit: the micrometre variants ImageJ, OME and other writers use become 'um'.
 * Returns undefined for "no unit" (pixel, none, empty).
 */
export function normalizeUnit(unit: string | undefined): string | undefined {
  if (unit === undefined) return undefined;
  const u = unescapeJava(unit).trim();
  const lower = u.toLowerCase();
  if (lower === '' || lower === 'pixel' || lower === 'pixels' || lower === 'px' || lower === 'none') return undefined;
  if (['um', 'µm', 'μm', 'micron', 'microns', 'micrometer', 'micrometre', 'micrometers', 'micrometres'].includes(lower)) return 'um';
  if (['nm', 'nanometer', 'nanometre', 'nanometers', 'nanometres'].includes(lower)) return 'nm';
  if (['mm', 'millimeter', 'millimetre'].includes(lower)) return 'mm';
  if (['å', 'angstrom', 'ångström'].includes(lower)) return 'Å';
  return u;
}

/** Axis letter of a tifffile "axes" string for a stack of 2D pages (T unless it only has a Z axis). */
export function axisFromAxes(axes: string | undefined): FrameAxis {
  if (axes && axes.includes('Z') && !axes.includes('T')) return 'Z';
  return 'T';
}
