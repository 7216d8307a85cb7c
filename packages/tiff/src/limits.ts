import { PssrError } from '@pssr/core';

/**
 * Limits checked against what a TIFF *declares* before anything is allocated, so a hostile or broken
 * header (e.g. 100000 x 100000 pixels, or a billion pages) is refused up front instead of exhausting memory.
 */
export interface TiffLimits {
  /** Largest width x height of one frame. */
  maxFramePixels: number;
  /** Largest number of frames (after channel selection). */
  maxFrames: number;
  /** Largest decoded size of the whole stack in bytes (frames x height x width x bytes per sample). */
  maxTotalBytes: number;
  /**
   * Largest decoded strip or tile in bytes (width x rows x bytes per pixel, all samples). A compressed chunk
   * is also never inflated past its declared size (see decoders.ts), whatever this limit.
   */
  maxChunkBytes: number;
  /** Largest decoded frame in bytes (height x width x bytes per sample). */
  maxFrameBytes: number;
}

export const DEFAULT_TIFF_LIMITS: TiffLimits = Object.freeze({
  maxFramePixels: 2 ** 30,
  maxFrames: 1_000_000,
  maxTotalBytes: 2 ** 40,
  maxChunkBytes: 2 ** 30,
  maxFrameBytes: 4 * 2 ** 30,
});

export function resolveLimits(partial: Partial<TiffLimits> | undefined): TiffLimits {
  // Partial<> fields may be undefined: those keep their default.
  const limits = { ...DEFAULT_TIFF_LIMITS };
  if (partial) {
    for (const key of ['maxFramePixels', 'maxFrames', 'maxTotalBytes', 'maxChunkBytes', 'maxFrameBytes'] as const) {
      const value = partial[key];
      if (value !== undefined) {
        if (!(typeof value === 'number' && value > 0)) throw new PssrError('INVALID_ARGUMENT', `TIFF limit ${key} must be a positive number, got ${String(value)}`);
        limits[key] = value;
      }
    }
  }
  return limits;
}
