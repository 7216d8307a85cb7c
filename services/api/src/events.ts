/**
 * Server-sent events for one job. The API polls the job's Postgres record (every `eventsPollMs`), so events
 * flow whichever process runs the worker, and a reconnecting client simply gets the current state again.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobRecord } from '@pssr/db';
import { FINAL_JOB_STATUSES } from '@pssr/db';
import { jobView } from './views.js';

const HEARTBEAT_MS = 15_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** Open event streams, ended when the app closes so shutdown is not held up by idle clients. */
    eventStreams: Set<() => void>;
  }
}

export function registerEventStreams(app: FastifyInstance): void {
  app.decorate('eventStreams', new Set<() => void>());
  app.addHook('preClose', async () => {
    for (const end of [...app.eventStreams]) end();
  });
}

export async function streamJobEvents(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, first: JobRecord): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': String(request.id),
  });
  let seq = 0;
  const send = (event: string, data: unknown) => {
    seq += 1;
    res.write(`id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  res.write(`retry: 2000\n\n`);

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const end = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    clearInterval(heartbeat);
    app.eventStreams.delete(end);
    res.end();
  };
  app.eventStreams.add(end);
  request.raw.on('close', end);
  res.on('error', end);
  heartbeat = setInterval(() => res.write(`: keep-alive\n\n`), HEARTBEAT_MS);

  let last = first;
  send('status', jobView(first));
  if (FINAL_JOB_STATUSES.includes(first.status)) {
    send('done', jobView(first));
    end();
    return;
  }
  const poll = async () => {
    if (closed) return;
    try {
      const job = await app.db.jobs.get(first.id, first.groupId);
      if (closed) return;
      if (!job) {
        send('error', { code: 'JOB_NOT_FOUND', detail: 'The job no longer exists.' });
        end();
        return;
      }
      if (job.status !== last.status) send('status', jobView(job));
      else if (job.progress !== last.progress || job.updatedAt.getTime() !== last.updatedAt.getTime()) {
        send('progress', { id: job.id, status: job.status, progress: job.progress, metrics: job.metrics });
      }
      last = job;
      if (FINAL_JOB_STATUSES.includes(job.status)) {
        send('done', jobView(job));
        end();
        return;
      }
    } catch (err) {
      // Postgres briefly away: tell the client, keep the stream, try again.
      request.log.warn({ err }, 'job events poll failed');
      send('unavailable', { code: 'SERVICE_UNAVAILABLE', detail: 'Job status is temporarily unavailable; still trying.' });
    }
    timer = setTimeout(() => void poll(), app.config.eventsPollMs);
  };
  timer = setTimeout(() => void poll(), app.config.eventsPollMs);
}
