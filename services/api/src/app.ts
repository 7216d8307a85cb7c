/**
 * `buildApp(config)` assembles the API as plugins in tiers: clients (Postgres, object store, queue) ->
 * services (errors, auth, rate limit, metrics, OpenAPI) -> routes. It does not listen: tests drive it with
 * `inject` or `listen({ port: 0 })`; server.ts owns the process.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import AjvCompiler, { type ValidatorFactory } from '@fastify/ajv-compiler';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { listBundledModels } from '@pssr/models';
import type { WindowCounters } from '@pssr/queue';
import type { ApiConfig } from '@pssr/config';
import { ApiError, problemHandler } from './errors.js';
import { clientErrorHandler, refuseNul, trackRoutes } from './http.js';
import { clientsPlugin, type AppClients } from './plugins/clients.js';
import { authPlugin } from './plugins/auth.js';
import { metricsPlugin } from './plugins/metrics.js';
import { registerEventStreams } from './events.js';
import { ProblemSchema } from './schemas.js';
import { healthRoutes } from './routes/health.js';
import { stackRoutes } from './routes/stacks.js';
import { sweepStaleUploads, uploadRoutes } from './routes/uploads.js';
import { jobRoutes } from './routes/jobs.js';
import { reportRoutes } from './routes/reports.js';
import { modelRoutes } from './routes/models.js';
import { adminRoutes } from './routes/admin.js';
import { sweepExpiredStacks } from './lifecycle.js';
import { registerQueueReconciler } from './reconcile.js';
import { dashboardPlugin } from './dashboard/index.js';
import { sessionPlugin, sessionRoutes } from './dashboard/session.js';
import { jobChangeRoutes } from './dashboard/changes.js';
import { facilityRoutes } from './dashboard/facility.js';

export const API_VERSION = '1.0.0';

export interface BuildAppOptions {
  /** Clients to use instead of creating them from the config (the caller closes them). */
  clients?: Partial<AppClients>;
  /** pino logger options, or false (default: the config's log level). */
  logger?: boolean | Record<string, unknown>;
  /** Cache successful key lookups this long (default 5000 ms; 0 disables). */
  authCacheMs?: number;
  /** Skip the admin dashboard (the OpenAPI generator needs no queues). */
  adminDashboard?: boolean;
}

/**
 * JSON bodies are validated as sent: JSON has numbers, booleans and arrays, so "80", [80] or true are refused
 * where a number is expected, never turned into 80. Query strings, path parameters and headers are text and
 * are coerced (`?limit=50`, a repeated `status=`).
 */
function bodiesWithoutCoercion(): ValidatorFactory {
  const coercing = AjvCompiler();
  const exact = AjvCompiler();
  return (externalSchemas, options) => {
    const forText = coercing(externalSchemas, options);
    const ajvOptions = options?.mode === 'JTD' ? undefined : options;
    const forBody = exact(externalSchemas, { ...ajvOptions, customOptions: { ...ajvOptions?.customOptions, coerceTypes: false } });
    return (route) => (route.httpPart === 'body' ? forBody(route) : forText(route));
  };
}

/** One log line per request, at completion (Fastify's default also logs each arrival). */
class OneLinePerRequest extends LogController {
  override incomingRequest(_request: FastifyRequest, _reply: FastifyReply): void {}
}

function isPlainJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** @fastify/rate-limit's store interface over the shared counters. */
function sharedRateLimitStore(counters: () => WindowCounters) {
  const store = {
    incr(key: string, done: (err: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number) {
      counters().hit(`rate:${key}`, timeWindow).then(
        (r) => done(null, { current: r.count, ttl: r.ttlMs }),
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
      );
    },
    child() {
      return store;
    },
  };
  return function SharedStore() {
    return store;
  } as unknown as new () => typeof store;
}

export async function buildApp(config: ApiConfig, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel, redact: ['req.headers.authorization'] },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    logController: new OneLinePerRequest(),
    // Slow clients cannot hold sockets open: Node answers 408 (as problem+json, clientErrorHandler).
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.idleTimeoutMs,
    http: { headersTimeout: config.http.headersTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(250, config.http.headersTimeoutMs / 4)) },
    clientErrorHandler,
    bodyLimit: 1024 * 1024,
    trustProxy: true,
    return503OnClosing: true,
    schemaController: { compilersFactory: { buildValidator: bodiesWithoutCoercion() } },
    ajv: {
      customOptions: {
        // The job body is a tagged union on `type` (one clear UNKNOWN_JOB_TYPE error), and unknown properties
        // are refused rather than silently dropped, so a typo in an option name is reported.
        discriminator: true,
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: false,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Tier 0: errors as problem+json, from one handler.
  app.setErrorHandler(problemHandler);
  app.setNotFoundHandler(trackRoutes(app));
  app.addHook('preValidation', refuseNul);
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', String(request.id));
    return payload;
  });
  app.addSchema(ProblemSchema);

  // Tier 1: clients.
  await app.register(clientsPlugin, { config, clients: opts.clients });

  // Tier 2: services.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'PSSR restoration service',
        version: API_VERSION,
        description:
          'Point-scanning super-resolution (Fang et al.): upload low-resolution TIFF stacks, restore them 4x per axis with a ' +
          'trained model, or train new models on high-resolution stacks. Errors are application/problem+json with a stable `code`.',
      },
      servers: [{ url: '/' }],
      tags: [
        { name: 'stacks', description: 'Image stacks (TIFF)' },
        { name: 'jobs', description: 'Restore and train jobs' },
        { name: 'models', description: 'Model cards and versions' },
        { name: 'service', description: 'Health and readiness' },
        { name: 'session', description: 'Dashboard sign-in (session cookie for an API key)' },
        { name: 'admin', description: 'Facility view (admin keys)' },
      ],
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from `pssr admin create-key`.' } } },
      security: [{ apiKey: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    // Binary uploads are parsed as streams (no body schema to validate), so describe their bodies for the docs only.
    transform: ({ schema, url }) => {
      const s = schema as Record<string, unknown> | undefined;
      if (!s || s['body'] || !Array.isArray(s['consumes'])) return { schema: schema as never, url };
      return { schema: { ...s, body: { type: 'string', format: 'binary', description: 'The bytes (TIFF, or a part of one).' } } as never, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => app.swagger());

  await app.register(sessionPlugin);
  await app.register(authPlugin, { cacheMs: opts.authCacheMs ?? 5000, fallback: (request) => app.sessionAuth(request) });
  await app.register(metricsPlugin);
  registerEventStreams(app);
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler', // after authentication: the budget is per API key
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    keyGenerator: (request) => (request.auth ? `key:${request.auth.keyId}` : `ip:${request.ip}`),
    // Counted in Redis so the budget holds across replicas; if Redis is away, requests are not refused for it.
    store: sharedRateLimitStore(() => app.counters),
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new ApiError(429, 'RATE_LIMITED', `Rate limit of ${context.max} requests per ${Math.round(config.rateLimit.windowMs / 1000)} s exceeded; retry in ${context.after}.`),
  });
  await app.register(multipart, { limits: { fileSize: config.uploads.maxBytes, files: 1 } });
  // Raw TIFF bodies and upload parts stay streams: the handlers pipe them to storage.
  // JSON bodies only (plus the binary types below): a text/plain body is 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  // Fastify's JSON parser refuses "__proto__" (prototype poisoning) but calls it invalid JSON; say what it is.
  const secureJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    secureJson(request, String(body), (err, value) => {
      if (err && (err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' && isPlainJson(String(body))) {
        done(new ApiError(400, 'VALIDATION_FAILED', 'Invalid request: body: the property names "__proto__" and "constructor.prototype" are not allowed.'), undefined);
      } else {
        done(err, value);
      }
    });
  });
  app.addContentTypeParser(['image/tiff', 'application/octet-stream'], (_request, payload, done) => done(null, payload));

  // Tier 3: routes.
  await app.register(healthRoutes);
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', v1.authenticate);
      await v1.register(jobChangeRoutes);
      await v1.register(facilityRoutes);
      await v1.register(stackRoutes);
      await v1.register(uploadRoutes);
      await v1.register(jobRoutes);
      await v1.register(reportRoutes);
      await v1.register(modelRoutes);
    },
    { prefix: '/v1' },
  );
  await app.register(sessionRoutes, { prefix: '/v1' });
  if (opts.adminDashboard !== false) await adminRoutes(app);
  await app.register(dashboardPlugin);

  // Hourly: abandoned resumable uploads, then stacks past their retention.
  const { staleAfterMs } = config.uploads;
  const { retentionDays } = config.stackStorage;
  if (staleAfterMs > 0 || retentionDays > 0) {
    let sweeper: NodeJS.Timeout | undefined;
    const sweep = async () => {
      if (staleAfterMs > 0) await sweepStaleUploads(app, staleAfterMs).catch((err: unknown) => app.log.warn({ err }, 'upload sweep failed'));
      if (retentionDays > 0) await sweepExpiredStacks(app, retentionDays).catch((err: unknown) => app.log.warn({ err }, 'retention sweep failed'));
    };
    app.addHook('onReady', async () => {
      sweeper = setInterval(() => void sweep(), 3600_000);
      sweeper.unref();
    });
    app.addHook('onClose', async () => clearInterval(sweeper));
  }

  registerQueueReconciler(app, config.queueReconcileMs);

  if (config.registerBundledModels) {
    app.addHook('onReady', async () => {
      await registerBundledModels(app).catch((err: unknown) => app.log.warn({ err }, 'could not register the bundled models (they can still be used once Postgres is back)'));
    });
  }
  return app;
}

/** Public model rows for the models shipped in packages/models (idempotent; every replica may run it). */
export async function registerBundledModels(app: FastifyInstance): Promise<number> {
  const bundles = await listBundledModels();
  for (const b of bundles) {
    await app.db.models.registerBundled({ name: b.name, version: b.card.version, sha256: b.card.sha256, card: b.card as unknown as Record<string, unknown> });
  }
  return bundles.length;
}
