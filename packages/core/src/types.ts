/** Sample types the engine reads and writes. */
export const DTYPES = ['uint8', 'uint16', 'float32'] as const;
export type DType = (typeof DTYPES)[number];

export function isDType(value: string): value is DType {
  return (DTYPES as readonly string[]).includes(value);
}
export type FrameArray = Uint8Array | Uint16Array | Float32Array;
/** What the frame axis of a stack means: time (a time-lapse) or depth (a z-stack). */
export type FrameAxis = 'T' | 'Z';

export interface PixelSize {
  x: number;
  y: number;
  /** 'nm' | 'um' | other unit strings found in files ('micron' is normalised to 'um'). */
  unit: string;
}

/** Shape and metadata of a stack: frames x height x width of one dtype. */
export interface StackInfo {
  frames: number;
  height: number;
  width: number;
  dtype: DType;
  axis: FrameAxis;
  pixelSize?: PixelSize;
}

/** A stack read one frame at a time, so memory does not grow with stack length. */
export interface FrameSource {
  readonly info: StackInfo;
  /** Frame i (0-based), row-major height x width, typed by info.dtype. */
  readFrame(index: number): Promise<FrameArray>;
  close(): Promise<void>;
}

/** A stack written one frame at a time; nothing is visible at the destination until commit(). */
export interface FrameSink {
  readonly info: StackInfo;
  writeFrame(data: FrameArray): Promise<void>;
  /** Finishes the file and makes it visible (atomic rename). */
  commit(): Promise<void>;
  /** Removes everything written so far. Safe to call after a failure, and more than once. */
  abort(): Promise<void>;
}

export function bytesPerSample(dtype: DType): number {
  return dtype === 'uint8' ? 1 : dtype === 'uint16' ? 2 : 4;
}

export function allocFrame(dtype: DType, length: number): FrameArray {
  return dtype === 'uint8' ? new Uint8Array(length) : dtype === 'uint16' ? new Uint16Array(length) : new Float32Array(length);
}
