import type pg from 'pg';
import { PssrError } from '@pssr/core';
import { Prisma, type PrismaClient } from '../generated/client.js';
import type { HistogramRow, JobRepository, JobStatistics, JobStatus, JobType, JsonObject, OutputStackInput } from '../types.js';
import { DEFAULT_DURATION_BOUNDS, DEFAULT_THROUGHPUT_BOUNDS, JOB_STATUSES } from '../types.js';
import { isUniqueViolation } from '../errors.js';
import type * as P from '../generated/client.js';
import { decodeCursor, encodeCursor, isUuid, pageLimit, toJob } from './map.js';

const json = (v: JsonObject | undefined): string => JSON.stringify(v ?? {});

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number(v ?? 0));

function checkBounds(name: string, bounds: readonly number[]): void {
  const ok = bounds.length > 0 && bounds.every((b, i) => Number.isFinite(b) && (i === 0 || b > bounds[i - 1]!));
  if (!ok) throw new PssrError('INVALID_ARGUMENT', `${name} must be a non-empty list of finite, increasing numbers (got [${bounds.join(', ')}])`);
}

/** `count(*) FILTER (WHERE expr <= bound) AS b<i>` per bound; the bounds are bound parameters. */
function bucketColumns(expr: Prisma.Sql, bounds: readonly number[]): Prisma.Sql {
  return Prisma.join(bounds.map((b, i) => Prisma.sql`count(*) FILTER (WHERE ${expr} <= ${b}::float8) AS ${Prisma.raw(`b${i}`)}`));
}

function histogramRows(rows: Record<string, unknown>[], bounds: readonly number[], labelNames: string[]): HistogramRow[] {
  return rows.map((r) => ({
    labels: Object.fromEntries(labelNames.map((l) => [l, String(r[l])])),
    buckets: bounds.map((_, i) => num(r[`b${i}`])),
    sum: num(r['s']),
    count: num(r['n']),
  }));
}

/**
 * `jobs.get` is the status poll, the API's hottest read: one prepared statement on the pool costs about a
 * fifth of the CPU of Prisma's findUnique (measured with services/api/bench/api.ts). Timestamps are cast to
 * timestamptz because the columns hold UTC (the session's TimeZone) and pg would read a bare timestamp as
 * local time.
 */
const GET_JOB_SQL = `SELECT id, type, status, progress, "groupId", "userId", options, "idempotencyKey", "inputStackId",
  "outputStackId", "modelId", "trainedModelId", metrics, "errorCode", "errorMessage", attempts, "cancelRequested",
  "workerHost", "queuedAt"::timestamptz AS "queuedAt", "startedAt"::timestamptz AS "startedAt",
  "finishedAt"::timestamptz AS "finishedAt", "updatedAt"::timestamptz AS "updatedAt"
  FROM "Job" WHERE id = $1::uuid AND ($2::uuid IS NULL OR "groupId" = $2::uuid)`;

/** The row of a stack a job produced: ready, owned by the job's group and user. */
function ownedStack(owner: { groupId: string; userId: string }, stack: OutputStackInput) {
  const m = stack.meta;
  return {
    id: stack.id, groupId: owner.groupId, userId: owner.userId, name: stack.name, status: 'ready' as const, storageKey: stack.storageKey,
    frames: m.frames, height: m.height, width: m.width, dtype: m.dtype, axis: m.axis,
    pixelSizeX: m.pixelSizeX ?? null, pixelSizeY: m.pixelSizeY ?? null, pixelUnit: m.pixelUnit ?? null, channels: m.channels ?? 1,
    sha256: m.sha256, bytes: BigInt(m.bytes),
  };
}

/** Thrown inside a transaction to roll it back when a guard finds the job no longer running. */
class NotRunning extends Error {}

/**
 * Status transitions are single guarded UPDATEs (`WHERE status IN (...)`), so they are atomic against each
 * other: a worker that finishes after the user canceled changes nothing and learns it from the row count.
 * Raw SQL because Prisma cannot express `COALESCE` or a jsonb merge in an update; it sets `updatedAt` itself.
 */
