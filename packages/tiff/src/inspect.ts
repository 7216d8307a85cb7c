import { bytesPerSample, PssrError, type DType, type FrameAxis, type PixelSize, type StackInfo } from '@pssr/core';
import { ByteSource } from './bytesource.js';
import { resolveLimits, type TiffLimits } from './limits.js';
import { axisFromAxes, normalizeUnit, parseDescription, type ImageJMeta, type OmeMeta, type StackMeta } from './metadata.js';
import { describeNonTiff } from './sniff.js';
import { hasTiffSignature, Tag, tiffError, TiffStructure, type Ifd } from './structure.js';

export interface TiffReadOptions {
  limits?: Partial<TiffLimits> | undefined;
  /** Which channel to read: a sample of RGB/multi-sample pixels, or a channel stored as separate pages. */
  channel?: number | undefined;
}

/**
 * Where each frame of a validated stack lives. Only this is kept while reading: one IFD offset per frame,
 * or, for ImageJ's contiguous "virtual" layout, a start byte and a stride.
 */
export interface StackLayout {
  path: string;
  info: StackInfo;
  bigtiff: boolean;
  littleEndian: boolean;
  /** Full-resolution pages in the IFD chain (reduced-resolution and mask pages are not counted). */
  pageCount: number;
  /** Channels in the file: samples per pixel (RGB, multi-sample) or channels stored as pages. */
  channels: number;
  /** Sample index within a pixel to read (the channel for multi-sample pages, else 0). */
  sample: number;
  /** IFD offset of each frame's page; pages are decoded by geotiff. */
  frameIfds?: Float64Array;
  /**
   * ImageJ writes stacks past 4 GB as one IFD followed by every image back to back (its "virtual" large
   * stacks); frames are then raw planes at firstByte + plane * planeBytes.
   */
  contiguous?: { firstByte: number; planeBytes: number; planesPerFrame: number; channel: number };
}

/** Compressions geotiff 3 decodes in Node (WebP needs a browser canvas, so it is not listed). */
const DECODABLE_COMPRESSIONS = new Map<number, string>([
  [1, 'none'],
  [5, 'LZW'],
  [7, 'JPEG'],
  [8, 'deflate'],
  [32946, 'deflate'],
  [32773, 'PackBits'],
  [34887, 'LERC'],
  [50000, 'Zstandard'],
]);
const COMPRESSION_NAMES = new Map<number, string>([
  [2, 'CCITT RLE'],
  [3, 'CCITT Group 3 fax'],
  [4, 'CCITT Group 4 fax'],
  [6, 'old-style JPEG'],
  [22610, 'JPEG XR'],
  [33003, 'JPEG 2000 (Aperio)'],
  [33005, 'JPEG 2000 (Aperio)'],
  [34712, 'JPEG 2000'],
  [34892, 'lossy JPEG (DNG)'],
  [34925, 'LZMA'],
  [34933, 'PNG'],
  [50001, 'WebP'],
  [50002, 'JPEG XL'],
]);

const ALLOWED_TYPES = '8-bit or 16-bit unsigned integer, or 32-bit float, grayscale';

interface PageDesc {
  index: number;
  width: number;
  height: number;
  bits: number;
  mixedBits: number[] | undefined;
  sampleFormat: number;
  spp: number;
  compression: number;
  photometric: number | undefined;
  planar: number;
  predictor: number;
  subfileType: number;
  tiled: boolean;
  tileWidth: number;
  tileLength: number;
  rowsPerStrip: number;
}

interface Chunks {
  offsets: number[];
  counts: number[];
}

function mapOpenError(path: string, err: unknown): PssrError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new PssrError('INPUT_NOT_FOUND', `${path}: no such file`);
  if (code === 'EISDIR') return new PssrError('INPUT_UNREADABLE', `${path}: is a folder, not a TIFF file`);
  if (code === 'EACCES' || code === 'EPERM') return new PssrError('INPUT_UNREADABLE', `${path}: cannot be read (permission denied)`);
  return new PssrError('INPUT_UNREADABLE', `${path}: cannot be read (${code ?? String(err)})`, true, { cause: err });
}

