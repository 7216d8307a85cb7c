/**
 * The whole service for end-to-end tests: the API listening on loopback and a worker, on a fresh Postgres
 * schema, a unique Redis prefix and an in-process s3rver. Tests talk HTTP to it like any client.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@pssr/api';
import { loadWorkerConfig } from '@pssr/config';
import { startWorker, type RunningWorker } from '@pssr/worker';
import { createObjectStore, type ObjectStore } from '@pssr/storage';
import { dropRedisPrefix, freshDatabase, startTestS3, tempDir, testApiConfig, testEnv, uniqueName, type TestDatabase, type TestS3 } from './env.js';

export interface TestService {
  base: string;
  app: FastifyInstance;
  worker: RunningWorker | null;
  tdb: TestDatabase;
  s3: TestS3;
  store: ObjectStore;
  prefix: string;
  dir: string;
  /** Env for another worker process on the same schema, queue prefix and bucket. */
  workerEnv: Record<string, string>;
  key(group: string, user?: string, isAdmin?: boolean): Promise<{ authorization: string; key: string; groupId: string }>;
  close(): Promise<void>;
}

export async function startService(tag: string, opts: { worker?: boolean; workerEnv?: Record<string, string>; browserCors?: boolean } = {}): Promise<TestService> {
  const tdb = await freshDatabase(tag);
  const s3 = await startTestS3({ bucket: 'pssr-e2e', browserCors: opts.browserCors ?? false });
  const prefix = uniqueName(tag);
  const dir = await tempDir(tag);
  const base = { databaseUrl: tdb.url, prefix, s3 };
  const app = await buildApp(testApiConfig({ ...base, env: { UPLOAD_TMP_DIR: `${dir.path}/spool` } }), { logger: false, authCacheMs: 0 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const workerEnv = testEnv({
    ...base,
    env: { WORKER_DEVICE: 'cpu', WORKER_TMP_DIR: `${dir.path}/worker`, WORKER_CANCEL_POLL_MS: '300', WORKER_THREADS: '1', LOG_LEVEL: 'error', ...(opts.workerEnv ?? {}) },
  });
  const worker = opts.worker === false ? null : await startWorker(loadWorkerConfig(workerEnv));
  const store = createObjectStore({ kind: 's3', ...s3.config });
  return {
    base: `http://127.0.0.1:${port}`,
    app,
    worker,
    tdb,
    s3,
    store,
    prefix,
    dir: dir.path,
    workerEnv,
    async key(group, user = 'ana', isAdmin = false) {
      const { key, group: g } = await tdb.db.apiKeys.issue({ group, user, isAdmin });
      return { authorization: `Bearer ${key}`, key, groupId: g.id };
    },
    async close() {
      await worker?.close({ force: true });
      await app.close();
      store.close();
      await s3.close();
      await tdb.close();
      await dropRedisPrefix(prefix);
      await dir.remove();
    },
  };
}

export interface SseEvent {
  event: string;
  data: any;
}

/** Follows GET /v1/jobs/:id/events until the `done` event (or the stream ends); returns every event. */
export async function followEvents(base: string, auth: { authorization: string }, jobId: string, onEvent?: (e: SseEvent) => void, timeoutMs = 180_000): Promise<SseEvent[]> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(`${base}/v1/jobs/${jobId}/events`, { headers: { ...auth, accept: 'text/event-stream' }, signal: ctl.signal });
    if (res.status !== 200 || !res.body) throw new Error(`events: HTTP ${res.status} ${await res.text()}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let sep: number;
      while ((sep = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        const name = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (!name || data === undefined) continue;
        const e = { event: name, data: JSON.parse(data) };
        events.push(e);
        onEvent?.(e);
        if (name === 'done') {
          ctl.abort();
          return events;
        }
      }
    }
    return events;
  } catch (err) {
    if (events.at(-1)?.event === 'done') return events;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export async function api(base: string, auth: { authorization: string }, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}
