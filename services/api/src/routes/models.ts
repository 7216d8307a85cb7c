/** Models a group can use: the public (bundled) ones and the versions it trained. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ModelRecord } from '@pssr/db';
import { callerOf } from '../plugins/auth.js';
import { ApiError } from '../errors.js';
import { ModelDetailSchema, ModelListSchema, ModelNameParams, problemResponses } from '../schemas.js';
import { modelVersionView } from '../views.js';

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        summary: 'List models',
        description: 'One entry per (name, owner): the public bundled models and your group\'s trained models, with the latest card.',
        response: { 200: ModelListSchema, ...problemResponses() },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const all = await app.db.models.list(caller.group.id);
      const byName = new Map<string, ModelRecord[]>();
      for (const m of all) {
        const key = `${m.groupId === null ? 'public' : 'group'}\0${m.name}`;
        const list = byName.get(key) ?? [];
        list.push(m);
        byName.set(key, list);
      }
      const items = [...byName.values()].map((versions) => {
        const latest = versions[0] as ModelRecord; // the repository lists newest first
        return { name: latest.name, public: latest.groupId === null, latest: modelVersionView(latest), versions: versions.map((v) => v.version) };
      });
      items.sort((a, b) => a.name.localeCompare(b.name) || Number(b.public) - Number(a.public));
      return { items };
    },
  );

  app.get(
    '/models/:name',
    {
      schema: {
        tags: ['models'],
        summary: 'A model\'s versions and cards',
        description: 'Every version visible to your group, newest first; your own versions take precedence when you name the model in a job.',
        params: ModelNameParams,
        response: { 200: ModelDetailSchema, ...problemResponses(404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const versions = await app.db.models.list(caller.group.id, { name: request.params.name });
      if (versions.length === 0) throw new ApiError(404, 'MODEL_NOT_FOUND', `No model "${request.params.name}" is visible to your group.`);
      const own = versions.filter((v) => v.groupId !== null);
      const pub = versions.filter((v) => v.groupId === null);
      return { name: request.params.name, versions: [...own, ...pub].map(modelVersionView) };
    },
  );
};
