/** Liveness and readiness (no key needed). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { withTimeout } from '../errors.js';
import { HealthSchema, ReadySchema } from '../schemas.js';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: { tags: ['service'], summary: 'Liveness', description: 'The process answers.', security: [], response: { 200: HealthSchema } },
      config: { rateLimit: false },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['service'],
        summary: 'Readiness',
        description: 'Postgres and Redis both answer; 503 otherwise (take the instance out of the load balancer).',
        security: [],
        response: { 200: ReadySchema, 503: ReadySchema },
      },
      config: { rateLimit: false },
    },
    async (_request, reply) => {
      const t = Math.min(app.config.dependencyTimeoutMs, 2000);
      const [database, redis] = await Promise.all([
        withTimeout(app.db.ping(), t, 'Postgres').then(() => 'ok', () => 'unavailable'),
        withTimeout(app.producer.ping(), t, 'Redis').then(() => 'ok', () => 'unavailable'),
      ]);
      const ok = database === 'ok' && redis === 'ok';
      if (!ok) reply.header('retry-after', '2');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { database, redis } });
    },
  );
};
