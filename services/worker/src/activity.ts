/**
 * What this worker process is doing, published as a heartbeat for the dashboard's facility view
 * (`@pssr/queue` startHeartbeat: a Redis key with a TTL of three periods, refreshed every
 * `WORKER_HEARTBEAT_MS`). A crashed worker's key expires, so it drops off the view by itself.
 */
import type { JobName, Processor, WorkerBeat } from '@pssr/queue';
import { startHeartbeat, type Heartbeat } from '@pssr/queue';
import type { WorkerDeps } from './context.js';

export class WorkerActivity {
  private readonly running = new Map<string, { jobId: string; type: JobName; since: string }>();
  private readonly startedAt = new Date().toISOString();
  private succeeded = 0;
  private failed = 0;
  private provider: string | null = null;
  private lastMegapixelsPerSecond: number | null = null;

  constructor(private readonly deps: WorkerDeps) {}

  /** The processor, recording each job it runs (and the throughput of successful restores). */
  track(processor: Processor): Processor {
    return async (ctx) => {
      this.running.set(ctx.jobId, { jobId: ctx.jobId, type: ctx.type, since: new Date().toISOString() });
      try {
        await processor(ctx);
        this.succeeded += 1;
        if (ctx.type === 'restore') await this.noteThroughput(ctx.jobId);
      } catch (err) {
        this.failed += 1;
        throw err;
      } finally {
        this.running.delete(ctx.jobId);
      }
    };
  }

  beat(): Omit<WorkerBeat, 'at'> {
    const { config } = this.deps;
    return {
      id: `${config.workerHost}:${process.pid}`,
      host: config.workerHost,
      pid: process.pid,
      device: config.device,
      provider: this.provider,
      queues: config.queues,
      concurrency: config.concurrency,
      running: [...this.running.values()],
      succeeded: this.succeeded,
      failed: this.failed,
      lastMegapixelsPerSecond: this.lastMegapixelsPerSecond,
      startedAt: this.startedAt,
    };
  }

  start(): Heartbeat {
    const { config, log } = this.deps;
    return startHeartbeat({
      redisUrl: config.redisUrl,
      prefix: config.queuePrefix,
      intervalMs: config.heartbeatMs,
      state: () => this.beat(),
      onError: (err) => log.warn({ err }, 'heartbeat failed'),
    });
  }

  private async noteThroughput(jobId: string): Promise<void> {
    const job = await this.deps.db.jobs.get(jobId).catch(() => null);
    const mps = job?.metrics['megapixelsPerSecond'];
    const provider = job?.metrics['provider'];
    if (typeof mps === 'number') this.lastMegapixelsPerSecond = mps;
    if (typeof provider === 'string') this.provider = provider;
  }
}
