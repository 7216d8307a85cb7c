/**
 * `npm run serve` as an operator runs it: a fresh (unmigrated) database schema, local-disk storage, the API
 * and one worker as child processes. Restores a stack over HTTP, then SIGTERM: the API ends its event
 * streams and drains, the worker finishes the job it is running, and the command exits 0.
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
import { makeEmStack, makePatternStack } from './support/stacks.js';

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

before(async () => {
  schema = uniqueName('serve');
  prefix = uniqueName('serve');
  dir = await tempDir('serve');
});
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
  await dropRedisPrefix(prefix);
  await dir.remove();
});

test('npm run serve: migrates, serves, restores; SIGTERM drains the API and lets the worker finish', async () => {
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
  assert.match(output, /database schema up to date \(\d+ applied/);

  const db = createDb(databaseUrl, { poolSize: 1 });
  let auth: { authorization: string };
  try {
    const { key } = await db.apiKeys.issue({ group: 'serve-lab', user: 'op' });
    auth = { authorization: `Bearer ${key}` };
  } finally {
    await db.close();
  }
  const em = await makeEmStack(dir.path, { frames: 1, lrSize: 32 });
  const up = await fetch(`${base}/v1/stacks`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: await readFile(em.path) });
  assert.equal(up.status, 201);
  const job = await api(base, auth, 'POST', '/v1/jobs', { type: 'restore', stackId: ((await up.json()) as { id: string }).id, model: 'em' });
  assert.equal(job.status, 202, JSON.stringify(job.json));
  const done = (await followEvents(base, auth, job.json.id)).at(-1)!.data;
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const data = await fetch(`${base}/v1/stacks/${done.outputStackId}/data`, { headers: auth });
  assert.equal(data.status, 200, 'local-disk storage streams the result');
  assert.equal((await data.arrayBuffer()).byteLength, (await api(base, auth, 'GET', `/v1/stacks/${done.outputStackId}`)).json.bytes);

  // A longer restore, followed over SSE, when SIGTERM arrives.
  const long = join(dir.path, 'long.tif');
  await makePatternStack(long, 4, 96, 96);
  const up2 = await fetch(`${base}/v1/stacks`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: await readFile(long) });
  const job2 = await api(base, auth, 'POST', '/v1/jobs', { type: 'restore', stackId: ((await up2.json()) as { id: string }).id, model: 'em', options: { tileSize: 80, batchSize: 1 } });
  let signalled = false;
  const events = await followEvents(base, auth, job2.json.id, (e) => {
    if (!signalled && e.event === 'progress' && e.data.progress > 0.03) {
      signalled = true;
      child!.kill('SIGTERM');
    }
  });
  assert.ok(signalled, 'SIGTERM was sent while the job ran');
  assert.notEqual(events.at(-1)?.event, 'done', 'the draining API ended the event stream');
  const code = await exited;
  assert.equal(code, 0, output);
  const check = createDb(databaseUrl, { poolSize: 1 });
  try {
    const finished = await check.jobs.get(job2.json.id);
    assert.equal(finished?.status, 'succeeded', 'the worker finished its job before exiting');
  } finally {
    await check.close();
  }
});
