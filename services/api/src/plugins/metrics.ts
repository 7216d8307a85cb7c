/**
 * Prometheus metrics at /metrics. HTTP latency is measured in this process; queue depth is read from Redis
 * at scrape time; job durations, restore throughput, failures by error code and the trust reports' flagged
 * frames are read from Postgres (the authoritative record), so they are right however many workers and API
 * replicas there are.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { withTimeout } from '../errors.js';
import { readJobStatistics, type JobStatistics } from './job-stats.js';

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600];
const MPS_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250];

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Renders the Postgres-derived families in the Prometheus text format. */
export function renderJobStatistics(stats: JobStatistics): string {
  const out: string[] = [];
  out.push('# HELP pssr_jobs_finished_total Jobs that reached a final status, by type, status and error code.');
  out.push('# TYPE pssr_jobs_finished_total counter');
  for (const r of stats.finished) out.push(`pssr_jobs_finished_total${labels({ type: r.type, status: r.status })} ${r.count}`);
  out.push('# HELP pssr_job_failures_total Failed jobs by type and stable error code.');
  out.push('# TYPE pssr_job_failures_total counter');
  for (const r of stats.failures) out.push(`pssr_job_failures_total${labels({ type: r.type, code: r.code })} ${r.count}`);
  out.push('# HELP pssr_jobs Jobs per current status (all groups).');
  out.push('# TYPE pssr_jobs gauge');
  for (const [status, n] of Object.entries(stats.byStatus)) out.push(`pssr_jobs${labels({ status })} ${n}`);
  const histogram = (name: string, help: string, rows: JobStatistics['durations'], buckets: number[]) => {
    out.push(`# HELP ${name} ${help}`);
    out.push(`# TYPE ${name} histogram`);
    for (const r of rows) {
      const base = r.labels;
      buckets.forEach((le, i) => out.push(`${name}_bucket${labels({ ...base, le: String(le) })} ${r.buckets[i] ?? 0}`));
      out.push(`${name}_bucket${labels({ ...base, le: '+Inf' })} ${r.count}`);
      out.push(`${name}_sum${labels(base)} ${r.sum}`);
      out.push(`${name}_count${labels(base)} ${r.count}`);
    }
  };
  // From each succeeded restore's metrics.trust (the worker's record), so every API replica counts the same.
  const trustCounter = (name: string, help: string, value: (r: JobStatistics['trust'][number]) => number) => {
    out.push(`# HELP ${name} ${help}`);
    out.push(`# TYPE ${name} counter`);
    for (const r of stats.trust) out.push(`${name}${labels({ model: r.model })} ${value(r)}`);
  };
  trustCounter('pssr_restore_frames_flagged_total', "Restored frames flagged out of their model's calibrated range by the trust report, by model.", (r) => r.flaggedFrames);
  trustCounter('pssr_restore_frames_checked_total', 'Restored frames the trust report checked, by model.', (r) => r.frames);
  trustCounter('pssr_restore_reports_unavailable_total', 'Succeeded restores whose trust report could not be computed, by model.', (r) => r.unavailable);
  histogram('pssr_job_duration_seconds', 'Run time of finished jobs (started to finished), by type and status.', stats.durations, DURATION_BUCKETS);
  histogram('pssr_restore_megapixels_per_second', 'Output megapixels per second of succeeded restore jobs.', stats.restoreThroughput, MPS_BUCKETS);
  return out.join('\n') + '\n';
}

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry;
  }
}

export const metricsPlugin = fp(
  async (app: FastifyInstance) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'pssr_api_' });
    const http = new Histogram({
      name: 'pssr_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    const timeoutMs = app.config.dependencyTimeoutMs;
    new Gauge({
      name: 'pssr_queue_jobs',
      help: 'BullMQ jobs per queue and state (waiting includes prioritized).',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        const depths = await withTimeout(app.producer.depths(), timeoutMs, 'Redis').catch(() => []);
        for (const d of depths) {
          for (const state of ['waiting', 'active', 'delayed', 'failed', 'completed'] as const) {
            this.set({ queue: d.queue, state }, d[state]);
          }
          this.set({ queue: d.queue, state: 'paused' }, d.paused ? 1 : 0);
        }
      },
    });
    const up = new Gauge({
      name: 'pssr_dependency_up',
      help: '1 when the dependency answered the last scrape.',
      labelNames: ['dependency'] as const,
      registers: [registry],
    });

    app.decorate('metricsRegistry', registry);
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      http.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });

    app.get('/metrics', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) => {
      let jobText = '';
      try {
        jobText = renderJobStatistics(await withTimeout(readJobStatistics(app.db, DURATION_BUCKETS, MPS_BUCKETS), timeoutMs, 'The database'));
        up.set({ dependency: 'postgres' }, 1);
      } catch (err) {
        app.log.warn({ err }, 'job statistics unavailable for /metrics');
        up.set({ dependency: 'postgres' }, 0);
      }
      up.set({ dependency: 'redis' }, await withTimeout(app.producer.ping(), timeoutMs, 'Redis').then(() => 1, () => 0));
      const text = (await registry.metrics()) + jobText;
      return reply.type(registry.contentType).send(text);
    });
  },
  { name: 'pssr-metrics', dependencies: ['pssr-clients'] },
);