export async function openSource(path: string): Promise<ByteSource> {
  try {
    return await ByteSource.open(path);
  } catch (err) {
    throw mapOpenError(path, err);
  }
}

function checkChannelOption(channel: number | undefined): void {
  if (channel !== undefined && !(Number.isInteger(channel) && channel >= 0)) {
    throw new PssrError('INVALID_ARGUMENT', `channel must be a whole number >= 0, got ${String(channel)}`);
  }
}

/** Validates the whole file (header, every IFD, every strip/tile extent, metadata, limits); reads no pixels. */
export async function inspectLayout(path: string, opts: TiffReadOptions = {}): Promise<StackLayout> {
  const limits = resolveLimits(opts.limits);
  checkChannelOption(opts.channel);
  const src = await openSource(path);
  try {
    return await inspectSource(src, limits, opts.channel);
  } finally {
    await src.close();
  }
}

function dtypeOf(bits: number, sampleFormat: number): DType | undefined {
  if (sampleFormat === 1 && bits === 8) return 'uint8';
  if (sampleFormat === 1 && bits === 16) return 'uint16';
  if (sampleFormat === 3 && bits === 32) return 'float32';
  return undefined;
}

function describeSampleType(page: PageDesc): string {
  if (page.mixedBits) return `of mixed sizes (${page.mixedBits.join(', ')} bits per sample)`;
  const { bits, sampleFormat } = page;
  if (sampleFormat === 5 || sampleFormat === 6) return `complex numbers (${bits}-bit)`;
  if (sampleFormat === 1 && bits === 1) return '1-bit (black and white)';
  if (sampleFormat === 2) return `${bits}-bit signed integers`;
  if (sampleFormat === 3) return `${bits}-bit floats`;
  if (sampleFormat === 1) return `${bits}-bit unsigned integers`;
  return `of unknown format ${sampleFormat} (${bits}-bit)`;
}

function pageShape(page: PageDesc): string {
  const dtype = dtypeOf(page.bits, page.sampleFormat) ?? describeSampleType(page);
  return `${page.width}x${page.height} ${dtype}${page.spp > 1 ? ` with ${page.spp} samples per pixel` : ''}`;
}

