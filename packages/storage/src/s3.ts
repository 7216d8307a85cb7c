import { createReadStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checkKey } from './keys.js';
import { StorageError } from './types.js';
import type { ObjectInfo, ObjectStore, PutOptions, PutStreamOptions, S3StoreConfig, UploadedPart } from './types.js';

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
/** CopyObject's limit; larger objects are copied part by part. */
const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE = 1024 * 1024 * 1024;

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}
function errName(err: unknown): string | undefined {
  return (err as { name?: string; Code?: string } | null)?.name ?? (err as { Code?: string } | null)?.Code;
}
function isNotFound(err: unknown): boolean {
  const n = errName(err);
  return status(err) === 404 || n === 'NotFound' || n === 'NoSuchKey';
}
function isNoSuchUpload(err: unknown): boolean {
  return errName(err) === 'NoSuchUpload' || status(err) === 404;
}
const unquote = (etag: string | undefined | null): string | null => (etag ? etag.replace(/"/g, '') : null);

/** S3, MinIO or any S3-compatible server. */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly supportsPresign = true;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;

  constructor(config: S3StoreConfig) {
    this.bucket = config.bucket;
    this.prefix = config.prefix ?? '';
    this.client = new S3Client({
      region: config.region ?? 'us-east-1',
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle ?? config.endpoint !== undefined,
      ...(config.accessKeyId && config.secretAccessKey
        ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
        : {}),
      // Checksums only where S3 requires them: MinIO/s3rver and presigned part URLs then behave like AWS.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private k(key: string): string {
    return this.prefix + checkKey(key);
  }

  /** Creates the bucket if it does not exist (development and tests; production buckets are provisioned). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<ObjectInfo> {
    return this.putStream(key, createReadStream(path), opts);
  }

  async putStream(key: string, body: Readable, opts: PutStreamOptions = {}): Promise<ObjectInfo> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.k(key), Body: body, ...(opts.contentType ? { ContentType: opts.contentType } : {}) },
      partSize: Math.max(MIN_PART_SIZE, opts.partSize ?? DEFAULT_PART_SIZE),
      queueSize: opts.queueSize ?? 2,
      leavePartsOnError: false, // an aborted or failed upload leaves no parts (and no object) behind
    });
    const onAbort = () => void upload.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.signal?.aborted) await upload.abort();
      await upload.done();
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    const info = await this.head(key);
    if (!info) throw new Error(`object ${key} missing right after upload`);
    return info;
  }

  async getToFile(key: string, path: string): Promise<ObjectInfo> {
    const info = await this.head(key);
    if (!info) throw new StorageError('OBJECT_NOT_FOUND', `object ${key} does not exist`);
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${basename(path)}.partial-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(await this.getStream(key), createWriteStream(tmp));
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return info;
  }

  async getStream(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      if (!(res.Body instanceof Readable)) throw new Error('S3 returned a body that is not a Node stream');
      return res.Body;
    } catch (err) {
      if (isNotFound(err)) throw new StorageError('OBJECT_NOT_FOUND', `object ${key} does not exist`, { cause: err });
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return {
        key,
        size: res.ContentLength ?? 0,
        etag: unquote(res.ETag),
        contentType: res.ContentType ?? null,
        lastModified: res.LastModified ?? null,
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length > 0) {
        await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
        deleted += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return deleted;
  }

  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    const src = await this.head(fromKey);
    if (!src) throw new StorageError('OBJECT_NOT_FOUND', `object ${fromKey} does not exist`);
    const copySource = `${this.bucket}/${encodeURIComponent(this.k(fromKey)).replace(/%2F/g, '/')}`;
    if (src.size <= MAX_SINGLE_COPY) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.k(toKey), CopySource: copySource }));
    } else {
      const uploadId = await this.createMultipartUpload(toKey, src.contentType ? { contentType: src.contentType } : {});
      try {
        for (let part = 1, start = 0; start < src.size; part++, start += COPY_PART_SIZE) {
          const end = Math.min(src.size, start + COPY_PART_SIZE) - 1;
          await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket, Key: this.k(toKey), UploadId: uploadId, PartNumber: part,
              CopySource: copySource, CopySourceRange: `bytes=${start}-${end}`,
            }),
          );
        }
        await this.completeMultipartUpload(toKey, uploadId);
      } catch (err) {
        await this.abortMultipartUpload(toKey, uploadId).catch(() => {});
        throw err;
      }
    }
    const info = await this.head(toKey);
    if (!info) throw new Error(`object ${toKey} missing right after copy`);
    return info;
  }

  async createMultipartUpload(key: string, opts: PutOptions = {}): Promise<string> {
    const res = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.k(key), ...(opts.contentType ? { ContentType: opts.contentType } : {}) }),
    );
    if (!res.UploadId) throw new Error('S3 returned no UploadId');
    return res.UploadId;
  }

  async presignPart(key: string, uploadId: string, partNumber: number, expiresSec = 3600): Promise<string> {
    checkPartNumber(partNumber);
    return getSignedUrl(
      this.client,
      new UploadPartCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId, PartNumber: partNumber }),
      { expiresIn: expiresSec },
    );
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Readable | Buffer, contentLength?: number): Promise<UploadedPart> {
    checkPartNumber(partNumber);
    const size = Buffer.isBuffer(body) ? body.length : contentLength;
    if (size === undefined) throw new Error('uploadPart of a stream needs its contentLength');
    try {
      const res = await this.client.send(
        new UploadPartCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: size }),
      );
      return { partNumber, etag: unquote(res.ETag) ?? '', size };
    } catch (err) {
      if (errName(err) === 'NoSuchUpload') throw new StorageError('UPLOAD_NOT_FOUND', `upload ${uploadId} does not exist or is finished`, { cause: err });
      throw err;
    }
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      for (;;) {
        const res = await this.client.send(
          new ListPartsCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }),
        );
        for (const p of res.Parts ?? []) {
          if (p.PartNumber !== undefined) parts.push({ partNumber: p.PartNumber, etag: unquote(p.ETag) ?? '', size: p.Size ?? 0 });
        }
        if (!res.IsTruncated || !res.NextPartNumberMarker) break;
        marker = res.NextPartNumberMarker;
      }
    } catch (err) {
      if (isNoSuchUpload(err)) throw new StorageError('UPLOAD_NOT_FOUND', `upload ${uploadId} does not exist or is finished`, { cause: err });
      throw err;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipartUpload(key: string, uploadId: string, opts: { expectedParts?: number } = {}): Promise<ObjectInfo> {
    const listed = await this.listParts(key, uploadId);
    const parts = missingPartsCheck(listed, opts.expectedParts);
    if (parts.length === 0) throw new StorageError('UPLOAD_PARTS_MISSING', `upload ${uploadId} has no parts yet`);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })) },
        }),
      );
    } catch (err) {
      if (errName(err) === 'NoSuchUpload') throw new StorageError('UPLOAD_NOT_FOUND', `upload ${uploadId} does not exist or is finished`, { cause: err });
      throw err;
    }
    const info = await this.head(key);
    if (!info) throw new Error(`object ${key} missing right after completing upload ${uploadId}`);
    return info;
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.k(key), UploadId: uploadId }));
    } catch (err) {
      if (!isNoSuchUpload(err)) throw err;
    }
  }

  async presignGet(key: string, opts: { expiresSec?: number; filename?: string } = {}): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.k(key),
        ...(opts.filename ? { ResponseContentDisposition: `attachment; filename="${opts.filename.replace(/["\\\r\n]/g, '_')}"` } : {}),
      }),
      { expiresIn: opts.expiresSec ?? 900 },
    );
  }

  close(): void {
    this.client.destroy();
  }
}

export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
    throw new StorageError('INVALID_KEY', `part number must be an integer from 1 to 10000 (got ${partNumber})`);
  }
}

/** With `expectedParts`, all of 1..n must be present (extra higher parts are ignored); names the missing ones. */
export function missingPartsCheck(listed: UploadedPart[], expectedParts: number | undefined): UploadedPart[] {
  if (expectedParts === undefined) return listed;
  const have = new Set(listed.map((p) => p.partNumber));
  const missing: number[] = [];
  for (let n = 1; n <= expectedParts; n++) if (!have.has(n)) missing.push(n);
  if (missing.length > 0) {
    const shown = missing.length > 20 ? `${missing.slice(0, 20).join(', ')}, ... (${missing.length} in all)` : missing.join(', ');
    throw new StorageError('UPLOAD_PARTS_MISSING', `upload is missing part(s) ${shown}; upload them and complete again`);
  }
  return listed.filter((p) => p.partNumber <= expectedParts);
}
