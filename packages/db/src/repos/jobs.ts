import type { Prisma, PrismaClient } from '../generated/client.js';
import type { JobRepository, JobStatus, JsonObject } from '../types.js';
import { JOB_STATUSES } from '../types.js';
import { isUniqueViolation } from '../errors.js';
import { decodeCursor, encodeCursor, isUuid, pageLimit, toJob } from './map.js';

const json = (v: JsonObject | undefined): string => JSON.stringify(v ?? {});

/**
 * Status transitions are single guarded UPDATEs (`WHERE status IN (...)`), so they are atomic against each
 * other: a worker that finishes after the user canceled changes nothing and learns it from the row count.
 * Raw SQL because Prisma cannot express `COALESCE` or a jsonb merge in an update; it sets `updatedAt` itself.
 */
export function jobRepository(prisma: PrismaClient): JobRepository {
  const getJob = async (id: string) => {
    const row = await prisma.job.findUnique({ where: { id } });
    return row ? toJob(row) : null;
  };

  return {
    async create(input) {
      const data = {
        type: input.type,
        groupId: input.groupId,
        userId: input.userId,
        options: (input.options ?? {}) as Prisma.InputJsonObject,
        idempotencyKey: input.idempotencyKey ?? null,
        inputStackId: input.inputStackId ?? null,
        modelId: input.modelId ?? null,
      };
      try {
        return { job: toJob(await prisma.job.create({ data })), created: true };
      } catch (err) {
        if (!input.idempotencyKey || !isUniqueViolation(err)) throw err;
        const existing = await prisma.job.findUnique({
          where: { groupId_idempotencyKey: { groupId: input.groupId, idempotencyKey: input.idempotencyKey } },
        });
        if (!existing) throw err;
        return { job: toJob(existing), created: false };
      }
    },

    async get(id, groupId) {
      if (!isUuid(id)) return null;
      const job = await getJob(id);
      if (!job || (groupId !== undefined && job.groupId !== groupId)) return null;
      return job;
    },

    async list(groupId, opts = {}) {
      const limit = pageLimit(opts.limit);
      if (!isUuid(groupId)) return { items: [], nextCursor: null };
      const c = opts.cursor ? decodeCursor(opts.cursor) : null;
      const statuses = opts.status === undefined ? undefined : Array.isArray(opts.status) ? opts.status : [opts.status];
      const rows = await prisma.job.findMany({
        where: {
          groupId,
          ...(statuses ? { status: { in: statuses } } : {}),
          ...(opts.type ? { type: opts.type } : {}),
          ...(c ? { OR: [{ queuedAt: { lt: c.at } }, { queuedAt: c.at, id: { lt: c.id } }] } : {}),
        },
        orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }],
        take: limit + 1,
      });
      const items = rows.slice(0, limit).map(toJob);
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.queuedAt, last.id) : null };
    },

    async start(id, { workerHost }) {
      if (!isUuid(id)) return null;
      const n = await prisma.$executeRaw`
        UPDATE "Job" SET status = 'running', "startedAt" = COALESCE("startedAt", now()), "workerHost" = ${workerHost},
          attempts = attempts + 1, "updatedAt" = now()
        WHERE id = ${id}::uuid AND status IN ('queued', 'running') AND NOT "cancelRequested"`;
      return n > 0 ? getJob(id) : null;
    },

    async progress(id, progress, metricsPatch) {
      if (!isUuid(id)) return false;
      const p = Number.isFinite(progress) ? Math.min(1, Math.max(0, progress)) : 0;
      const n = await prisma.$executeRaw`
        UPDATE "Job" SET progress = ${p}, metrics = metrics || ${json(metricsPatch)}::jsonb, "updatedAt" = now()
        WHERE id = ${id}::uuid AND status = 'running'`;
      return n > 0;
    },

    async mergeMetrics(id, patch) {
      if (!isUuid(id)) return;
      await prisma.$executeRaw`
        UPDATE "Job" SET metrics = metrics || ${json(patch)}::jsonb, "updatedAt" = now() WHERE id = ${id}::uuid`;
    },

    async succeed(id, input = {}) {
      if (!isUuid(id)) return false;
      const n = await prisma.$executeRaw`
        UPDATE "Job" SET status = 'succeeded', progress = 1, "finishedAt" = now(), "updatedAt" = now(),
          metrics = metrics || ${json(input.metrics)}::jsonb,
          "outputStackId" = COALESCE(${input.outputStackId ?? null}::uuid, "outputStackId"),
          "trainedModelId" = COALESCE(${input.trainedModelId ?? null}::uuid, "trainedModelId")
        WHERE id = ${id}::uuid AND status = 'running'`;
      return n > 0;
    },

    async fail(id, { code, message, metrics }) {
      if (!isUuid(id)) return false;
      const n = await prisma.$executeRaw`
        UPDATE "Job" SET status = 'failed', "errorCode" = ${code}, "errorMessage" = ${message},
          metrics = metrics || ${json(metrics)}::jsonb, "finishedAt" = now(), "updatedAt" = now()
        WHERE id = ${id}::uuid AND status IN ('queued', 'running')`;
      return n > 0;
    },

    async cancel(id, groupId) {
      if (!isUuid(id) || !isUuid(groupId)) return null;
      const n = await prisma.$executeRaw`
        UPDATE "Job" SET status = 'canceled', "cancelRequested" = true, "finishedAt" = now(), "updatedAt" = now()
        WHERE id = ${id}::uuid AND "groupId" = ${groupId}::uuid AND status IN ('queued', 'running')`;
      const job = await getJob(id);
      if (!job || job.groupId !== groupId) return null;
      return { job, changed: n > 0 };
    },

    async isCanceled(id) {
      if (!isUuid(id)) return true;
      const row = await prisma.job.findUnique({ where: { id }, select: { status: true } });
      return !row || row.status === 'canceled';
    },

    async addMetricPoints(id, points) {
      if (points.length === 0) return;
      await prisma.jobMetricPoint.createMany({
        data: points.map((p) => ({ jobId: id, step: p.step, name: p.name, value: p.value })),
      });
    },

    async metricPoints(id, opts = {}) {
      if (!isUuid(id)) return [];
      const rows = await prisma.jobMetricPoint.findMany({
        where: { jobId: id, ...(opts.name !== undefined ? { name: opts.name } : {}) },
        orderBy: [{ name: 'asc' }, { step: 'asc' }, { id: 'asc' }],
      });
      return rows.map((r) => ({ step: r.step, name: r.name, value: r.value, at: r.at }));
    },

    async countByStatus() {
      const groups = await prisma.job.groupBy({ by: ['status'], _count: { _all: true } });
      const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const g of groups) out[g.status] = g._count._all;
      return out;
    },
  };
}
