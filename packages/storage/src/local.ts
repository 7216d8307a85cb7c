import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey } from './keys.js';
import { checkPartNumber, missingPartsCheck } from './s3.js';
import { StorageError } from './types.js';
import type { ObjectInfo, ObjectStore, PutOptions, PutStreamOptions, UploadedPart } from './types.js';

/** Multipart uploads in progress live here, outside the key space. */
const UPLOADS_DIR = '.pssr-uploads';
const isTemp = (name: string) => name.includes('.partial-');

/**
 * Objects as files under one directory (a single machine without S3). Every write goes to a hidden temp file
 * in the destination folder and is renamed into place, so readers never see partial objects and a crash
 * leaves at most a stray temp file. No presigned URLs: the API streams bytes itself.
 */
export class LocalObjectStore implements ObjectStore {
  readonly kind = 'local' as const;
  readonly supportsPresign = false;

  constructor(readonly dir: string) {}

  private path(key: string): string {
    checkKey(key);
    if (key.split('/')[0] === UPLOADS_DIR || key.split('/').some(isTemp)) {
      throw new StorageError('INVALID_KEY', `object key ${JSON.stringify(key)} is reserved`);
    }
    return join(this.dir, ...key.split('/'));
  }

  private uploadDir(uploadId: string): string {
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw new StorageError('UPLOAD_NOT_FOUND', `upload ${uploadId} does not exist`);
    return join(this.dir, UPLOADS_DIR, uploadId);
  }

  /** Streams `body` to `dest` via a temp file; returns size and md5 (as S3 ETags are for single-part objects). */
  private async writeAtomic(dest: string, body: Readable, signal?: AbortSignal): Promise<{ size: number; md5: string }> {
    await mkdir(dirname(dest), { recursive: true });
    const tmp = join(dirname(dest), `.${basename(dest)}.partial-${randomBytes(6).toString('hex')}`);
    const hash = createHash('md5');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(tmp), ...(signal ? [{ signal }] : []));
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { size, md5: hash.digest('hex') };
  }

  private async info(key: string, file: string): Promise<ObjectInfo | null> {
    const s = await stat(file).catch(() => null);
    if (!s || !s.isFile()) return null;
    return { key, size: s.size, etag: null, contentType: null, lastModified: s.mtime };
  }

  private async mustExist(key: string): Promise<ObjectInfo> {
    const info = await this.info(key, this.path(key));
    if (!info) throw new StorageError('OBJECT_NOT_FOUND', `object ${key} does not exist`);
    return info;
  }

  async putFile(key: string, path: string, opts: PutOptions = {}): Promise<ObjectInfo> {
    return this.putStream(key, createReadStream(path), opts);
  }

  async putStream(key: string, body: Readable, opts: PutStreamOptions = {}): Promise<ObjectInfo> {
    const file = this.path(key);
    const { md5 } = await this.writeAtomic(file, body, opts.signal);
    const info = await this.mustExist(key);
    return { ...info, etag: md5 };
  }

  async getToFile(key: string, path: string): Promise<ObjectInfo> {
    const info = await this.mustExist(key);
    await this.writeAtomic(path, createReadStream(this.path(key)));
    return info;
  }

  async getStream(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    await this.mustExist(key);
    return createReadStream(this.path(key), range ? { start: range.start, ...(range.end !== undefined ? { end: range.end } : {}) } : {});
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return this.info(key, this.path(key));
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) {
          if (dir === this.dir && e.name === UPLOADS_DIR) continue;
          await walk(full);
        } else if (!isTemp(e.name)) {
          const key = relative(this.dir, full).split(sep).join('/');
          if (key.startsWith(prefix)) {
            await rm(full, { force: true });
            deleted++;
          }
        }
      }
    };
    await walk(this.dir);
    return deleted;
  }

  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    await this.mustExist(fromKey);
    const dest = this.path(toKey);
    await mkdir(dirname(dest), { recursive: true });
    const tmp = join(dirname(dest), `.${basename(dest)}.partial-${randomBytes(6).toString('hex')}`);
    try {
      await copyFile(this.path(fromKey), tmp);
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return this.mustExist(toKey);
  }

  async createMultipartUpload(key: string, _opts: PutOptions = {}): Promise<string> {
    this.path(key);
    const uploadId = randomBytes(16).toString('hex');
    const dir = this.uploadDir(uploadId);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'key'), key);
    return uploadId;
  }

  private async uploadKey(key: string, uploadId: string): Promise<string> {
    const dir = this.uploadDir(uploadId);
    const stored = await readFile(join(dir, 'key'), 'utf8').catch(() => null);
    if (stored !== key) throw new StorageError('UPLOAD_NOT_FOUND', `upload ${uploadId} for ${key} does not exist or is finished`);
    return dir;
  }

  async presignPart(_key: string, _uploadId: string, _partNumber: number, _expiresSec?: number): Promise<string> {
    throw new StorageError('PRESIGN_UNSUPPORTED', 'the local object store has no presigned URLs; send parts through the API');
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Readable | Buffer): Promise<UploadedPart> {
    checkPartNumber(partNumber);
    const dir = await this.uploadKey(key, uploadId);
    const { size, md5 } = await this.writeAtomic(join(dir, `part-${String(partNumber).padStart(5, '0')}`),
      Buffer.isBuffer(body) ? Readable.from([body]) : body);
    await writeFile(join(dir, `part-${String(partNumber).padStart(5, '0')}.md5`), md5);
    return { partNumber, etag: md5, size };
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    const dir = await this.uploadKey(key, uploadId);
    const parts: UploadedPart[] = [];
    for (const name of await readdir(dir)) {
      const m = /^part-(\d{5})$/.exec(name);
      if (!m) continue;
      const s = await stat(join(dir, name));
      const etag = await readFile(join(dir, `${name}.md5`), 'utf8').catch(() => '');
      parts.push({ partNumber: Number(m[1]), etag, size: s.size });
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipartUpload(key: string, uploadId: string, opts: { expectedParts?: number } = {}): Promise<ObjectInfo> {
    const dir = await this.uploadKey(key, uploadId);
    const parts = missingPartsCheck(await this.listParts(key, uploadId), opts.expectedParts);
    if (parts.length === 0) throw new StorageError('UPLOAD_PARTS_MISSING', `upload ${uploadId} has no parts yet`);
    const files = parts.map((p) => join(dir, `part-${String(p.partNumber).padStart(5, '0')}`));
    async function* concat() {
      for (const f of files) yield* createReadStream(f);
    }
    await this.writeAtomic(this.path(key), Readable.from(concat()));
    await rm(dir, { recursive: true, force: true });
    return this.mustExist(key);
  }

  async abortMultipartUpload(_key: string, uploadId: string): Promise<void> {
    await rm(this.uploadDir(uploadId), { recursive: true, force: true });
  }

  async presignGet(_key: string, _opts?: { expiresSec?: number; filename?: string }): Promise<string> {
    throw new StorageError('PRESIGN_UNSUPPORTED', 'the local object store has no presigned URLs; stream the object through the API');
  }

  close(): void {}
}
