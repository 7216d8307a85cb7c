/**
 * Every error a user can cause carries a stable code. The CLI prints `message` (no stack) and exits 2;
 * the API maps codes to HTTP statuses in one place; the worker fails jobs permanently on user errors.
 */
export type ErrorCode =
  | 'INPUT_NOT_FOUND'
  | 'INPUT_EMPTY'
  | 'INPUT_UNREADABLE'
  | 'NOT_A_TIFF'
  | 'TIFF_TRUNCATED'
  | 'TIFF_CORRUPT'
  | 'TIFF_IFD_LOOP'
  | 'TIFF_UNSUPPORTED'
  | 'TIFF_TOO_LARGE'
  | 'FRAME_SIZE_MISMATCH'
  | 'OUTPUT_EXISTS'
  | 'OUTPUT_NOT_WRITABLE'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_CARD_INVALID'
  | 'MODEL_INPUT_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'DEVICE_UNAVAILABLE'
  | 'TRAIN_BAD_INPUT'
  | 'TRAIN_FAILED'
  | 'CANCELED'
  | 'INTERNAL';

export class PssrError extends Error {
  override readonly name = 'PssrError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** true when the user can fix it (bad file, bad argument); false for internal or transient failures. */
    readonly userError = true,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isPssrError(err: unknown): err is PssrError {
  return err instanceof PssrError;
}
