/**
 * A waiting job removed from Redis behind the API's back (the admin dashboard's "remove") must not stay
 * `queued` in Postgres forever: the API hears BullMQ's `removed` event and fails the record with
 * REMOVED_FROM_QUEUE; a periodic sweep catches what no listener heard, and drops stale fairness entries.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reconcileQueue } from '../src/reconcile.js';
import { waitFor } from '../../../test/e2e/support/env.js';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { startApi, type TestApi } from './helpers.js';

let api: TestApi;
let auth: { authorization: string; groupId: string };
let stackId: string;

before(async () => {
  api = await startApi('reconcile');
  auth = await api.key('lab-rec');
  const path = join(api.dataDir, 's.tif');
  await makePatternStack(path, 1, 16, 16);
  const res = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': 'image/tiff' }, payload: await readFile(path) });
  assert.equal(res.statusCode, 201, res.body);
  stackId = res.json().id;
});
after(async () => {
  await api?.close();
});

const submit = async () => {
  const res = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth, payload: { type: 'restore', stackId, model: 'em' } });
  assert.equal(res.statusCode, 202, res.body);
  return res.json().id as string;
};

test('a job removed from the queue (as the admin dashboard does) is failed with REMOVED_FROM_QUEUE, not left queued', async () => {
  const id = await submit();
  const bull = await api.app.producer.queues.restore.getJob(id);
  assert.ok(bull, 'the job is in the queue');
  await bull.remove(); // what @bull-board's "remove" calls
  const job = await waitFor(async () => {
    const j = await api.tdb.db.jobs.get(id);
    return j?.status !== 'queued' ? j : undefined;
  }, { timeoutMs: 10_000, what: 'the record to leave queued' });
  assert.equal(job?.status, 'failed');
  assert.equal(job?.errorCode, 'REMOVED_FROM_QUEUE');
  const view = (await api.app.inject({ url: `/v1/jobs/${id}`, headers: auth })).json();
  assert.deepEqual(view.error, { code: 'REMOVED_FROM_QUEUE', message: job?.errorMessage });
  // Its fairness entry is gone after a sweep, so the group's next job is not pushed back by a ghost.
  assert.equal(await api.app.producer.groupWaiting('restore', auth.groupId), 1);
  await reconcileQueue(api.app, 0);
  assert.equal(await api.app.producer.groupWaiting('restore', auth.groupId), 0);
});

test('the sweep fails queued records whose queue entry is gone and leaves the ones still queued', async () => {
  const waiting = await submit();
  // A record whose enqueue never happened (or whose entry went while no API listened).
  const userId = (await api.tdb.db.jobs.get(waiting))!.userId;
  const { job: orphan } = await api.tdb.db.jobs.create({ type: 'restore', groupId: auth.groupId, userId, options: {}, inputStackId: stackId, modelId: null });
  const young = await reconcileQueue(api.app);
  assert.equal(young.failed, 0, 'records younger than the grace period are left alone (they may be enqueued right now)');
  const r = await reconcileQueue(api.app, 0);
  assert.equal(r.failed, 1);
  assert.equal((await api.tdb.db.jobs.get(orphan.id))?.errorCode, 'REMOVED_FROM_QUEUE');
  assert.equal((await api.tdb.db.jobs.get(waiting))?.status, 'queued');
});
