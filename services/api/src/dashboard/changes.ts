/**
 * `GET /v1/jobs/events`: one server-sent event stream of every change to the caller's group's jobs, for live
 * job lists. Built on the API's job event hub (events.ts: Postgres LISTEN/NOTIFY, one read per change however
 * many streams follow it), so an open list costs nothing while the group's jobs are quiet.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOf } from '../plugins/auth.js';
import { openEventStream } from '../events.js';
import { problemResponses } from '../schemas.js';
import { jobView } from '../views.js';

export const jobChangeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/jobs/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Follow all of your group\'s jobs (server-sent events)',
        description:
          'text/event-stream of `job` events (the job, as GET /v1/jobs/:id answers it) whenever any job of your group ' +
          'is submitted or changes (status, progress, metrics); `resync` when changes may have been missed (list again). ' +
          'For live job lists: load the list first with GET /v1/jobs.',
        produces: ['text/event-stream'],
        response: { 200: { type: 'string', description: 'An event stream.' }, ...problemResponses() },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      let unfollow = () => {};
      const stream = await openEventStream(app, request, reply, caller.keyId, () => unfollow());
      unfollow = app.jobEvents.followGroup(caller.group.id, {
        update: (job) => stream.send('job', jobView(job)),
        gone: () => undefined,
        unavailable: () => stream.send('unavailable', { code: 'SERVICE_UNAVAILABLE', detail: 'Job status is temporarily unavailable; still trying.' }),
        resync: () => stream.send('resync', {}),
      });
    },
  );
};
