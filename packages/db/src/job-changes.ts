/**
 * A feed of job changes from Postgres LISTEN/NOTIFY (the trigger of migration job_change_notify): one
 * connection per process, whatever the number of subscribers, so event streams cost no query per stream.
 * The connection is opened on the first subscription and re-opened with backoff when it drops; subscribers
 * are then told to resync, since changes made while it was down were not announced to this process.
 */
import pg from 'pg';
import type { JobChange, JobChangeFeed, JobChangeListener, JobStatus } from './types.js';
import { quoteIdent } from './url.js';

export function jobChangeChannel(schema: string): string {
  return `pssr_jobs:${schema}`.slice(0, 63);
}

function parseChange(payload: string | undefined): JobChange | null {
  try {
    const v = JSON.parse(payload ?? '') as Partial<JobChange>;
    if (typeof v.id !== 'string' || typeof v.groupId !== 'string' || typeof v.status !== 'string' || typeof v.progress !== 'number') return null;
    return { id: v.id, groupId: v.groupId, status: v.status as JobStatus, progress: v.progress };
  } catch {
    return null;
  }
}

export function createJobChangeFeed(connectionString: string, schema: string, opts: { connectTimeoutMs?: number } = {}): JobChangeFeed {
  const listeners = new Set<JobChangeListener>();
  const channel = jobChangeChannel(schema);
  let client: pg.Client | null = null;
  let connecting: Promise<void> | null = null;
  let retry: NodeJS.Timeout | undefined;
  let backoffMs = 250;
  let closed = false;
  let everConnected = false;

  const emit = (fn: (l: JobChangeListener) => void) => {
    for (const l of [...listeners]) {
      try {
        fn(l);
      } catch {
        // a subscriber's failure must not stop the others
      }
    }
  };

  const scheduleReconnect = () => {
    client = null;
    if (closed || listeners.size === 0 || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, backoffMs);
    retry.unref();
    backoffMs = Math.min(backoffMs * 2, 10_000);
  };

  async function connect(): Promise<void> {
    if (closed || client || connecting) return connecting ?? undefined;
    const c = new pg.Client({ connectionString, connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000 });
    connecting = (async () => {
      try {
        c.on('error', () => {
          void c.end().catch(() => {});
          if (client === c) scheduleReconnect();
        });
        c.on('end', () => {
          if (client === c) scheduleReconnect();
        });
        c.on('notification', (n) => {
          if (n.channel !== channel) return;
          const change = parseChange(n.payload);
          if (change) emit((l) => l.change(change));
        });
        await c.connect();
        await c.query(`LISTEN ${quoteIdent(channel)}`);
        if (closed) {
          await c.end();
          return;
        }
        client = c;
        backoffMs = 250;
        if (everConnected) emit((l) => l.resync());
        everConnected = true;
      } catch {
        await c.end().catch(() => {});
        scheduleReconnect();
        // Changes were missed while no connection listened: let streams read the current state.
        if (everConnected) emit((l) => l.resync());
      } finally {
        connecting = null;
      }
    })();
    return connecting;
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      const ready = connect();
      return { ready, unsubscribe: () => void listeners.delete(listener) };
    },
    get connected() {
      return client !== null;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      listeners.clear();
      await connecting?.catch(() => {});
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
