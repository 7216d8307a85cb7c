/**
 * Aggregates over the job records for /metrics: the query lives in @pssr/db (`jobs.statistics`, the only
 * package that speaks SQL); this module keeps the API's names for it.
 */
import type { Db, HistogramRow, JobStatistics } from '@pssr/db';

export type { HistogramRow, JobStatistics };

export async function readJobStatistics(
  db: Db,
  durationBounds: readonly number[] = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600],
  mpsBounds: readonly number[] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250],
): Promise<JobStatistics> {
  return db.jobs.statistics({ durationBounds, throughputBounds: mpsBounds });
}
