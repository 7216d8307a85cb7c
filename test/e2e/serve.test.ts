/**
 * `npm run serve` as an operator runs it: a fresh (unmigrated) database schema, local-disk storage, the API
 * and one worker as child processes. Restores a stack over HTTP, then SIGTERM: the API ends its event
 * streams and drains, the worker finishes the job it is running, and the command exits 0.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDb } from '@pssr/db';
import { waitFor } from './support/env.js';
import { startServe, type ServeProcess } from './support/serve.js';
import { api, followEvents } from './support/service.js';
import { makeEmStack, makePatternStack } from './support/stacks.js';

let svc: ServeProcess;

before(async () => {
  svc = await startServe('serve');
});
after(async () => {
  await svc?.close();
});

test('npm run serve: migrates, serves, restores; SIGTERM drains the API and lets the worker finish', async () => {
  const { base, databaseUrl, dir, exited, child } = svc;
  assert.match(svc.output(), /database schema up to date \(\d+ applied/);

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
      child.kill('SIGTERM');
    }
  });
  assert.ok(signalled, 'SIGTERM was sent while the job ran');
  assert.notEqual(events.at(-1)?.event, 'done', 'the draining API ended the event stream');
  const code = await exited;
  assert.equal(code, 0, svc.output());
  const check = createDb(databaseUrl, { poolSize: 1 });
  try {
    const finished = await check.jobs.get(job2.json.id);
    assert.equal(finished?.status, 'succeeded', 'the worker finished its job before exiting');
  } finally {
    await check.close();
  }
});
