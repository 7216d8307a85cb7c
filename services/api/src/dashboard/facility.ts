/**
 * `GET /v1/admin/facility` (admin keys): what the GPUs are doing across all groups. The waiting jobs of each
 * queue come in the order workers will start them (packages/queue `waitingInOrder`: BullMQ's priority order,
 * where the fairness rule set each priority to 1 + the group's jobs already waiting), enriched with their
 * Postgres records; workers come from their heartbeats (packages/queue heartbeat.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { JobRecord } from '@pssr/db';
import { JOB_NAMES, type WaitingJob, type WorkerBeat } from '@pssr/queue';
import { callerOf } from '../plugins/auth.js';
import { ApiError, withTimeout } from '../errors.js';
import { problemResponses } from '../schemas.js';
import { ADMIN_QUEUES_PATH } from '../routes/admin.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const FacilityJob = Type.Object({
  position: Type.Integer({ description: '1 = starts next (waiting jobs); delayed retries follow.' }),
  jobId: Type.String({ format: 'uuid' }),
  state: Type.Union([Type.Literal('waiting'), Type.Literal('delayed')]),
  priority: Type.Integer(),
  group: Type.String(),
  user: Type.String(),
  model: Nullable(Type.String()),
  queuedAt: Type.String({ format: 'date-time' }),
});

const FacilityWorker = Type.Object({
  id: Type.String(),
  host: Type.String(),
  device: Type.String(),
  provider: Nullable(Type.String()),
  queues: Type.Array(Type.String()),
  concurrency: Type.Integer(),
  running: Type.Array(
    Type.Object({
      jobId: Type.String(),
      type: Type.String(),
      since: Type.String(),
      group: Type.String(),
      user: Type.String(),
      progress: Type.Number(),
      megapixelsPerSecond: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  lastMegapixelsPerSecond: Type.Union([Type.Number(), Type.Null()]),
  startedAt: Type.String(),
  lastBeatAt: Type.String(),
});

const FacilitySchema = Type.Object({
  queues: Type.Array(Type.Object({ queue: Type.String(), paused: Type.Boolean(), active: Type.Integer(), jobs: Type.Array(FacilityJob) })),
  workers: Type.Array(FacilityWorker),
  board: Type.String({ description: 'The BullMQ board (admin keys).' }),
});

/** Group and user names by id, each looked up once per request. */
function namer(app: FastifyInstance) {
  const groups = new Map<string, Promise<string>>();
  const users = new Map<string, Promise<string>>();
  const once = (cache: Map<string, Promise<string>>, id: string, load: () => Promise<string>) => {
    let p = cache.get(id);
    if (!p) cache.set(id, (p = load().catch(() => id)));
    return p;
  };
  return {
    group: (id: string) => once(groups, id, async () => (await app.db.groups.get(id))?.name ?? id),
    user: (id: string) => once(users, id, async () => (await app.db.users.get(id))?.name ?? id),
  };
}

const modelOf = (job: JobRecord | undefined): string | null => {
  const m = job?.options['model'];
  return typeof m === 'string' ? m : job?.type === 'train' ? `train → ${String(job.options['name'] ?? '')}` : null;
};

async function queueView(names: ReturnType<typeof namer>, jobs: Map<string, JobRecord>, waiting: WaitingJob[]) {
  return Promise.all(
    waiting.map(async (w, i) => {
      const job = jobs.get(w.jobId);
      return {
        position: i + 1,
        jobId: w.jobId,
        state: w.state,
        priority: w.priority,
        group: await names.group(w.groupId),
        user: job ? await names.user(job.userId) : '',
        model: modelOf(job),
        queuedAt: (job?.queuedAt ?? w.enqueuedAt).toISOString(),
      };
    }),
  );
}

async function workerView(names: ReturnType<typeof namer>, jobs: Map<string, JobRecord>, beat: WorkerBeat) {
  const running = await Promise.all(
    beat.running.map(async (r) => {
      const job = jobs.get(r.jobId);
      const mps = job?.metrics['megapixelsPerSecond'];
      return {
        ...r,
        group: job ? await names.group(job.groupId) : '',
        user: job ? await names.user(job.userId) : '',
        progress: job?.progress ?? 0,
        megapixelsPerSecond: typeof mps === 'number' ? mps : null,
      };
    }),
  );
  const { at, pid: _pid, ...rest } = beat;
  return { ...rest, running, lastBeatAt: at };
}

export const facilityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/admin/facility',
    {
      schema: {
        tags: ['admin'],
        summary: 'Queues and workers across all groups (admin)',
        description:
          'Per queue, the jobs not started yet in the order workers will start them (fair share: 1 + the group\'s waiting ' +
          'jobs is each job\'s priority), then retries waiting out their backoff; the workers online (heartbeats) with ' +
          'device, provider, running jobs and throughput.',
        response: { 200: FacilitySchema, ...problemResponses(403) },
      },
    },
    async (request) => {
      if (!callerOf(request).isAdmin) throw new ApiError(403, 'FORBIDDEN', 'The facility view needs an admin key (`pssr admin create-key --admin`).');
      const t = app.config.dependencyTimeoutMs;
      const [waiting, beats, depths] = await Promise.all([
        Promise.all(JOB_NAMES.map((q) => app.producer.waitingInOrder(q))),
        app.producer.workers(),
        app.producer.depths(),
      ]);
      const ids = [...waiting.flat().map((w) => w.jobId), ...beats.flatMap((b) => b.running.map((r) => r.jobId))];
      const jobs = new Map((await withTimeout(app.db.jobs.getMany(ids), t, 'The database')).map((j) => [j.id, j]));
      const names = namer(app);
      const queues = await Promise.all(
        JOB_NAMES.map(async (queue, i) => {
          const depth = depths.find((d) => d.queue === queue);
          return { queue, paused: depth?.paused ?? false, active: depth?.active ?? 0, jobs: await queueView(names, jobs, waiting[i] ?? []) };
        }),
      );
      const workers = await Promise.all(beats.map((b) => workerView(names, jobs, b)));
      return { queues, workers, board: ADMIN_QUEUES_PATH };
    },
  );
};