export function jobRepository(prisma: PrismaClient, pool: pg.Pool): JobRepository {
  const getJob = async (id: string) => {
    const row = await prisma.job.findUnique({ where: { id } });
    return row ? toJob(row) : null;
  };
  const countByStatus = async () => {
    const groups = await prisma.job.groupBy({ by: ['status'], _count: { _all: true } });
    const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const g of groups) out[g.status] = g._count._all;
    return out;
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
      if (!isUuid(id) || (groupId !== undefined && !isUuid(groupId))) return null;
      const { rows } = await pool.query<P.Job>({ name: 'pssr_job_get', text: GET_JOB_SQL, values: [id, groupId ?? null] });
      return rows[0] ? toJob(rows[0]) : null;
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

    async queuedBefore(before, limit) {
      const rows = await prisma.job.findMany({ where: { status: 'queued', updatedAt: { lt: before } }, orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }], take: limit });
      return rows.map(toJob);
    },

    async getMany(ids) {
      const valid = ids.filter(isUuid);
      if (valid.length === 0) return [];
      const rows = await prisma.job.findMany({ where: { id: { in: valid } } });
      return rows.map(toJob);
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

    async succeedWithOutput(id, { stack, metrics, report }) {
      const stackIds = [stack.id, report?.consistency.id, report?.uncertainty?.id].filter((s) => s !== undefined);
      if (!isUuid(id) || !stackIds.every(isUuid)) return false;
      try {
        await prisma.$transaction(async (tx) => {
          // Lock the row first: a concurrent cancel either committed before (we see it and write nothing) or
          // waits for this commit and then finds the job final.
          const owner = await tx.$queryRaw<{ groupId: string; userId: string }[]>`
            SELECT "groupId"::text AS "groupId", "userId"::text AS "userId" FROM "Job"
            WHERE id = ${id}::uuid AND status = 'running' FOR UPDATE`;
          const o = owner[0];
          if (!o) throw new NotRunning();
          await tx.stack.create({ data: ownedStack(o, stack) });
          if (report) {
            await tx.stack.create({ data: ownedStack(o, report.consistency) });
            if (report.uncertainty) await tx.stack.create({ data: ownedStack(o, report.uncertainty) });
            await tx.jobReport.create({
              data: {
                jobId: id, consistencyStackId: report.consistency.id, uncertaintyStackId: report.uncertainty?.id ?? null,
                reportKey: report.reportKey, previewKey: report.previewKey,
              },
            });
          }
          const n = await tx.$executeRaw`
            UPDATE "Job" SET status = 'succeeded', progress = 1, "finishedAt" = now(), "updatedAt" = now(),
              metrics = metrics || ${json(metrics)}::jsonb, "outputStackId" = ${stack.id}::uuid
            WHERE id = ${id}::uuid AND status = 'running'`;
          if (n === 0) throw new NotRunning();
        });
        return true;
      } catch (err) {
        if (err instanceof NotRunning) return false;
        throw err;
      }
    },

    async report(id, groupId) {
      if (!isUuid(id)) return null;
      const row = await prisma.jobReport.findUnique({ where: { jobId: id }, include: { job: { select: { groupId: true } } } });
      if (!row || (groupId !== undefined && row.job.groupId !== groupId)) return null;
      const { job: _job, ...record } = row;
      return record;
    },

    async requeue(id, { attempt, code, message }) {
      if (!isUuid(id)) return false;
      const lastError = { attempt, code, message, at: new Date().toISOString() };
      const n = await prisma.$executeRaw`
        UPDATE "Job" SET status = 'queued', progress = 0, "updatedAt" = now(),
          metrics = metrics || jsonb_build_object('lastError', ${JSON.stringify(lastError)}::jsonb)
        WHERE id = ${id}::uuid AND status IN ('queued', 'running') AND NOT "cancelRequested"`;
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

    countByStatus,

    async statistics(opts = {}) {
      const durationBounds = opts.durationBounds ?? DEFAULT_DURATION_BOUNDS;
      const throughputBounds = opts.throughputBounds ?? DEFAULT_THROUGHPUT_BOUNDS;
      checkBounds('durationBounds', durationBounds);
      checkBounds('throughputBounds', throughputBounds);
      const byStatus = await countByStatus();

      const finished = await prisma.$queryRaw<{ type: JobType; status: JobStatus; n: unknown }[]>`
        SELECT type::text AS type, status::text AS status, count(*) AS n FROM "Job"
        WHERE status IN ('succeeded', 'failed', 'canceled') GROUP BY 1, 2 ORDER BY 1, 2`;
      const failures = await prisma.$queryRaw<{ type: JobType; code: string | null; n: unknown }[]>`
        SELECT type::text AS type, "errorCode" AS code, count(*) AS n FROM "Job"
        WHERE status = 'failed' GROUP BY 1, 2 ORDER BY 1, 2`;

      const d = Prisma.sql`EXTRACT(EPOCH FROM ("finishedAt" - "startedAt"))`;
      const durations = await prisma.$queryRaw<Record<string, unknown>[]>`
        SELECT type::text AS type, status::text AS status, ${bucketColumns(d, durationBounds)},
          coalesce(sum(${d}), 0)::float8 AS s, count(*) AS n
        FROM "Job" WHERE "finishedAt" IS NOT NULL AND "startedAt" IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`;

      const mps = Prisma.sql`("metrics"->>'megapixelsPerSecond')::float8`;
      const throughput = await prisma.$queryRaw<Record<string, unknown>[]>`
        SELECT coalesce("metrics"->>'provider', 'unknown') AS provider, ${bucketColumns(mps, throughputBounds)},
          coalesce(sum(${mps}), 0)::float8 AS s, count(*) AS n
        FROM "Job" WHERE type = 'restore' AND status = 'succeeded' AND jsonb_typeof("metrics"->'megapixelsPerSecond') = 'number'
        GROUP BY 1 ORDER BY 1`;

      // metrics.trust as @pssr/queue's RestoreTrustSchema types it (written by the worker).
      const trust = await prisma.$queryRaw<{ model: string; reports: unknown; unavailable: unknown; frames: unknown; flagged: unknown }[]>`
        SELECT coalesce("metrics"->'model'->>'name', 'unknown') AS model,
          count(*) FILTER (WHERE "metrics"->'trust'->>'status' = 'ok') AS reports,
          count(*) FILTER (WHERE "metrics"->'trust'->>'status' = 'unavailable') AS unavailable,
          coalesce(sum(CASE WHEN jsonb_typeof("metrics"->'trust'->'frames') = 'number' THEN ("metrics"->'trust'->>'frames')::float8 ELSE 0 END), 0) AS frames,
          coalesce(sum(jsonb_array_length("metrics"->'trust'->'flaggedFrames')), 0) AS flagged
        FROM "Job" WHERE type = 'restore' AND status = 'succeeded' AND jsonb_typeof("metrics"->'trust') = 'object'
          AND jsonb_typeof("metrics"->'trust'->'flaggedFrames') = 'array'
        GROUP BY 1 ORDER BY 1`;

      const stats: JobStatistics = {
        byStatus,
        finished: finished.map((r) => ({ type: r.type, status: r.status, count: num(r.n) })),
        failures: failures.map((r) => ({ type: r.type, code: r.code ?? 'UNKNOWN', count: num(r.n) })),
        durations: histogramRows(durations, durationBounds, ['type', 'status']),
        restoreThroughput: histogramRows(throughput, throughputBounds, ['provider']),
        trust: trust.map((r) => ({ model: r.model, reports: num(r.reports), unavailable: num(r.unavailable), frames: num(r.frames), flaggedFrames: num(r.flagged) })),
      };
      return stats;
    },
  };
}
