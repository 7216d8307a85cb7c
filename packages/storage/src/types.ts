import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string | null;
  contentType: string | null;
  lastModified: Date | null;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface PutOptions {
  contentType?: string;
}

export interface PutStreamOptions extends PutOptions {
  /** Multipart part size in bytes (S3: >= 5 MiB; default 8 MiB). Memory use is about partSize x queueSize. */
  partSize?: number;
  /** Parts uploaded concurrently (default 2). */
  queueSize?: number;
  signal?: AbortSignal;
}

export type StorageErrorCode =
  | 'OBJECT_NOT_FOUND'
  | 'UPLOAD_NOT_FOUND'
  | 'UPLOAD_PARTS_MISSING'
  | 'PRESIGN_UNSUPPORTED'
  | 'INVALID_KEY';

/** Errors the callers act on (404, 409, "proxy instead of presign"); anything else is an I/O failure to retry. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(readonly code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isStorageError(err: unknown, code?: StorageErrorCode): err is StorageError {
  return err instanceof StorageError && (code === undefined || err.code === code);
}

/**
 * Where stacks, results and model files live. Keys are relative paths with `/` separators
 * (no leading `/`, no `..`). Every write is atomic: a reader never sees a half-written object.
 */
export interface ObjectStore {
  readonly kind: 's3' | 'local';
  /** false for the local store: `presign*` throw PRESIGN_UNSUPPORTED and the API proxies bytes itself. */
  readonly supportsPresign: boolean;

  putFile(key: string, path: string, opts?: PutOptions): Promise<ObjectInfo>;
  /** Streams `body` to the object (multipart on S3); never holds the whole object in memory. */
  putStream(key: string, body: Readable, opts?: PutStreamOptions): Promise<ObjectInfo>;
  /** Downloads to `path` atomically (temp file + rename). OBJECT_NOT_FOUND if absent. */
  getToFile(key: string, path: string): Promise<ObjectInfo>;
  /** Byte range is inclusive like HTTP (`end` = last byte). OBJECT_NOT_FOUND if absent. */
  getStream(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | null>;
  exists(key: string): Promise<boolean>;
  /** Deletes; no error when absent. */
  delete(key: string): Promise<void>;
  /** Deletes every object whose key starts with `prefix`; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  copy(fromKey: string, toKey: string): Promise<ObjectInfo>;

  // Resumable multipart upload: the client PUTs parts to presigned URLs (S3) or through the API
  // (`uploadPart`, local store), asks which parts arrived (`listParts`), re-sends missing ones, completes.
  createMultipartUpload(key: string, opts?: PutOptions): Promise<string>;
  /** Presigned URL for `PUT` of one part (1..10000). */
  presignPart(key: string, uploadId: string, partNumber: number, expiresSec?: number): Promise<string>;
  /** Uploads one part through this process (for stores or clients without presigned URLs). */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Readable | Buffer, contentLength?: number): Promise<UploadedPart>;
  /** Parts received so far, by part number. UPLOAD_NOT_FOUND if the upload is unknown or finished. */
  listParts(key: string, uploadId: string): Promise<UploadedPart[]>;
  /**
   * Completes from the listed parts. With `expectedParts`, UPLOAD_PARTS_MISSING (message names the missing
   * part numbers) unless parts 1..expectedParts are all present, so a client can re-send them and retry.
   */
  completeMultipartUpload(key: string, uploadId: string, opts?: { expectedParts?: number }): Promise<ObjectInfo>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  /** Presigned URL for `GET` (default 15 minutes); `filename` sets Content-Disposition. */
  presignGet(key: string, opts?: { expiresSec?: number; filename?: string }): Promise<string>;

  /** Releases sockets. */
  close(): void;
}

export interface S3StoreConfig {
  bucket: string;
  /** e.g. http://127.0.0.1:9000 for MinIO; omit for AWS. */
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (MinIO, s3rver): default true when `endpoint` is set. */
  forcePathStyle?: boolean;
  /** Key prefix inside the bucket (e.g. `pssr/`); default none. */
  prefix?: string;
}

export type StorageConfig =
  | ({ kind: 's3' } & S3StoreConfig)
  | { kind: 'local'; dir: string };
