/**
 * Server-sent events. Job changes reach each API process once, pushed by Postgres (LISTEN/NOTIFY through
 * `db.jobChanges`), whichever process wrote them; the hub reads a changed job once, however many streams
 * follow it, and fans the record out. So an open stream costs no query while its job is quiet, and 100
 * streams on one job cost one read per change. Streams per API key are capped (429 TOO_MANY_STREAMS).
 *
 * `app.jobEvents.followGroup(groupId, listener)` gives every change of a group's jobs (the dashboard's
 * group-wide stream uses it).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobChange, JobRecord } from '@pssr/db';
import { FINAL_JOB_STATUSES } from '@pssr/db';
import { ApiError } from './errors.js';
import { jobView } from './views.js';

const HEARTBEAT_MS = 15_000;

/** Receives the current record of a job after each change. */
export interface JobFollower {
  update(job: JobRecord): void;
  /** The job no longer exists. */
  gone(): void;
  /** Postgres could not be read; the hub tries again on the next change or reconnect. */
  unavailable(): void;
}

export interface GroupFollower extends JobFollower {
  /** The change feed reconnected: changes may have been missed (re-list the group's jobs). */
  resync(): void;
}

export class JobEventHub {
  private readonly byJob = new Map<string, Set<JobFollower>>();
  private readonly byGroup = new Map<string, Set<GroupFollower>>();
  private readonly streamsPerKey = new Map<string, number>();
  /** Jobs being read now, and whether another change arrived meanwhile. */
  private readonly reading = new Map<string, { again: boolean }>();
  private feed: { ready: Promise<void>; unsubscribe(): void } | null = null;

  constructor(private readonly app: FastifyInstance) {}

  /** Starts listening (once per process); resolves when the LISTEN is in place. */
  listen(): Promise<void> {
    this.feed ??= this.app.db.jobChanges.subscribe({
      change: (c) => this.onChange(c),
      resync: () => this.onResync(),
    });
    return this.feed.ready;
  }

  followJob(jobId: string, follower: JobFollower): () => void {
    return this.add(this.byJob, jobId, follower);
  }

  followGroup(groupId: string, follower: GroupFollower): () => void {
    void this.listen();
    return this.add(this.byGroup, groupId, follower);
  }

  /** Counts a stream against its key; throws 429 past the limit. Returns the release function. */
  admitStream(keyId: string): () => void {
    const max = this.app.config.eventsMaxStreamsPerKey;
    const open = this.streamsPerKey.get(keyId) ?? 0;
    if (open >= max) {
      throw new ApiError(429, 'TOO_MANY_STREAMS', `This API key already has ${open} open event streams (the limit is ${max}); close one, or poll GET /v1/jobs/:id.`);
    }
    this.streamsPerKey.set(keyId, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.streamsPerKey.get(keyId) ?? 1) - 1;
      if (n <= 0) this.streamsPerKey.delete(keyId);
      else this.streamsPerKey.set(keyId, n);
    };
  }

  /** Reads a job and hands it to its followers; concurrent requests for one job collapse into one read. */
  refresh(jobId: string, groupId: string): void {
    const inFlight = this.reading.get(jobId);
    if (inFlight) {
      inFlight.again = true;
      return;
    }
    const state = { again: false };
    this.reading.set(jobId, state);
    void (async () => {
      do {
        state.again = false;
        let job: JobRecord | null = null;
        let failed = false;
        try {
          job = await this.app.db.jobs.get(jobId);
        } catch (err) {
          failed = true;
          this.app.log.warn({ err, jobId }, 'job events: reading the job failed');
        }
        const followers = [...(this.byJob.get(jobId) ?? []), ...(this.byGroup.get(job?.groupId ?? groupId) ?? [])];
        for (const f of followers) {
          if (failed) f.unavailable();
          else if (job) f.update(job);
          else f.gone();
        }
      } while (state.again);
      this.reading.delete(jobId);
    })();
  }

  private add<T>(map: Map<string, Set<T>>, key: string, value: T): () => void {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(value);
    return () => {
      set.delete(value);
      if (set.size === 0 && map.get(key) === set) map.delete(key);
    };
  }

  private onChange(c: JobChange): void {
    if (this.byJob.has(c.id) || this.byGroup.has(c.groupId)) this.refresh(c.id, c.groupId);
  }

  private onResync(): void {
    for (const jobId of this.byJob.keys()) this.refresh(jobId, '');
    for (const set of this.byGroup.values()) for (const f of set) f.resync();
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Open event streams, ended when the app closes so shutdown is not held up by idle clients. */
    eventStreams: Set<() => void>;
    jobEvents: JobEventHub;
  }
}

export function registerEventStreams(app: FastifyInstance): void {
  app.decorate('eventStreams', new Set<() => void>());
  app.decorate('jobEvents', new JobEventHub(app));
  app.addHook('preClose', async () => {
    for (const end of [...app.eventStreams]) end();
  });
}

/** An open server-sent event stream: `send` writes one event, `end` closes it (idempotent). */
export interface EventStream {
  send(event: string, data: unknown): void;
  end(): void;
  readonly closed: boolean;
}

/**
 * Admits a stream for the key (429 past its limit), makes sure the hub listens, then takes over the reply as
 * text/event-stream with keep-alives; it ends with the client, `end`, or app shutdown (then `onEnd`).
 */
export async function openEventStream(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, keyId: string, onEnd: () => void): Promise<EventStream> {
  const release = app.jobEvents.admitStream(keyId);
  try {
    await app.jobEvents.listen();
  } catch (err) {
    release();
    throw err;
  }
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
  res.write(`retry: 2000\n\n`);
  let closed = false;
  const heartbeat = setInterval(() => res.write(`: keep-alive\n\n`), HEARTBEAT_MS);
  const end = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    onEnd();
    release();
    app.eventStreams.delete(end);
    res.end();
  };
  app.eventStreams.add(end);
  request.raw.on('close', end);
  res.on('error', end);
  return {
    send(event, data) {
      if (closed) return;
      seq += 1;
      res.write(`id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end,
    get closed() {
      return closed;
    },
  };
}

/** Follows one job: `status` at once and on each status change, `progress`, `done` (then the stream ends). */
export async function streamJobEvents(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, first: JobRecord, keyId: string): Promise<void> {
  let unfollow = () => {};
  const stream = await openEventStream(app, request, reply, keyId, () => unfollow());
  const { send, end } = stream;

  let last = first;
  const finish = (job: JobRecord) => {
    send('done', jobView(job));
    end();
  };
  send('status', jobView(first));
  if (FINAL_JOB_STATUSES.includes(first.status)) return finish(first);
  unfollow = app.jobEvents.followJob(first.id, {
    update(job) {
      if (stream.closed) return;
      if (job.status !== last.status) send('status', jobView(job));
      else if (job.progress !== last.progress || job.updatedAt.getTime() !== last.updatedAt.getTime()) {
        send('progress', { id: job.id, status: job.status, progress: job.progress, metrics: job.metrics });
      }
      last = job;
      if (FINAL_JOB_STATUSES.includes(job.status)) finish(job);
    },
    gone() {
      if (stream.closed) return;
      send('error', { code: 'JOB_NOT_FOUND', detail: 'The job no longer exists.' });
      end();
    },
    unavailable() {
      if (!stream.closed) send('unavailable', { code: 'SERVICE_UNAVAILABLE', detail: 'Job status is temporarily unavailable; still trying.' });
    },
  });
  // A change between the first read and the LISTEN would otherwise go unseen: read once more now.
  app.jobEvents.refresh(first.id, first.groupId);
}
