/** Stacks: upload (raw image/tiff body or multipart), metadata, and the TIFF bytes. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isPssrError } from '@pssr/core';
import type { AuthContext } from '@pssr/db';
import { callerOf } from '../plugins/auth.js';
import { ApiError, notFound } from '../errors.js';
import { ingestStack, tooLarge } from '../ingest.js';
import { DataQuery, IdParams, ListStacksQuery, StackPageSchema, StackSchema, UploadStackQuery, problemResponses } from '../schemas.js';
import { deleteStack } from '../lifecycle.js';
import { stackView } from '../views.js';

const RAW_TYPES = ['image/tiff', 'application/octet-stream'];

function safeName(name: string | undefined, fallback: string): string {
  const base = (name ?? '').split(/[\\/]/).pop()?.trim() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f"]/g, '').slice(0, 255);
  return clean.length > 0 ? clean : fallback;
}

/** RFC 2046: a boundary is 1 to 70 characters. */
const BOUNDARY = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*(?:;|$)/i;

/** busboy reports a malformed body with plain Errors; those are the client's fault. */
function isMalformedMultipart(err: unknown): boolean {
  return err instanceof Error && !(err instanceof ApiError) && !isPssrError(err) && /multipart|unexpected end of form|part terminated/i.test(err.message);
}

async function ingestMultipart(app: FastifyInstance, request: FastifyRequest, caller: AuthContext, queryName: string | undefined) {
  const { maxBytes } = app.config.uploads;
  if (!BOUNDARY.test(String(request.headers['content-type']))) {
    throw new ApiError(400, 'BAD_MULTIPART', 'multipart/form-data needs a boundary parameter of 1 to 70 characters (Content-Type: multipart/form-data; boundary=...).');
  }
  try {
    const file = await request.file({ limits: { fileSize: maxBytes, files: 1, fields: 20, parts: 25 } });
    if (!file) throw new ApiError(400, 'INPUT_EMPTY', 'The multipart request has no file part: send the TIFF as a file field.');
    const nameField = file.fields['name'];
    const fieldValue = nameField && !Array.isArray(nameField) && nameField.type === 'field' ? String(nameField.value) : undefined;
    return await ingestStack(app, caller, file.file, safeName(queryName ?? fieldValue ?? file.filename, 'stack.tif'));
  } catch (err) {
    if (isMalformedMultipart(err)) {
      throw new ApiError(400, 'BAD_MULTIPART', 'The multipart body is malformed: it ends early or its parts do not match the boundary of the Content-Type.');
    }
    throw err;
  }
}

