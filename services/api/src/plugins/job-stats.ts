/**
 * Aggregates over the job records for /metrics. The repositories have no aggregate query yet, so this thin
 * adapter uses the raw client @pssr/db exposes "for what the repositories do not cover" (plain SQL, no Prisma
 * import); it falls back to per-status counts when that client is absent.
 */
import type { Db, JobStatus } from '@pssr/db';

export interface HistogramRow {
  labels: Record<string, string>;
  /** Cumulative counts per bucket bound (same order as the bounds). */
  buckets: number[];
  sum: number;
  count: number;
}

export interface JobStatistics {
  byStatus: Partial<Record<JobStatus, number>>;
  finished: { type: string; status: string; count: number }[];
  failures: { type: string; code: string; count: number }[];
  durations: HistogramRow[];
  restoreThroughput: HistogramRow[];
}

interface RawClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

function rawClient(db: Db): RawClient | null {
  const prisma = (db as Db & { prisma?: unknown }).prisma as RawClient | undefined;
  return prisma && typeof prisma.$queryRawUnsafe === 'function' ? prisma : null;
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number(v ?? 0));

function bucketSql(expr: string, bounds: number[]): string {
  return bounds.map((b, i) => `count(*) FILTER (WHERE ${expr} <= ${b}) AS b${i}`).join(', ');
}

export async function readJobStatistics(
  db: Db,
  durationBounds = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600],
  mpsBounds = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250],
): Promise<JobStatistics> {
  const byStatus = await db.jobs.countByStatus();
  const stats: JobStatistics = { byStatus, finished: [], failures: [], durations: [], restoreThroughput: [] };
  const raw = rawClient(db);
  if (!raw) return stats;

  const finished = await raw.$queryRawUnsafe<{ type: string; status: string; n: unknown }[]>(
    `SELECT type::text AS type, status::text AS status, count(*) AS n FROM "Job"
     WHERE status IN ('succeeded', 'failed', 'canceled') GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  stats.finished = finished.map((r) => ({ type: r.type, status: r.status, count: num(r.n) }));

  const failures = await raw.$queryRawUnsafe<{ type: string; code: string | null; n: unknown }[]>(
    `SELECT type::text AS type, "errorCode" AS code, count(*) AS n FROM "Job" WHERE status = 'failed' GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  stats.failures = failures.map((r) => ({ type: r.type, code: r.code ?? 'UNKNOWN', count: num(r.n) }));

  const d = `EXTRACT(EPOCH FROM ("finishedAt" - "startedAt"))`;
  const durations = await raw.$queryRawUnsafe<Record<string, unknown>[]>(
    `SELECT type::text AS type, status::text AS status, ${bucketSql(d, durationBounds)}, coalesce(sum(${d}), 0)::float8 AS s, count(*) AS n
     FROM "Job" WHERE "finishedAt" IS NOT NULL AND "startedAt" IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  stats.durations = durations.map((r) => ({
    labels: { type: String(r['type']), status: String(r['status']) },
    buckets: durationBounds.map((_, i) => num(r[`b${i}`])),
    sum: num(r['s']),
    count: num(r['n']),
  }));

  const m = `("metrics"->>'megapixelsPerSecond')::float8`;
  const mps = await raw.$queryRawUnsafe<Record<string, unknown>[]>(
    `SELECT coalesce("metrics"->>'provider', 'unknown') AS provider, ${bucketSql(m, mpsBounds)}, coalesce(sum(${m}), 0)::float8 AS s, count(*) AS n
     FROM "Job" WHERE type = 'restore' AND status = 'succeeded' AND jsonb_typeof("metrics"->'megapixelsPerSecond') = 'number'
     GROUP BY 1 ORDER BY 1`,
  );
  stats.restoreThroughput = mps.map((r) => ({
    labels: { provider: String(r['provider']) },
    buckets: mpsBounds.map((_, i) => num(r[`b${i}`])),
    sum: num(r['s']),
    count: num(r['n']),
  }));
  return stats;
}