async function describePage(st: TiffStructure, ifd: Ifd, index: number): Promise<PageDesc> {
  const path = st.path;
  const scalar = async (tag: number, name: string, fallback?: number): Promise<number> => {
    const entry = ifd.entries.get(tag);
    if (!entry || entry.count === 0) {
      if (fallback === undefined) throw tiffError('TIFF_CORRUPT', path, `page ${index + 1} has no ${name} tag`);
      return fallback;
    }
    // geotiff reads every value of these tags and uses them as one number (a million-value RowsPerStrip
    // turns into a string of megabytes): exactly one value is allowed.
    if (entry.count !== 1) throw tiffError('TIFF_CORRUPT', path, `page ${index + 1}: ${name} has ${entry.count} values, 1 expected`);
    const values = await st.numbers(entry, name);
    return values[0] ?? fallback ?? 0;
  };
  const perSample = async (tag: number, name: string, fallback: number, spp: number): Promise<number[]> => {
    const entry = ifd.entries.get(tag);
    if (!entry || entry.count === 0) return [fallback];
    if (entry.count > spp) throw tiffError('TIFF_CORRUPT', path, `page ${index + 1}: ${name} has ${entry.count} values for ${spp} samples per pixel`);
    return st.numbers(entry, name);
  };
  const width = await scalar(Tag.ImageWidth, 'ImageWidth');
  const height = await scalar(Tag.ImageLength, 'ImageLength');
  if (width === 0 || height === 0) throw tiffError('TIFF_CORRUPT', path, `page ${index + 1} declares an empty image (${width}x${height})`);
  const spp = await scalar(Tag.SamplesPerPixel, 'SamplesPerPixel', 1);
  if (spp === 0) throw tiffError('TIFF_CORRUPT', path, `page ${index + 1} declares 0 samples per pixel`);
  const bitsList = await perSample(Tag.BitsPerSample, 'BitsPerSample', 1, spp);
  const formatList = await perSample(Tag.SampleFormat, 'SampleFormat', 1, spp);
  const bits = bitsList[0] ?? 1;
  const mixedBits = bitsList.some((b) => b !== bits) ? bitsList : undefined;
  let sampleFormat = formatList[0] ?? 1;
  if (sampleFormat === 4) sampleFormat = 1; // "undefined data format": treat as unsigned, as libtiff does.
  const tiled = ifd.entries.has(Tag.TileWidth) || ifd.entries.has(Tag.TileOffsets);
  const photometricEntry = ifd.entries.get(Tag.Photometric);
  return {
    index,
    width,
    height,
    bits,
    mixedBits,
    sampleFormat,
    spp,
    compression: await scalar(Tag.Compression, 'Compression', 1),
    photometric: photometricEntry ? await scalar(Tag.Photometric, 'PhotometricInterpretation') : undefined,
    planar: await scalar(Tag.PlanarConfiguration, 'PlanarConfiguration', 1),
    predictor: await scalar(Tag.Predictor, 'Predictor', 1),
    subfileType: await scalar(Tag.NewSubfileType, 'NewSubfileType', 0),
    tiled,
    tileWidth: tiled ? await scalar(Tag.TileWidth, 'TileWidth') : width,
    tileLength: tiled ? await scalar(Tag.TileLength, 'TileLength') : height,
    rowsPerStrip: tiled ? height : Math.min(await scalar(Tag.RowsPerStrip, 'RowsPerStrip', height), height),
  };
}

function checkFrameSize(path: string, page: PageDesc, limits: TiffLimits): void {
  const pixels = page.width * page.height;
  if (pixels > limits.maxFramePixels) {
    throw tiffError(
      'TIFF_TOO_LARGE',
      path,
      `declares ${page.width} x ${page.height} = ${pixels} pixels per frame, over the limit of ${limits.maxFramePixels} (maxFramePixels).\n` +
        'Raise the maxFramePixels TIFF limit if this image is genuine.',
    );
  }
  if (page.spp > 1024) throw tiffError('TIFF_UNSUPPORTED', path, `declares ${page.spp} samples per pixel; at most 1024 are supported`);
  const frameBytes = pixels * Math.ceil(page.bits / 8);
  if (frameBytes > limits.maxFrameBytes) {
    throw tiffError('TIFF_TOO_LARGE', path, `page ${page.index + 1} decodes to ${frameBytes} bytes per frame, over the limit of ${limits.maxFrameBytes} (maxFrameBytes)`);
  }
  // What one strip or tile decodes to (all samples of chunky pixels): geotiff holds a whole chunk at once.
  const bitsPerPixel = (page.planar === 2 ? 1 : page.spp) * page.bits;
  const chunkBytes = Math.ceil((page.tileWidth * bitsPerPixel) / 8) * (page.tiled ? page.tileLength : page.rowsPerStrip);
  if (chunkBytes > limits.maxChunkBytes) {
    throw tiffError(
      'TIFF_TOO_LARGE',
      path,
      `page ${page.index + 1} has ${page.tiled ? 'tiles' : 'strips'} that decode to ${chunkBytes} bytes each, over the limit of ${limits.maxChunkBytes} (maxChunkBytes); re-save it with smaller strips or tiles`,
    );
  }
}

