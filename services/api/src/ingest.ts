/**
 * Receiving a stack: the request body streams to the object store and to a temp file at once while its
 * sha256 is computed and its size capped (nothing holds the whole stack in memory). The temp file is then
 * checked with `inspectTiff` (header, IFD chain, dimensions); an invalid TIFF is answered 4xx with the tiff
 * error code and its object deleted, so only validated stacks ever get a record.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { toStackMetadata, type AuthContext, type StackRecord } from '@pssr/db';
import type { StackInfo } from '@pssr/core';
import { inspectTiff } from '@pssr/tiff';
import { ApiError } from './errors.js';

export function stackStorageKey(groupId: string, stackId: string): string {
  return `stacks/${groupId}/${stackId}.tif`;
}

/** Counts and hashes bytes on their way through; fails with 413 past `maxBytes`. */
export class MeteredStream extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      cb(tooLarge(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

export function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'PAYLOAD_TOO_LARGE', `The stack is larger than this server accepts (${maxBytes} bytes); ask an admin to raise UPLOAD_MAX_BYTES.`);
}

/** Writes every chunk to each target, honouring the slowest one's backpressure. */
class Fanout extends Writable {
  constructor(private readonly targets: Writable[]) {
    super();
    for (const t of targets) t.on('error', (err) => this.destroy(err));
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let pending = this.targets.length;
    const done = () => {
      if (--pending === 0) cb();
    };
    for (const t of this.targets) {
      if (t.write(chunk)) done();
      else t.once('drain', done);
    }
  }
  override _final(cb: (err?: Error | null) => void): void {
    let pending = this.targets.length;
    for (const t of this.targets) {
      t.end(() => {
        if (--pending === 0) cb();
      });
    }
  }
}


/** Validates a spooled TIFF against the server's limits; throws the tiff PssrError (mapped to 4xx). */
export async function inspectSpooled(app: FastifyInstance, path: string): Promise<StackInfo> {
  return inspectTiff(path, { limits: { ...app.config.limits, maxTotalBytes: app.config.uploads.maxBytes * 64 } });
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Streams `body` into a new stack of the caller's group. Returns the ready stack record; on any failure the
 * object and temp file are removed and nothing is recorded.
 */
export async function ingestStack(app: FastifyInstance, caller: AuthContext, body: Readable, name: string): Promise<StackRecord> {
  const { maxBytes, tmpDir } = app.config.uploads;
  const id = randomUUID();
  const key = stackStorageKey(caller.group.id, id);
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${id}.tif`);
  const meter = new MeteredStream(maxBytes);
  const toStore = new PassThrough({ highWaterMark: 4 * 2 ** 20 });
  const put = app.store.putStream(key, toStore, { contentType: 'image/tiff' });
  // If the store fails first, stop reading the request at once.
  put.catch((err: unknown) => meter.destroy(err instanceof Error ? err : new Error(String(err))));
  try {
    await pipeline(body, meter, new Fanout([createWriteStream(tmp), toStore]));
    await put;
    if (meter.bytes === 0) throw new ApiError(400, 'INPUT_EMPTY', 'The request body is empty: send the TIFF bytes (Content-Type: image/tiff) or a multipart file field.');
    const info = await inspectSpooled(app, tmp);
    const sha256 = meter.hash.digest('hex');
    const stack = await app.db.stacks.create({ id, groupId: caller.group.id, userId: caller.user.id, name, storageKey: key });
    const ready = await app.db.stacks.markReady(id, toStackMetadata(info, sha256, meter.bytes));
    return ready ?? stack;
  } catch (err) {
    toStore.destroy();
    await put.catch(() => undefined);
    await app.store.delete(key).catch((e: unknown) => app.log.warn({ err: e, key }, 'could not delete a rejected upload'));
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}
