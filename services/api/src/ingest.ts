/**
 * Receiving a stack: the request body streams to the object store and to a temp file at once while its
 * sha256 is computed and its size capped (nothing holds the whole stack in memory). The temp file is then
 * checked with `inspectStack` (header, IFD chain, dimensions, channels) and, unless UPLOAD_VERIFY_FRAMES=false, every
 * frame is decoded one at a time (a corrupt strip is refused now, not when a job runs); an invalid TIFF is
 * answered 4xx with the tiff error code and its object deleted, so only validated stacks ever get a record.
 * Messages name the stack, never the spool path.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { toStackMetadata, type AuthContext, type StackRecord } from '@pssr/db';
import { isPssrError, PssrError, type StackInfo } from '@pssr/core';
import { inspectStack, openTiffStack, type TiffReadOptions } from '@pssr/tiff';
import { ApiError } from './errors.js';
import { ensureQuota } from './lifecycle.js';

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


function tiffOptions(app: FastifyInstance): TiffReadOptions {
  return { limits: { ...app.config.limits, maxTotalBytes: app.config.uploads.maxBytes * 64 } };
}

/** Decodes every frame, one at a time (memory: one frame), so a stack that parses but cannot be read is refused. */
async function decodeEveryFrame(path: string, opts: TiffReadOptions): Promise<void> {
  const reader = await openTiffStack(path, opts);
  try {
    for (let f = 0; f < reader.info.frames; f++) await reader.readFrame(f);
  } finally {
    await reader.close();
  }
}

/** JavaScript's own messages (DataView bounds, "undefined") that a decoder may wrap; they mean nothing to a user. */
const ENGINE_DETAIL = /\s*\((?:[^()]|\([^()]*\))*(?:DataView|undefined|Cannot read|is not a function|Invalid typed array|out of range|Maximum call stack)(?:[^()]|\([^()]*\))*\)/g;

/** The tiff error of a spooled file, worded for the client: the stack's name instead of the spool path. */
export function uploadError(err: unknown, spoolPath: string, name: string): unknown {
  if (!isPssrError(err)) return err;
  const message = err.message.split(spoolPath).join(`"${name}"`).replace(ENGINE_DETAIL, ' (the data is corrupt or truncated)');
  return new PssrError(err.code, message, err.userError, { cause: err });
}

/**
 * Validates a spooled TIFF against the server's limits (and decodes every frame of every channel unless
 * disabled); throws the tiff PssrError (mapped to 4xx), worded with `name`. Multi-channel stacks are
 * accepted: each restore job picks one channel (`options.channel`).
 */
export async function inspectSpooled(app: FastifyInstance, path: string, name: string): Promise<{ info: StackInfo; channels: number }> {
  const opts = tiffOptions(app);
  try {
    const stack = await inspectStack(path, opts);
    if (app.config.uploads.verifyFrames) for (let c = 0; c < stack.channels; c++) await decodeEveryFrame(path, { ...opts, channel: c });
    return stack;
  } catch (err) {
    throw uploadError(err, path, name);
  }
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
  await ensureQuota(app, caller.group.id, 0);
  const toStore = new PassThrough({ highWaterMark: 4 * 2 ** 20 });
  const put = app.store.putStream(key, toStore, { contentType: 'image/tiff' });
  // If the store fails first, stop reading the request at once.
  put.catch((err: unknown) => meter.destroy(err instanceof Error ? err : new Error(String(err))));
  try {
    await pipeline(body, meter, new Fanout([createWriteStream(tmp), toStore]));
    await put;
    if (meter.bytes === 0) throw new ApiError(400, 'INPUT_EMPTY', 'The request body is empty: send the TIFF bytes (Content-Type: image/tiff) or a multipart file field.');
    await ensureQuota(app, caller.group.id, meter.bytes);
    const { info, channels } = await inspectSpooled(app, tmp, name);
    const sha256 = meter.hash.digest('hex');
    const stack = await app.db.stacks.create({ id, groupId: caller.group.id, userId: caller.user.id, name, storageKey: key });
    const ready = await app.db.stacks.markReady(id, toStackMetadata(info, sha256, meter.bytes, channels));
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