function checkSampleType(path: string, page: PageDesc, channel: number | undefined): DType {
  const dtype = page.mixedBits ? undefined : dtypeOf(page.bits, page.sampleFormat);
  if (!dtype) {
    throw tiffError('TIFF_UNSUPPORTED', path, `samples are ${describeSampleType(page)}; PSSR reads ${ALLOWED_TYPES} images.\nConvert the stack first (e.g. Fiji: Image > Type > 16-bit or 32-bit).`);
  }
  const photometric = page.photometric;
  if (photometric === 3) throw tiffError('TIFF_UNSUPPORTED', path, `is an indexed-colour (palette) image; PSSR reads ${ALLOWED_TYPES} images`);
  if (photometric === 6) throw tiffError('TIFF_UNSUPPORTED', path, `stores YCbCr colour; PSSR reads ${ALLOWED_TYPES} images (or one channel of RGB)`);
  if (photometric !== undefined && ![0, 1, 2, 5].includes(photometric)) {
    throw tiffError('TIFF_UNSUPPORTED', path, `has photometric interpretation ${photometric}; PSSR reads ${ALLOWED_TYPES} images (or one channel of RGB)`);
  }
  if (page.spp > 1) {
    const kind = photometric === 2 ? 'RGB' : 'multi-channel';
    if (channel === undefined) {
      throw tiffError('TIFF_UNSUPPORTED', path, `is ${kind} (${page.spp} samples per pixel); PSSR restores one grayscale channel.\nChoose one with the channel option (0..${page.spp - 1}).`);
    }
    if (channel >= page.spp) {
      throw tiffError('INVALID_ARGUMENT', path, `channel ${channel} was requested but the pixels have ${page.spp} channels (0..${page.spp - 1})`);
    }
  }
  return dtype;
}

function checkCoding(path: string, page: PageDesc): void {
  if (!DECODABLE_COMPRESSIONS.has(page.compression)) {
    const name = COMPRESSION_NAMES.get(page.compression) ?? `code ${page.compression}`;
    const allowed = [...new Set(DECODABLE_COMPRESSIONS.values())].join(', ');
    throw tiffError('TIFF_UNSUPPORTED', path, `page ${page.index + 1} uses ${name} compression; supported: ${allowed}.\nRe-save it uncompressed or with deflate/LZW.`);
  }
  if (page.compression === 7 && page.bits !== 8) {
    throw tiffError('TIFF_UNSUPPORTED', path, `page ${page.index + 1} uses ${page.bits}-bit JPEG compression; only 8-bit JPEG is supported`);
  }
  if (![1, 2, 3].includes(page.predictor)) {
    throw tiffError('TIFF_UNSUPPORTED', path, `page ${page.index + 1} uses predictor ${page.predictor}; supported: none, horizontal, floating point`);
  }
  if (page.planar !== 1 && page.planar !== 2) {
    throw tiffError('TIFF_CORRUPT', path, `page ${page.index + 1} has planar configuration ${page.planar} (1 or 2 expected)`);
  }
  if (page.tiled && (page.tileWidth === 0 || page.tileLength === 0)) {
    throw tiffError('TIFF_CORRUPT', path, `page ${page.index + 1} declares empty tiles (${page.tileWidth}x${page.tileLength})`);
  }
  if (!page.tiled && page.rowsPerStrip === 0) throw tiffError('TIFF_CORRUPT', path, `page ${page.index + 1} declares 0 rows per strip`);
}

