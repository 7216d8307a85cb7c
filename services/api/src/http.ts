/**
 * HTTP-level guards that sit beside the error handler: answers Node writes on the raw socket (malformed
 * requests, header overflow, timeouts) as problem+json too, 405 for a known path with another method, and
 * U+0000 refused before it reaches Postgres (text columns cannot hold it).
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ApiError, sendProblem, type Problem } from './errors.js';

/** What Node's HTTP parser and timers report, as problem documents (written by Fastify's clientErrorHandler). */
function clientProblem(err: NodeJS.ErrnoException): Problem {
  const base = { type: '', instance: '' };
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { ...base, title: 'Request Header Fields Too Large', status: 431, code: 'HEADERS_TOO_LARGE', detail: 'The request headers are larger than this server accepts (16 KiB).' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { ...base, title: 'Request Timeout', status: 408, code: 'REQUEST_TIMEOUT', detail: 'The request took too long to arrive; send it again (large stacks: POST /v1/stacks/uploads).' };
    default:
      return { ...base, title: 'Bad Request', status: 400, code: 'BAD_REQUEST', detail: 'Malformed HTTP request.' };
  }
}

export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return;
  const p = clientProblem(err);
  p.type = `https://pssr.dev/problems/${p.code.toLowerCase().replace(/_/g, '-')}`;
  delete p.instance;
  const body = JSON.stringify(p);
  socket.end(
    [
      `HTTP/1.1 ${p.status} ${p.title}`,
      'Connection: close',
      'Content-Type: application/problem+json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

/** Path patterns of the registered routes per method, to tell 405 from 404. */
export function trackRoutes(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.url.includes('*')) return;
    const pattern = new RegExp(`^${route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`);
    let entry = routes.find((r) => r.pattern.source === pattern.source);
    if (!entry) routes.push((entry = { pattern, methods: new Set() }));
    for (const m of [route.method].flat()) entry.methods.add(m.toUpperCase());
  });
  return (request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = new Set<string>();
    for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m);
    if (allowed.size > 0 && !allowed.has(request.method)) {
      const list = [...allowed].sort().join(', ');
      reply.header('allow', list);
      return sendProblem(reply, request, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; allowed: ${list}.`);
    }
    return sendProblem(reply, request, 404, 'NOT_FOUND', `No route ${request.method} ${path}.`);
  };
}

/** The path (e.g. `body.name`) of the first string or key holding U+0000, or null. */
export function findNul(value: unknown, where: string, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? where : null;
  if (value === null || typeof value !== 'object' || depth > 32) return null;
  // A raw upload's body is a stream (or bytes), not parsed text: its object graph (socket, server, every
  // connection) must never be walked.
  if (ArrayBuffer.isView(value) || typeof (value as { pipe?: unknown }).pipe === 'function') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findNul(value[i], `${where}[${i}]`, depth + 1);
      if (hit) return hit;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return `${where} (a property name)`;
    const hit = findNul(v, `${where}.${k}`, depth + 1);
    if (hit) return hit;
  }
  return null;
}

/** preValidation hook: 400 for U+0000 anywhere in params, query or a JSON body. */
export async function refuseNul(request: FastifyRequest): Promise<void> {
  const hit = findNul(request.params, 'path') ?? findNul(request.query, 'query') ?? findNul(request.body, 'body');
  if (hit) throw new ApiError(400, 'VALIDATION_FAILED', `Invalid request: ${hit} contains the character U+0000 (NUL), which is not allowed.`);
}

/** `?status=a,b` and `?status=a&status=b` both mean [a, b] (preValidation, before the enum check). */
export function splitCommaLists(...names: string[]) {
  return async (request: FastifyRequest): Promise<void> => {
    const q = request.query as Record<string, unknown>;
    for (const name of names) {
      const v = q[name];
      if (v === undefined) continue;
      q[name] = [v].flat().flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter((s) => s !== '');
    }
  };
}
