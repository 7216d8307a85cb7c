import { allocFrame, isPssrError, PssrError, type FrameArray, type FrameSource, type StackInfo } from '@pssr/core';
import { fromFile, GeoTIFFImage, type GeoTIFF } from 'geotiff';
import type { ByteSource } from './bytesource.js';
import { ChunkOverflowError } from './decoders.js'; // also registers the bounded decoders with geotiff
import { inspectLayout, openSource, type StackLayout, type TiffReadOptions } from './inspect.js';

export interface TiffStackReader extends FrameSource {
  readonly path: string;
  readonly bigtiff: boolean;
}

/** Validates the whole file (see inspectTiff) and returns the stack's shape and metadata; reads no pixels. */
export async function inspectTiff(path: string, opts?: TiffReadOptions): Promise<StackInfo> {
  return (await inspectLayout(path, opts)).info;
}

/**
 * For a store that accepts multi-channel stacks and lets each job pick one: validates the file as
 * `inspectTiff` does, reading channel 0 where there are several, and says how many channels it holds.
 */
export async function inspectStack(path: string, opts: { limits?: TiffReadOptions['limits'] } = {}): Promise<{ info: StackInfo; channels: number }> {
  const layout = await inspectLayout(path, { ...opts, channel: 0 });
  return { info: layout.info, channels: layout.channels };
}

/**
 * Opens a stack for reading one frame at a time. The file is validated first (inspectTiff), then each
 * readFrame parses only that frame's IFD and decodes its strips/tiles with geotiff, so memory stays at
 * about one frame whatever the stack length.
 */
export async function openTiffStack(path: string, opts?: TiffReadOptions): Promise<TiffStackReader> {
  const layout = await inspectLayout(path, opts);
  if (layout.contiguous) return new TiffStackReaderImpl(layout, undefined, await openSource(path));
  let tiff: GeoTIFF;
  try {
    tiff = await fromFile(path);
  } catch (err) {
    throw new PssrError('INPUT_UNREADABLE', `${path}: cannot be opened for reading (${(err as Error).message})`, true, { cause: err });
  }
  return new TiffStackReaderImpl(layout, tiff, undefined);
}

class TiffStackReaderImpl implements TiffStackReader {
  readonly info: StackInfo;
  readonly path: string;
  readonly bigtiff: boolean;
  private closed = false;

  constructor(
    private readonly layout: StackLayout,
    private readonly tiff: GeoTIFF | undefined,
    private readonly raw: ByteSource | undefined,
  ) {
    this.info = layout.info;
    this.path = layout.path;
    this.bigtiff = layout.bigtiff;
  }

  async readFrame(index: number): Promise<FrameArray> {
    if (this.closed) throw new PssrError('INTERNAL', `${this.path}: readFrame after close`, false);
    if (!Number.isInteger(index) || index < 0 || index >= this.info.frames) {
      throw new PssrError('INVALID_ARGUMENT', `${this.path}: frame ${index} does not exist (the stack has frames 0..${this.info.frames - 1})`, false);
    }
    try {
      return this.layout.contiguous ? await this.readContiguous(index) : await this.readPage(index);
    } catch (err) {
      if (isPssrError(err)) throw err;
      if (err instanceof ChunkOverflowError) {
        throw new PssrError('TIFF_TOO_LARGE', `${this.path}: frame ${index + 1}: ${err.message}; the file is corrupt or a decompression bomb`, true, { cause: err });
      }
      throw new PssrError('TIFF_CORRUPT', `${this.path}: frame ${index + 1} could not be decoded (${(err as Error).message})`, true, { cause: err });
    }
  }

  private async readPage(index: number): Promise<FrameArray> {
    const tiff = this.tiff;
    const offset = this.layout.frameIfds?.[index];
    if (!tiff || offset === undefined) throw new Error('no IFD for this frame');
    // Parse just this frame's IFD: geotiff's getImage(i) would walk and keep every IFD before it.
    const ifd = await tiff.parser.parseFileDirectoryAt(offset);
    const image = new GeoTIFFImage(ifd, tiff.littleEndian, false, tiff.source);
    const rasters = await image.readRasters({ samples: [this.layout.sample], interleave: false });
    const data = rasters[0];
    const { dtype, width, height } = this.info;
    const expected = dtype === 'uint8' ? Uint8Array : dtype === 'uint16' ? Uint16Array : Float32Array;
    if (!(data instanceof expected) || data.length !== width * height) {
      throw new Error(`decoded ${data?.constructor.name ?? 'nothing'} of ${data?.length ?? 0} values, expected ${dtype} x ${width * height}`);
    }
    return data;
  }

  private async readContiguous(index: number): Promise<FrameArray> {
    const contiguous = this.layout.contiguous;
    const raw = this.raw;
    if (!contiguous || !raw) throw new Error('no contiguous layout');
    const { dtype, width, height } = this.info;
    const frame = allocFrame(dtype, width * height);
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const plane = index * contiguous.planesPerFrame + contiguous.channel;
    await raw.readDirect(contiguous.firstByte + plane * contiguous.planeBytes, contiguous.planeBytes, bytes);
    // Typed arrays are host order (little-endian on every platform Node supports); ImageJ writes big-endian.
    if (!this.layout.littleEndian) {
      if (frame.BYTES_PER_ELEMENT === 2) bytes.swap16();
      else if (frame.BYTES_PER_ELEMENT === 4) bytes.swap32();
    }
    return frame;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tiff?.close();
    await this.raw?.close();
  }
}
