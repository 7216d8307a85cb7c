/**
 * `npm run serve` supervises its two children: a worker that dies is started again (with backoff) while the
 * API keeps serving, and the restarted worker runs jobs; if the API dies, the command drains the worker and
 * exits non-zero, so whatever runs it notices and restarts it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDb } from '@pssr/db';
import { DATABASE_URL, REDIS_URL, dropRedisPrefix, tempDir, uniqueName, waitFor, withSchema } from './support/env.js';
import { api, followEvents } from './support/service.js';
import { makePatternStack } from './support/stacks.js';

const SERVE = fileURLToPath(new URL('../../services/api/src/serve.ts', import.meta.url));
let child: ChildProcess | null = null;
let output = '';
let schema: string;
let prefix: string;
let dir: { path: string; remove(): Promise<void> };

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Pids of each `[serve] NAME started (pid N)` line so far. */
function pids(name: 'api' | 'worker'): number[] {
  return [...output.matchAll(new RegExp(`\\[serve\\] ${name} started \\(pid (\\d+)\\)`, 'g'))].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  schema = uniqueName('superv');
  prefix = uniqueName('superv');
  dir = await tempDir('superv');
});
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of [...pids('api'), ...pids('worker')]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
  await dropRedisPrefix(prefix);
  await dir.remove();
});

test('serve restarts a dead worker while the API keeps serving; a dead API makes it exit non-zero', async () => {
  const port = await freePort();
  const databaseUrl = withSchema(DATABASE_URL, schema);
  child = spawn(process.execPath, ['--import', 'tsx', SERVE], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      PSSR_DATA_DIR: join(dir.path, 'data'),
      UPLOAD_TMP_DIR: join(dir.path, 'spool'),
      WORKER_TMP_DIR: join(dir.path, 'worker'),
      WORKER_DEVICE: 'cpu',
      WORKER_THREADS: '1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, { timeoutMs: 90_000, intervalMs: 300, what: `serve to be ready\n${output}` });
  const [firstWorker] = pids('worker');
  assert.ok(firstWorker && alive(firstWorker), output);

  process.kill(firstWorker, 'SIGKILL');
  await waitFor(() => /worker exited \(SIGKILL\)/.test(output), { timeoutMs: 10_000, what: `serve to see the worker die\n${output}` });
  assert.match(output, /restarting the worker in 1 s; the API keeps serving/);
  assert.equal((await fetch(`${base}/health`)).status, 200, 'the API serves while the worker is down');
  const secondWorker = await waitFor(() => pids('worker')[1], { timeoutMs: 15_000, what: `a new worker\n${output}` });
  assert.notEqual(secondWorker, firstWorker);

  // The restarted worker runs jobs.
  const db = createDb(databaseUrl, { poolSize: 1 });
  let auth: { authorization: string };
  try {
    const { key } = await db.apiKeys.issue({ group: 'superv-lab', user: 'op' });
    auth = { authorization: `Bearer ${key}` };
  } finally {
    await db.close();
  }
  const path = join(dir.path, 'tiny.tif');
  await makePatternStack(path, 1, 16, 16);
  const up = await fetch(`${base}/v1/stacks`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: await readFile(path) });
  assert.equal(up.status, 201);
  const job = await api(base, auth, 'POST', '/v1/jobs', { type: 'restore', stackId: ((await up.json()) as { id: string }).id, model: 'em' });
  assert.equal(job.status, 202, JSON.stringify(job.json));
  const done = (await followEvents(base, auth, job.json.id)).at(-1)!.data;
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));

  const [apiPid] = pids('api');
  process.kill(apiPid!, 'SIGKILL');
  const code = await exited;
  assert.notEqual(code, 0, `serve exits non-zero when the API dies\n${output}`);
  assert.match(output, /api exited \(SIGKILL\)/);
  await waitFor(() => !alive(secondWorker), { timeoutMs: 10_000, what: 'the worker to stop with serve' });
});