/** Every strip/tile of the page must lie inside the file; uncompressed ones must hold a whole chunk. */
async function checkChunks(st: TiffStructure, ifd: Ifd, page: PageDesc): Promise<Chunks> {
  const path = st.path;
  const kind = page.tiled ? 'tile' : 'strip';
  const offsetEntry = ifd.entries.get(page.tiled ? Tag.TileOffsets : Tag.StripOffsets);
  const countEntry = ifd.entries.get(page.tiled ? Tag.TileByteCounts : Tag.StripByteCounts);
  const label = `page ${page.index + 1}`;
  if (!offsetEntry) throw tiffError('TIFF_CORRUPT', path, `${label} has no ${page.tiled ? 'TileOffsets' : 'StripOffsets'} tag`);
  if (!countEntry) throw tiffError('TIFF_CORRUPT', path, `${label} has no ${page.tiled ? 'TileByteCounts' : 'StripByteCounts'} tag`);
  const perPlane = page.tiled
    ? Math.ceil(page.width / page.tileWidth) * Math.ceil(page.height / page.tileLength)
    : Math.ceil(page.height / page.rowsPerStrip);
  const planes = page.planar === 2 ? page.spp : 1;
  const expected = perPlane * planes;
  if (offsetEntry.count < expected || countEntry.count < expected) {
    throw tiffError('TIFF_CORRUPT', path, `${label} lists ${Math.min(offsetEntry.count, countEntry.count)} ${kind}s, ${expected} expected for its size`);
  }
  const offsets = await st.numbers({ ...offsetEntry, count: expected }, page.tiled ? 'TileOffsets' : 'StripOffsets');
  const counts = await st.numbers({ ...countEntry, count: expected }, page.tiled ? 'TileByteCounts' : 'StripByteCounts');
  const size = st.src.size;
  const bytesPerPixel = ((page.planar === 2 ? 1 : page.spp) * page.bits) / 8;
  for (let j = 0; j < expected; j++) {
    const offset = offsets[j] ?? 0;
    const count = counts[j] ?? 0;
    if (count === 0) continue;
    if (offset + count > size) {
      throw tiffError(
        'TIFF_TRUNCATED',
        path,
        `the pixel data of ${label} (${kind} ${j + 1}, bytes ${offset}..${offset + count}) extends past the end of the file (${size} bytes): the file is truncated`,
      );
    }
    if (page.compression === 1) {
      const inPlane = j % perPlane;
      const rows = page.tiled ? page.tileLength : Math.min(page.rowsPerStrip, page.height - inPlane * page.rowsPerStrip);
      const need = Math.ceil(rows * page.tileWidth * bytesPerPixel);
      if (count < need) {
        throw tiffError('TIFF_CORRUPT', path, `${label}: uncompressed ${kind} ${j + 1} holds ${count} bytes, ${need} expected`);
      }
    }
  }
  return { offsets, counts };
}

function isFullResolution(page: PageDesc): boolean {
  // Bit 0: reduced-resolution copy (thumbnail, pyramid level); bit 2: transparency mask. Neither is a frame.
  return (page.subfileType & 0b101) === 0;
}

/** Channels stored as separate pages, per the metadata (1 when channels are samples of a pixel). */
function pageChannels(meta: StackMeta | undefined, spp: number): number {
  if (meta?.kind === 'imagej') return spp > 1 ? 1 : (meta.channels ?? 1);
  if (meta?.kind === 'ome') return spp > 1 ? Math.max(1, Math.round(meta.sizeC / spp)) : meta.sizeC;
  return 1;
}

function fourDimensional(path: string, slices: number, frames: number): PssrError {
  return tiffError(
    'TIFF_UNSUPPORTED',
    path,
    `is a 4D stack (${slices} z-slices x ${frames} time points); PSSR restores a time-lapse or a z-stack.\n` +
      'Split it first (e.g. Fiji: Image > Hyperstacks > Reduce Dimensionality).',
  );
}

interface FramePlan {
  frames: number;
  axis: FrameAxis;
  /** Page (or, for contiguous ImageJ stacks, plane) index of frame f: base + f * stride. */
  base: number;
  stride: number;
  contiguousPlanes?: number;
}

function planImageJ(path: string, meta: ImageJMeta, pages: number, channels: number, channel: number): FramePlan {
  const declared = meta.images ?? pages;
  const contiguous = pages === 1 && declared > 1;
  const planes = contiguous ? declared : pages;
  if (planes % channels !== 0) {
    throw tiffError('TIFF_CORRUPT', path, `ImageJ metadata declares ${channels} channels but the file holds ${planes} images`);
  }
  const frames = planes / channels;
  const slices = meta.slices ?? 1;
  const times = meta.frames ?? 1;
  if (slices > 1 && times > 1) throw fourDimensional(path, slices, times);
  const axis: FrameAxis = times > 1 ? 'T' : slices > 1 || frames > 1 ? 'Z' : 'T';
  // ImageJ orders hyperstack planes channel fastest (CZT).
  const plan: FramePlan = { frames, axis, base: channel, stride: channels };
  if (contiguous) plan.contiguousPlanes = planes;
  return plan;
}

