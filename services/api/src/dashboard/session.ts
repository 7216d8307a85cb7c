/**
 * Dashboard sign-in: the browser POSTs an API key once (in the JSON body, never in a URL) and gets a session
 * cookie: HttpOnly (scripts cannot read it), SameSite=Strict (other sites' requests do not carry it), Secure
 * behind https, Path=/. The session row (packages/db) holds a CSRF token that the page sends back in
 * `x-csrf-token` on every state-changing request (synchronizer-token pattern: the token lives server-side
 * with the session, so no extra signed cookie or secret is needed). Sign-out revokes the row.
 */
import { timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { AuthContext, SessionRecord } from '@pssr/db';
import { callerOf } from '../plugins/auth.js';
import { ApiError, withTimeout } from '../errors.js';
import { problemResponses } from '../schemas.js';

export const SESSION_COOKIE = 'pssr_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request was authenticated by a dashboard session cookie. */
    dashboardSession: SessionRecord | null;
  }
  interface FastifyInstance {
    /** The auth plugin's fallback: the caller of a session cookie (CSRF-checked on unsafe methods), else null. */
    sessionAuth: (request: FastifyRequest) => Promise<AuthContext | null>;
  }
}

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Cookie parsing and the session lookup the auth plugin falls back to. */
export const sessionPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(cookie);
    app.decorateRequest('dashboardSession', null);
    app.decorate('sessionAuth', async (request: FastifyRequest) => {
      const token = request.cookies[SESSION_COOKIE];
      if (!token) return null;
      const found = await withTimeout(app.db.sessions.authenticate(token), app.config.dependencyTimeoutMs, 'The database');
      if (!found) return null;
      if (!SAFE_METHODS.has(request.method) && !sameToken(request.headers[CSRF_HEADER], found.session.csrfToken)) {
        throw new ApiError(403, 'CSRF_FAILED', `A signed-in browser must send the ${CSRF_HEADER} header it got at sign-in with every change; reload the dashboard.`);
      }
      request.dashboardSession = found.session;
      return found.auth;
    });
    // Expired and signed-out rows are kept a day for the record, then dropped.
    const sweep = setInterval(() => void app.db.sessions.deleteExpired(new Date(Date.now() - 24 * 3600_000)).catch(() => 0), 3600_000);
    sweep.unref();
    app.addHook('onClose', async () => clearInterval(sweep));
  },
  { name: 'pssr-sessions', dependencies: ['pssr-clients'] },
);

const SessionSchema = Type.Object(
  {
    user: Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }),
    group: Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }),
    isAdmin: Type.Boolean(),
    csrfToken: Type.String({ description: `Send it back as the ${CSRF_HEADER} header on POST, PUT and DELETE requests.` }),
    expiresAt: Type.String({ format: 'date-time' }),
    members: Type.Array(Type.Object({ id: Type.String({ format: 'uuid' }), name: Type.String() }), { description: 'Users of your group (jobs carry their userId).' }),
  },
  { $id: 'Session' },
);

async function sessionView(app: FastifyInstance, auth: AuthContext, session: SessionRecord) {
  const members = await app.db.users.list(auth.group.id);
  return {
    user: { id: auth.user.id, name: auth.user.name },
    group: { id: auth.group.id, name: auth.group.name },
    isAdmin: auth.isAdmin,
    csrfToken: session.csrfToken,
    expiresAt: session.expiresAt.toISOString(),
    members: members.map((m) => ({ id: m.id, name: m.name })),
  };
}

function setCookie(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.setCookie(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: request.protocol === 'https',
    path: '/',
    maxAge: Math.floor(app.config.sessionTtlMs / 1000),
  });
}

/** POST/GET/DELETE /v1/session. Registered outside the authenticated /v1 scope: signing in needs no session. */
export const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(SessionSchema);

  app.post(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: 'Sign in (dashboard)',
        description:
          'Exchanges an API key (JSON body) for a session cookie (HttpOnly, SameSite=Strict, Secure behind https). ' +
          `Browsers then send the returned csrfToken as ${CSRF_HEADER} on state-changing requests.`,
        security: [],
        body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 201: Type.Ref('Session'), ...problemResponses() },
      },
    },
    async (request, reply) => {
      const t = app.config.dependencyTimeoutMs;
      const auth = await app.verifyKey(request, request.body.key.trim());
      if (!auth) throw new ApiError(401, 'UNAUTHORIZED', 'The API key is unknown or revoked: paste the whole key printed by `pssr admin create-key`.');
      const { token, session } = await withTimeout(app.db.sessions.create({ apiKeyId: auth.keyId, ttlMs: app.config.sessionTtlMs }), t, 'The database');
      setCookie(app, request, reply, token);
      return reply.code(201).send(await sessionView(app, auth, session));
    },
  );

  app.get(
    '/session',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['session'],
        summary: 'The signed-in session',
        description: 'Who is signed in, the CSRF token and the group\'s members; 401 without a live session cookie.',
        response: { 200: Type.Ref('Session'), ...problemResponses() },
      },
    },
    async (request) => {
      const auth = callerOf(request);
      if (!request.dashboardSession) throw new ApiError(401, 'UNAUTHORIZED', 'Not signed in: POST /v1/session with your API key first.');
      return sessionView(app, auth, request.dashboardSession);
    },
  );

  app.delete(
    '/session',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['session'],
        summary: 'Sign out',
        description: `Revokes the session server-side and clears the cookie (needs ${CSRF_HEADER}).`,
        response: { 204: Type.Null(), ...problemResponses() },
      },
    },
    async (request, reply) => {
      const token = request.cookies[SESSION_COOKIE];
      if (token && request.dashboardSession) await app.db.sessions.revoke(token);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send(null);
    },
  );
};
