/**
 * `npm run serve` supervises its two children: a worker that dies is started again (with backoff) while the
 * API keeps serving, and the restarted worker runs jobs; if the API dies, the command drains the worker and
 * exits non-zero, so whatever runs it notices and restarts it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDb } from '@pssr/db';
import { waitFor } from './support/env.js';
import { startServe, type ServeProcess } from './support/serve.js';
import { api, followEvents } from './support/service.js';
import { makePatternStack } from './support/stacks.js';

let svc: ServeProcess;

/** Pids of each `[serve] NAME started (pid N)` line so far. */
function pids(name: 'api' | 'worker'): number[] {
  return [...svc.output().matchAll(new RegExp(`\\[serve\\] ${name} started \\(pid (\\d+)\\)`, 'g'))].map((m) => Number(m[1]));
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
  svc = await startServe('superv');
});
after(async () => {
  if (svc) for (const pid of [...pids('api'), ...pids('worker')]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await svc?.close();
});

test('serve restarts a dead worker while the API keeps serving; a dead API makes it exit non-zero', async () => {
  const { base, databaseUrl, dir, exited } = svc;
  const [firstWorker] = pids('worker');
  assert.ok(firstWorker && alive(firstWorker), svc.output());

  process.kill(firstWorker, 'SIGKILL');
  await waitFor(() => /worker exited \(SIGKILL\)/.test(svc.output()), { timeoutMs: 10_000, what: `serve to see the worker die\n${svc.output()}` });
  assert.match(svc.output(), /restarting the worker in 1 s; the API keeps serving/);
  assert.equal((await fetch(`${base}/health`)).status, 200, 'the API serves while the worker is down');
  const secondWorker = await waitFor(() => pids('worker')[1], { timeoutMs: 15_000, what: `a new worker\n${svc.output()}` });
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
  assert.notEqual(code, 0, `serve exits non-zero when the API dies\n${svc.output()}`);
  assert.match(svc.output(), /api exited \(SIGKILL\)/);
  await waitFor(() => !alive(secondWorker), { timeoutMs: 10_000, what: 'the worker to stop with serve' });
});