function planOme(path: string, meta: OmeMeta, pages: number, channels: number, channel: number): FramePlan {
  if (meta.sizeZ > 1 && meta.sizeT > 1) throw fourDimensional(path, meta.sizeZ, meta.sizeT);
  const sizes: Record<string, number> = { C: channels, Z: meta.sizeZ, T: meta.sizeT };
  const order = /^XY[CZT]{3}$/.test(meta.dimensionOrder) ? meta.dimensionOrder.slice(2) : 'CZT';
  const stride: Record<string, number> = {};
  let step = 1;
  for (const letter of order) {
    stride[letter] = step;
    step *= sizes[letter] ?? 1;
  }
  const planes = step;
  if (meta.firstIfd + planes > pages) {
    throw tiffError(
      'TIFF_CORRUPT',
      path,
      `OME metadata declares ${planes} planes (C=${channels}, Z=${meta.sizeZ}, T=${meta.sizeT}) but the file holds ${pages} pages (multi-file OME datasets are not supported)`,
    );
  }
  const axis: FrameAxis = meta.sizeZ > 1 ? 'Z' : 'T';
  const frames = axis === 'Z' ? meta.sizeZ : meta.sizeT;
  return { frames, axis, base: meta.firstIfd + channel * (stride.C ?? 1), stride: stride[axis] ?? 1 };
}

interface Resolution {
  x?: number;
  y?: number;
  unit?: number;
}

function pixelSizeOf(meta: StackMeta | undefined, res: Resolution): PixelSize | undefined {
  if (meta?.kind === 'ome' && meta.physicalSizeX !== undefined) {
    // OME's default unit is the micrometre.
    const unit = normalizeUnit(meta.physicalSizeXUnit ?? 'um');
    if (unit) return { x: meta.physicalSizeX, y: meta.physicalSizeY ?? meta.physicalSizeX, unit };
  }
  const x = res.x !== undefined && Number.isFinite(res.x) && res.x > 0 ? res.x : undefined;
  if (x === undefined) return undefined;
  const y = res.y !== undefined && Number.isFinite(res.y) && res.y > 0 ? res.y : x;
  if (meta?.kind === 'imagej') {
    // ImageJ stores pixels per `unit` in X/YResolution and the unit in its description.
    const unit = normalizeUnit(meta.unit);
    return unit ? { x: 1 / x, y: 1 / y, unit } : undefined;
  }
  // Plain TIFF: only centimetres are taken as a physical calibration; inch values are nearly always a
  // screen/print DPI default (72, 96, 300) that says nothing about the specimen.
  if (res.unit === 3) return { x: 1e4 / x, y: 1e4 / y, unit: 'um' };
  return undefined;
}

