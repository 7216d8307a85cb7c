/** The BullMQ dashboard (@bull-board) for admins, behind an admin key (Bearer, or Basic with the key as password). */
import type { FastifyInstance } from 'fastify';
import { problemHandler } from '../errors.js';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';

export const ADMIN_QUEUES_PATH = '/admin/queues';

export async function adminRoutes(app: FastifyInstance): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({
    queues: Object.values(app.producer.queues).map((q) => new BullMQAdapter(q as never)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'PSSR queues' } },
  });
  await app.register(
    async (scope) => {
      // bull-board installs its own error handler in its scope, so answer auth failures here as problem+json.
      scope.addHook('onRequest', async (request, reply) => {
        try {
          await scope.authenticateAdmin(request, reply);
        } catch (err) {
          return problemHandler(err, request, reply);
        }
      });
      await scope.register(serverAdapter.registerPlugin() as never);
    },
    { prefix: ADMIN_QUEUES_PATH },
  );
}
