/**
 * Resumable uploads of large stacks: S3 multipart with presigned part URLs (the client PUTs parts straight to
 * S3), or parts proxied through the API when the store cannot presign (local disk). A client that lost its
 * connection asks `GET /v1/stacks/uploads/:id` which parts arrived, re-sends the missing ones, then completes;
 * completion validates the TIFF exactly like a direct upload before the stack becomes ready.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { toStackMetadata, type UploadRecord } from '@pssr/db';
import { isStorageError } from '@pssr/storage';
import { callerOf } from '../plugins/auth.js';
import { ApiError, notFound } from '../errors.js';
import { inspectSpooled, sha256OfFile, stackStorageKey, tooLarge } from '../ingest.js';
import { CreateUploadBody, IdParams, PartParams, StackSchema, UploadSchema, problemResponses, type UploadView } from '../schemas.js';
import { stackView } from '../views.js';
import { ensureQuota } from '../lifecycle.js';

/** S3 allows at most 10 000 parts; grow the part size in MiB steps until the stack fits. */
export function planParts(bytes: number, requested: number): { partSize: number; parts: number } {
  const MiB = 2 ** 20;
  let partSize = Math.max(5 * MiB, requested);
  while (Math.ceil(bytes / partSize) > 10_000) partSize += 16 * MiB;
  return { partSize, parts: Math.max(1, Math.ceil(bytes / partSize)) };
}

/**
 * Aborts resumable uploads nobody completed within `olderThanMs` and forgets their stacks (they never became
 * ready, so no job can use them); the store frees the parts. Returns how many were swept.
 */
export async function sweepStaleUploads(app: FastifyInstance, olderThanMs: number): Promise<number> {
  const stale = await app.db.uploads.listStale(new Date(Date.now() - olderThanMs));
  for (const u of stale) {
    await app.store.abortMultipartUpload(u.storageKey, u.s3UploadId).catch(() => undefined);
    await app.db.stacks.delete(u.stackId);
  }
  if (stale.length) app.log.info({ uploads: stale.length }, 'aborted abandoned uploads');
  return stale.length;
}

function sizeMismatch(upload: UploadRecord, got: number): ApiError {
  return new ApiError(400, 'UPLOAD_SIZE_MISMATCH', `The parts add up to ${got} bytes but the upload declared ${upload.bytes}; start a new upload with the right size.`);
}

async function describe(app: FastifyInstance, upload: UploadRecord): Promise<UploadView> {
  const expiresSec = app.config.uploads.presignExpiresSec;
  const received = upload.completedAt ? [] : await app.store.listParts(upload.storageKey, upload.s3UploadId);
  const have = new Set(received.map((p) => p.partNumber));
  const missing: number[] = [];
  if (!upload.completedAt) for (let n = 1; n <= upload.parts; n++) if (!have.has(n)) missing.push(n);
  const partUrls = await Promise.all(
    missing.map(async (partNumber) =>
      app.store.supportsPresign
        ? { partNumber, method: 'PUT' as const, url: await app.store.presignPart(upload.storageKey, upload.s3UploadId, partNumber, expiresSec), proxied: false }
        : { partNumber, method: 'PUT' as const, url: `/v1/stacks/uploads/${upload.id}/parts/${partNumber}`, proxied: true },
    ),
  );
  return {
    id: upload.id,
    stackId: upload.stackId,
    bytes: upload.bytes,
    partSize: upload.partSize,
    parts: upload.parts,
    completed: upload.completedAt !== null,
    received: received.map((p) => ({ partNumber: p.partNumber, size: p.size })),
    missing,
    partUrls,
    expiresAt: new Date(Date.now() + expiresSec * 1000).toISOString(),
  };
}