export const stackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/stacks',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Upload a TIFF stack',
        description:
          'Send the TIFF as the raw body (Content-Type: image/tiff or application/octet-stream, `?name=`) or as the one ' +
          'file of a multipart/form-data request. The body streams to storage while its sha256 is computed; the TIFF ' +
          'header and dimensions are validated before the stack is recorded. Larger than the server limit -> 413. For ' +
          'stacks of many GB use POST /v1/stacks/uploads (resumable, presigned parts).',
        querystring: UploadStackQuery,
        consumes: ['image/tiff', 'application/octet-stream', 'multipart/form-data'],
        response: { 201: StackSchema, ...problemResponses(404, 413, 415) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { maxBytes } = app.config.uploads;
      const declared = Number(request.headers['content-length'] ?? NaN);
      let stack;
      if (request.isMultipart()) {
        if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) throw tooLarge(maxBytes);
        stack = await ingestMultipart(app, request, caller, request.query.name);
      } else {
        const type = String(request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        if (!RAW_TYPES.includes(type)) {
          throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `Send the TIFF as image/tiff, application/octet-stream or multipart/form-data (got "${type || 'none'}").`);
        }
        if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
        stack = await ingestStack(app, caller, request.body as Readable, safeName(request.query.name, 'stack.tif'));
      }
      return reply.code(201).header('location', `/v1/stacks/${stack.id}`).send(stackView(stack));
    },
  );

  app.get(
    '/stacks',
    {
      schema: {
        tags: ['stacks'],
        summary: 'List stacks',
        description: 'Your group\'s stacks, newest first; filter by status, name (contains) and creation time; pass `nextCursor` back as `cursor`.',
        querystring: ListStacksQuery,
        response: { 200: StackPageSchema, ...problemResponses() },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const page = await app.db.stacks.list(caller.group.id, {
        limit: q.limit ?? 50,
        cursor: q.cursor ?? null,
        ...(q.status ? { status: q.status } : {}),
        ...(q.name ? { nameContains: q.name } : {}),
        ...(q.createdAfter ? { createdAfter: new Date(q.createdAfter) } : {}),
        ...(q.createdBefore ? { createdBefore: new Date(q.createdBefore) } : {}),
      });
      return { items: page.items.map(stackView), nextCursor: page.nextCursor };
    },
  );

  app.delete(
    '/stacks/:id',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Delete a stack',
        description:
          'Deletes the record and the stored TIFF (and any unfinished upload of it). 409 STACK_IN_USE while a queued or running ' +
          'job reads it (the answer lists them). Jobs that used it keep their records.',
        params: IdParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      await deleteStack(app, request.params.id, caller.group.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/stacks/:id',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Stack metadata',
        description: 'Frames, height, width, dtype, axis, pixel size, sha256 and size in bytes.',
        params: IdParams,
        response: { 200: StackSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const stack = await app.db.stacks.get(request.params.id, caller.group.id);
      if (!stack) throw notFound('stack', request.params.id);
      return stackView(stack);
    },
  );

  app.get(
    '/stacks/:id/data',
    {
      schema: {
        tags: ['stacks'],
        summary: 'Download the TIFF',
        description:
          'Streams the TIFF (single byte ranges supported), or with S3 storage redirects (302) to a presigned URL unless ' +
          '`redirect=false`.',
        params: IdParams,
        querystring: DataQuery,
        produces: ['image/tiff'],
        response: { 200: Type.Any({ description: 'The TIFF bytes.' }), 206: Type.Any(), 302: Type.Null(), ...problemResponses(404, 409, 416) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const stack = await app.db.stacks.get(request.params.id, caller.group.id);
      if (!stack) throw notFound('stack', request.params.id);
      if (stack.status !== 'ready' || stack.bytes === null) {
        throw new ApiError(409, 'STACK_NOT_READY', `Stack ${stack.id} is ${stack.status}, not ready: finish its upload first.`);
      }
      const filename = stack.name.toLowerCase().endsWith('.tif') || stack.name.toLowerCase().endsWith('.tiff') ? stack.name : `${stack.name}.tif`;
      const redirect = request.query.redirect ?? app.config.downloadRedirect;
      if (redirect && app.store.supportsPresign) {
        const url = await app.store.presignGet(stack.storageKey, { expiresSec: app.config.uploads.presignExpiresSec, filename });
        return reply.redirect(url, 302);
      }
      const size = stack.bytes;
      reply
        .header('content-type', 'image/tiff')
        .header('accept-ranges', 'bytes')
        .header('etag', `"${stack.sha256 ?? stack.id}"`)
        .header('content-disposition', `attachment; filename="${filename.replace(/[^\x20-\x7e]/g, '_')}"`);
      const range = /^bytes=(\d*)-(\d*)$/.exec(String(request.headers.range ?? ''));
      if (range && (range[1] !== '' || range[2] !== '')) {
        let start: number;
        let end: number;
        if (range[1] === '') {
          start = Math.max(0, size - Number(range[2]));
          end = size - 1;
        } else {
          start = Number(range[1]);
          end = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
        }
        if (start > end || start >= size) {
          reply.header('content-range', `bytes */${size}`);
          throw new ApiError(416, 'RANGE_NOT_SATISFIABLE', `Range ${String(request.headers.range)} is outside the stack, which has ${size} bytes.`);
        }
        const body = await app.store.getStream(stack.storageKey, { start, end });
        return reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).header('content-length', end - start + 1).send(body);
      }
      const body = await app.store.getStream(stack.storageKey);
      return reply.header('content-length', size).send(body);
    },
  );
};
