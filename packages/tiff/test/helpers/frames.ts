import type { DType, FrameArray } from '@pssr/core';

/** Deterministic frames that include each dtype's extremes, so clipping or byte-order bugs show. */
export function makeFrame(dtype: DType, length: number, seed: number): FrameArray {
  let state = (seed * 2654435761) >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  if (dtype === 'uint8') {
    const a = Uint8Array.from({ length }, () => Math.floor(next() * 256));
    a[0] = 0;
    a[length - 1] = 255;
    return a;
  }
  if (dtype === 'uint16') {
    const a = Uint16Array.from({ length }, () => Math.floor(next() * 65536));
    a[0] = 0;
    a[length - 1] = 65535;
    return a;
  }
  const a = Float32Array.from({ length }, () => (next() - 0.5) * 2000);
  a[0] = -3.5e30;
  a[length - 1] = 1e-30;
  return a;
}

export function concat(frames: FrameArray[]): Buffer {
  return Buffer.concat(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)));
}