export const uploadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/stacks/uploads',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Start a resumable upload of a large stack',
        description: 'Returns one PUT URL per part. Send each part (any order, in parallel), then POST .../complete.',
        body: CreateUploadBody,
        response: { 201: UploadSchema, ...problemResponses(413) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { maxBytes, partSize: defaultPart } = app.config.uploads;
      if (request.body.bytes > maxBytes) throw tooLarge(maxBytes);
      await ensureQuota(app, caller.group.id, request.body.bytes);
      const { partSize, parts } = planParts(request.body.bytes, request.body.partSize ?? defaultPart);
      const stackId = randomUUID();
      const key = stackStorageKey(caller.group.id, stackId);
      const s3UploadId = await app.store.createMultipartUpload(key, { contentType: 'image/tiff' });
      await app.db.stacks.create({ id: stackId, groupId: caller.group.id, userId: caller.user.id, name: request.body.name, storageKey: key });
      const upload = await app.db.uploads.create({ stackId, s3UploadId, storageKey: key, partSize, parts, bytes: request.body.bytes });
      return reply.code(201).header('location', `/v1/stacks/uploads/${upload.id}`).send(await describe(app, upload));
    },
  );

  app.get(
    '/stacks/uploads/:id',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Resume an upload',
        description: 'Which parts arrived, which are missing, and fresh URLs for the missing ones.',
        params: IdParams,
        response: { 200: UploadSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const upload = await app.db.uploads.get(request.params.id, caller.group.id);
      if (!upload) throw notFound('upload', request.params.id);
      return describe(app, upload);
    },
  );

  app.put(
    '/stacks/uploads/:id/parts/:part',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Upload one part through the API',
        description: 'For stores without presigned URLs (local disk) or clients that cannot reach S3. Body: the part bytes (application/octet-stream).',
        params: PartParams,
        consumes: ['application/octet-stream'],
        response: { 200: { type: 'object', properties: { partNumber: { type: 'integer' }, size: { type: 'integer' } } }, ...problemResponses(404, 409, 413) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const upload = await app.db.uploads.get(request.params.id, caller.group.id);
      if (!upload) throw notFound('upload', request.params.id);
      if (upload.completedAt) throw new ApiError(409, 'UPLOAD_COMPLETED', `Upload ${upload.id} is already complete.`);
      const n = request.params.part;
      if (n > upload.parts) throw new ApiError(400, 'INVALID_ARGUMENT', `Upload ${upload.id} has parts 1..${upload.parts}; part ${n} is out of range.`);
      const type = String(request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/octet-stream' && type !== 'image/tiff') {
        throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the part bytes as application/octet-stream.');
      }
      const expected = n < upload.parts ? upload.partSize : upload.bytes - upload.partSize * (upload.parts - 1);
      const declared = Number(request.headers['content-length'] ?? NaN);
      if (!Number.isFinite(declared)) throw new ApiError(411, 'BAD_REQUEST', 'Send Content-Length with each part.');
      // Every part's size follows from the declared total, so the assembled stack is exactly that size.
      if (declared !== expected) {
        const why = n < upload.parts ? 'all parts but the last have the part size' : `the upload declared ${upload.bytes} bytes in all`;
        throw new ApiError(declared > expected ? 413 : 400, declared > expected ? 'PAYLOAD_TOO_LARGE' : 'UPLOAD_SIZE_MISMATCH', `Part ${n} must be exactly ${expected} bytes (${why}); got ${declared}.`);
      }
      const part = await app.store.uploadPart(upload.storageKey, upload.s3UploadId, n, request.body as Readable, declared);
      return { partNumber: part.partNumber, size: part.size };
    },
  );

  app.post(
    '/stacks/uploads/:id/complete',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Complete an upload',
        description:
          'Assembles the parts and validates the TIFF (header, dimensions, sha256). 409 UPLOAD_PARTS_MISSING names the ' +
          'parts to re-send. Repeating a successful complete returns the stack again.',
        params: IdParams,
        response: { 200: StackSchema, ...problemResponses(404, 409, 413, 415) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const upload = await app.db.uploads.get(request.params.id, caller.group.id);
      if (!upload) throw notFound('upload', request.params.id);
      const existing = await app.db.stacks.get(upload.stackId, caller.group.id);
      if (!existing) throw notFound('upload', request.params.id);
      if (upload.completedAt) {
        if (existing.status === 'ready') return stackView(existing);
        throw new ApiError(409, 'UPLOAD_COMPLETED', `Upload ${upload.id} was completed but its stack was rejected; start a new upload.`);
      }
      try {
        await app.store.completeMultipartUpload(upload.storageKey, upload.s3UploadId, { expectedParts: upload.parts });
      } catch (err) {
        if (isStorageError(err, 'UPLOAD_PARTS_MISSING')) {
          const received = new Set((await app.store.listParts(upload.storageKey, upload.s3UploadId)).map((p) => p.partNumber));
          const missing: number[] = [];
          for (let n = 1; n <= upload.parts; n++) if (!received.has(n)) missing.push(n);
          throw new ApiError(409, 'UPLOAD_PARTS_MISSING', `Parts ${missing.join(', ')} have not arrived: re-send them, then complete again.`, { missingParts: missing });
        }
        if (isStorageError(err, 'UPLOAD_NOT_FOUND')) {
          // A concurrent complete may have finished it; answer with its outcome.
          const again = await app.db.stacks.get(upload.stackId, caller.group.id);
          if (again?.status === 'ready') return stackView(again);
        }
        throw err;
      }
      // Validate what was assembled: size cap, sha256, TIFF structure and dimensions.
      const { tmpDir, maxBytes } = app.config.uploads;
      await mkdir(tmpDir, { recursive: true });
      const tmp = join(tmpDir, `${upload.id}.tif`);
      try {
        const head = await app.store.head(upload.storageKey);
        if (head && head.size > maxBytes) throw tooLarge(maxBytes);
        if (head && head.size !== upload.bytes) throw sizeMismatch(upload, head.size);
        const got = await app.store.getToFile(upload.storageKey, tmp);
        if (got.size > maxBytes) throw tooLarge(maxBytes);
        if (got.size !== upload.bytes) throw sizeMismatch(upload, got.size);
        const { info, channels } = await inspectSpooled(app, tmp, existing.name);
        const sha256 = await sha256OfFile(tmp);
        const ready = await app.db.stacks.markReady(upload.stackId, toStackMetadata(info, sha256, got.size, channels));
        await app.db.uploads.markCompleted(upload.id);
        const stack = ready ?? (await app.db.stacks.get(upload.stackId, caller.group.id));
        if (!stack) throw notFound('stack', upload.stackId);
        return stackView(stack);
      } catch (err) {
        await app.store.delete(upload.storageKey).catch(() => undefined);
        await app.db.stacks.markFailed(upload.stackId).catch(() => undefined);
        await app.db.uploads.markCompleted(upload.id).catch(() => undefined);
        throw err;
      } finally {
        await rm(tmp, { force: true });
      }
    },
  );
};
