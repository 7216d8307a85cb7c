/**
 * API-key authentication: `Authorization: Bearer <key>`, else the `fallback` (the web dashboard's session
 * cookie, src/dashboard/session.ts). The admin queue board also accepts HTTP Basic with the key as password,
 * so a browser can open it without the dashboard. Keys are stored hashed by @pssr/db; a short cache keeps
 * the database off the hot path of status polling. Failed attempts are counted per client address in Redis
 * (shared by the replicas); past AUTH_FAILURE_MAX an address gets 429 without a database lookup.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthContext } from '@pssr/db';
import { hashApiKey } from '@pssr/db';
import { ApiError, withTimeout } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
  }
  interface FastifyInstance {
    /** onRequest hook: 401 unless the request carries a valid key; sets `request.auth`. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** onRequest hook: like `authenticate`, then 403 unless the key is an admin's (Basic accepted too). */
    authenticateAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** The caller of a key (null when unknown or revoked), counted and refused like header keys (dashboard sign-in). */
    verifyKey: (request: FastifyRequest, key: string) => Promise<AuthContext | null>;
  }
}

/** The key of a request: Bearer, or (when allowed) the password of HTTP Basic. */
export function keyFromHeader(header: string | undefined, allowBasic = false): string | null {
  if (!header) return null;
  const m = /^(\S+)\s+(\S+)$/.exec(header.trim());
  if (!m) return null;
  const scheme = (m[1] ?? '').toLowerCase();
  const value = m[2] ?? '';
  if (scheme === 'bearer') return value;
  if (allowBasic && scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  }
  return null;
}

export interface AuthOptions {
  cacheMs: number;
  /** Asked when a request carries no key (the dashboard's session cookie); may throw (e.g. a CSRF failure). */
  fallback?: (request: FastifyRequest) => Promise<AuthContext | null>;
}

export const authPlugin = fp(
  async (app: FastifyInstance, opts: AuthOptions) => {
    const cache = new Map<string, { auth: AuthContext; until: number }>();
    const MAX_CACHE = 10_000;

    async function lookup(key: string): Promise<AuthContext | null> {
      const digest = hashApiKey(key);
      const now = Date.now();
      const hit = cache.get(digest);
      if (hit && hit.until > now) return hit.auth;
      const auth = await withTimeout(app.db.apiKeys.authenticate(key), app.config.dependencyTimeoutMs, 'The database');
      if (auth && opts.cacheMs > 0) {
        if (cache.size >= MAX_CACHE) cache.clear();
        cache.set(digest, { auth, until: now + opts.cacheMs });
      } else {
        cache.delete(digest);
      }
      return auth;
    }

    const { max: maxFailures, windowMs: failureWindowMs } = app.config.authFailures;
    const failureKey = (request: FastifyRequest) => `authfail:${request.ip}`;

    /** Past the limit, an address's unknown keys are refused without a database lookup (a cached valid key still passes). */
    async function refuseIfBlocked(request: FastifyRequest, key: string): Promise<void> {
      const hit = cache.get(hashApiKey(key));
      if (hit && hit.until > Date.now()) return;
      const failures = await app.counters.peek(failureKey(request)).catch(() => 0);
      if (failures >= maxFailures) {
        throw new ApiError(429, 'AUTH_RATE_LIMITED', `Too many failed authentications from this address (${maxFailures} per ${Math.round(failureWindowMs / 1000)} s); check the API key and retry later.`);
      }
    }

    async function verifyKey(request: FastifyRequest, key: string): Promise<AuthContext | null> {
      await refuseIfBlocked(request, key);
      const auth = await lookup(key);
      if (!auth) await app.counters.hit(failureKey(request), failureWindowMs).catch((err: unknown) => request.log.warn({ err }, 'could not count a failed authentication'));
      return auth;
    }

    async function check(request: FastifyRequest, reply: FastifyReply, admin: boolean): Promise<void> {
      const key = keyFromHeader(request.headers.authorization, admin);
      const auth = key ? await verifyKey(request, key) : ((await opts.fallback?.(request)) ?? null);
      if (!auth) {
        reply.header('www-authenticate', admin ? 'Basic realm="pssr admin", charset="UTF-8"' : key ? 'Bearer error="invalid_token"' : 'Bearer');
        if (!key) throw new ApiError(401, 'UNAUTHORIZED', 'Missing API key: send "Authorization: Bearer <key>" (create one with `pssr admin create-key`).');
        throw new ApiError(401, 'UNAUTHORIZED', 'The API key is unknown or revoked.');
      }
      if (admin && !auth.isAdmin) throw new ApiError(403, 'FORBIDDEN', 'This needs an admin key (`pssr admin create-key --admin`).');
      request.auth = auth;
    }

    app.decorateRequest('auth', null);
    app.decorate('verifyKey', verifyKey);
    app.decorate('authenticate', (request: FastifyRequest, reply: FastifyReply) => check(request, reply, false));
    app.decorate('authenticateAdmin', (request: FastifyRequest, reply: FastifyReply) => check(request, reply, true));
  },
  { name: 'pssr-auth', dependencies: ['pssr-clients'] },
);

/** The caller of an authenticated route (the hook guarantees it is set). */
export function callerOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new ApiError(401, 'UNAUTHORIZED', 'Not authenticated.');
  return request.auth;
}