async function inspectSource(src: ByteSource, limits: TiffLimits, channel: number | undefined): Promise<StackLayout> {
  const path = src.path;
  if (src.size === 0) throw new PssrError('INPUT_EMPTY', `${path}: the file is empty (0 bytes)`);
  const head = await src.read(0, Math.min(src.size, 512));
  if (!hasTiffSignature(head)) {
    const prefixOfSignature = head.length < 4 && ['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].some((sig) => sig.startsWith(head.toString('latin1')));
    if (prefixOfSignature) throw tiffError('TIFF_TRUNCATED', path, `the file ends after ${head.length} bytes, inside the TIFF header`);
    throw tiffError('NOT_A_TIFF', path, `${describeNonTiff(head)}, not a TIFF (TIFF files start with "II*" or "MM*")`);
  }
  const st = await TiffStructure.open(src);

  const visited = new Set<number>();
  const pageIfds: number[] = [];
  let first: PageDesc | undefined;
  let firstChunks: Chunks | undefined;
  let dtype: DType = 'uint8';
  let meta: StackMeta | undefined;
  let channelsAsPages = 1;
  const resolution: Resolution = {};
  let maxPages = limits.maxFrames;
  let ifdIndex = 0;
  for (let offset = st.header.firstIfd; offset !== 0; ifdIndex++) {
    if (visited.has(offset)) {
      throw tiffError('TIFF_IFD_LOOP', path, `the IFD chain loops: IFD ${ifdIndex + 1} points back to byte ${offset}, which was already read; the file is corrupt`);
    }
    visited.add(offset);
    if (ifdIndex > 2 * maxPages + 1024) {
      throw tiffError('TIFF_TOO_LARGE', path, `holds more than ${ifdIndex} IFDs, over the limit of ${limits.maxFrames} frames (maxFrames)`);
    }
    const ifd = await st.readIfd(offset, ifdIndex);
    const page = await describePage(st, ifd, ifdIndex);
    if (isFullResolution(page)) {
      if (!first) {
        checkFrameSize(path, page, limits);
        dtype = checkSampleType(path, page, channel);
        checkCoding(path, page);
        const descEntry = ifd.entries.get(Tag.ImageDescription);
        meta = parseDescription(descEntry ? await st.text(descEntry, 'ImageDescription') : undefined);
        if (meta?.kind === 'ome' && ((meta.sizeX ?? page.width) !== page.width || (meta.sizeY ?? page.height) !== page.height)) {
          meta = undefined; // OME-XML describing another image size: not ours to trust.
        }
        channelsAsPages = pageChannels(meta, page.spp);
        if (page.spp > 1 && channelsAsPages > 1) {
          throw tiffError('TIFF_UNSUPPORTED', path, `stores ${channelsAsPages} pages of ${page.spp}-sample pixels per plane; split the channels first`);
        }
        if (page.spp === 1) {
          if (channelsAsPages > 1 && channel === undefined) {
            throw tiffError('TIFF_UNSUPPORTED', path, `has ${channelsAsPages} channels; PSSR restores one channel.\nChoose one with the channel option (0..${channelsAsPages - 1}).`);
          }
          if (channel !== undefined && channel >= channelsAsPages) {
            throw tiffError('INVALID_ARGUMENT', path, channelsAsPages === 1 ? `channel ${channel} was requested but the image has a single channel (0)` : `channel ${channel} was requested but the image has ${channelsAsPages} channels (0..${channelsAsPages - 1})`);
          }
        }
        maxPages = limits.maxFrames * channelsAsPages;
        for (const [key, tag] of [['x', Tag.XResolution], ['y', Tag.YResolution], ['unit', Tag.ResolutionUnit]] as const) {
          const entry = ifd.entries.get(tag);
          const value = entry && entry.count > 0 ? (await st.numbers({ ...entry, count: 1 }, key))[0] : undefined;
          if (value !== undefined) resolution[key] = value;
        }
        first = page;
        firstChunks = await checkChunks(st, ifd, page);
      } else {
        if (page.width !== first.width || page.height !== first.height || page.bits !== first.bits || page.sampleFormat !== first.sampleFormat || page.spp !== first.spp) {
          throw tiffError(
            'FRAME_SIZE_MISMATCH',
            path,
            `page ${page.index + 1} is ${pageShape(page)} but page ${first.index + 1} is ${pageShape(first)}; all frames of a stack must have the same size and sample type`,
          );
        }
        checkCoding(path, page);
        await checkChunks(st, ifd, page);
      }
      pageIfds.push(offset);
      if (pageIfds.length > maxPages) {
        throw tiffError('TIFF_TOO_LARGE', path, `holds more than ${limits.maxFrames} frames, over the limit (maxFrames); raise the maxFrames TIFF limit if this stack is genuine`);
      }
    }
    offset = ifd.next;
  }
  if (!first || !firstChunks) throw tiffError('TIFF_CORRUPT', path, 'holds no full-resolution image (only thumbnails or masks)');

  const ch = channel ?? 0;
  const sample = first.spp > 1 ? ch : 0;
  const pageChannel = first.spp > 1 ? 0 : ch;
  let plan: FramePlan;
  if (meta?.kind === 'imagej') plan = planImageJ(path, meta, pageIfds.length, channelsAsPages, pageChannel);
  else if (meta?.kind === 'ome') plan = planOme(path, meta, pageIfds.length, channelsAsPages, pageChannel);
  else plan = { frames: pageIfds.length, axis: axisFromAxes(meta?.kind === 'shaped' ? meta.axes : undefined), base: 0, stride: 1 };

  const frameBytes = first.width * first.height * bytesPerSample(dtype);
  if (plan.frames > limits.maxFrames) {
    throw tiffError('TIFF_TOO_LARGE', path, `declares ${plan.frames} frames, over the limit of ${limits.maxFrames} (maxFrames); raise the maxFrames TIFF limit if this stack is genuine`);
  }
  if (plan.frames * frameBytes > limits.maxTotalBytes) {
    throw tiffError(
      'TIFF_TOO_LARGE',
      path,
      `declares ${plan.frames} frames of ${first.width}x${first.height} ${dtype} = ${plan.frames * frameBytes} bytes, over the limit of ${limits.maxTotalBytes} (maxTotalBytes); raise it if this stack is genuine`,
    );
  }

  const info: StackInfo = { frames: plan.frames, height: first.height, width: first.width, dtype, axis: plan.axis };
  const pixelSize = pixelSizeOf(meta, resolution);
  if (pixelSize) info.pixelSize = pixelSize;
  const layout: StackLayout = {
    path,
    info,
    bigtiff: st.header.bigtiff,
    littleEndian: st.header.littleEndian,
    pageCount: pageIfds.length,
    channels: first.spp > 1 ? first.spp : channelsAsPages,
    sample,
  };

  const contiguous = plan.contiguousPlanes !== undefined ? contiguousLayout(st, first, firstChunks, plan, pageChannel) : undefined;
  if (contiguous) {
    layout.contiguous = contiguous;
  } else {
    // A one-page ImageJ file that declares more images but is not laid out contiguously holds one frame.
    if (plan.contiguousPlanes !== undefined) {
      plan = { frames: 1, axis: plan.axis, base: 0, stride: 1 };
      info.frames = 1;
    }
    const frameIfds = new Float64Array(plan.frames);
    for (let f = 0; f < plan.frames; f++) frameIfds[f] = pageIfds[plan.base + f * plan.stride] ?? 0;
    layout.frameIfds = frameIfds;
  }
  return layout;
}

function contiguousLayout(st: TiffStructure, page: PageDesc, chunks: Chunks, plan: FramePlan, channel: number): StackLayout['contiguous'] {
  if (page.compression !== 1 || page.spp !== 1) return undefined;
  const planeBytes = page.width * page.height * (page.bits / 8);
  const firstByte = chunks.offsets[0] ?? 0;
  let expectedNext = firstByte;
  for (let j = 0; j < chunks.offsets.length; j++) {
    if (chunks.offsets[j] !== expectedNext) return undefined;
    expectedNext += chunks.counts[j] ?? 0;
  }
  if (expectedNext - firstByte < planeBytes) return undefined;
  const planes = plan.contiguousPlanes ?? 1;
  const end = firstByte + planes * planeBytes;
  if (end > st.src.size) {
    throw tiffError(
      'TIFF_TRUNCATED',
      st.path,
      `ImageJ metadata declares ${planes} images stored back to back from byte ${firstByte} (${end} bytes in all) but the file has ${st.src.size} bytes: the file is truncated`,
    );
  }
  return { firstByte, planeBytes, planesPerFrame: plan.stride, channel };
}
