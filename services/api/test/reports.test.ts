/**
 * GET /v1/jobs/:id/report and /preview.png when there is no report to give (issue 8): each case answers 404
 * with a code that says why, another group's job is 404 like any job, and the job view shows the trust
 * summary the worker recorded. The routes returning real reports are tested end to end in
 * test/e2e/trust.test.ts (API + worker + the em model).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RestoreTrust } from '@pssr/queue';
import { problem, startApi, type TestApi } from './helpers.js';

let api: TestApi;
let a: { authorization: string; groupId: string };
let b: { authorization: string; groupId: string };
let userA: string;

before(async () => {
  api = await startApi('reports');
  a = await api.key('lab-a');
  b = await api.key('lab-b');
  userA = (await api.tdb.db.users.getByName(a.groupId, 'ana'))!.id;
});
after(async () => {
  await api?.close();
});

/** A job record in the given state, as the worker would leave it (real Postgres, no worker). */
async function job(type: 'restore' | 'train', state: 'queued' | 'running' | 'succeeded' | 'failed', metrics: Record<string, unknown> = {}): Promise<string> {
  const db = api.tdb.db;
  const { job } = await db.jobs.create({ type, groupId: a.groupId, userId: userA });
  if (state === 'queued') return job.id;
  await db.jobs.start(job.id, { workerHost: 'test' });
  if (state === 'succeeded') await db.jobs.succeed(job.id, { metrics });
  if (state === 'failed') await db.jobs.fail(job.id, { code: 'TIFF_CORRUPT', message: 'bad' });
  return job.id;
}

const get = (auth: { authorization: string }, url: string) => api.app.inject({ url, headers: auth });

async function expect404(id: string, code: string, detail: RegExp): Promise<void> {
  for (const path of ['report', 'preview.png']) {
    const res = await get(a, `/v1/jobs/${id}/${path}`);
    assert.equal(res.statusCode, 404, `${path}: ${res.body}`);
    const p = problem(res);
    assert.equal(p.code, code, `${path}: ${p.detail}`);
    assert.match(p.detail, detail);
  }
}

test('no report yet, not a restore, failed, or from before reports: 404 with a code that says which', async () => {
  await expect404(await job('restore', 'queued'), 'REPORT_NOT_READY', /is queued; its trust report appears when it succeeds/);
  await expect404(await job('restore', 'running'), 'REPORT_NOT_READY', /is running/);
  await expect404(await job('train', 'succeeded'), 'REPORT_NOT_FOUND', /is a train job; only restore jobs have a trust report/);
  await expect404(await job('restore', 'failed'), 'REPORT_NOT_FOUND', /failed; only a succeeded restore/);
  const older = await job('restore', 'succeeded', { tiles: 4 });
  await expect404(older, 'REPORT_NOT_FOUND', /finished before this service computed trust reports/);
  assert.equal((await get(a, `/v1/jobs/${older}`)).json().trust, null, 'an older job has no trust summary');
});

test('a report that could not be computed: 404 REPORT_UNAVAILABLE with the reason; the job view says so', async () => {
  const reason = 'the trust report failed while assessing frame 1 (INTERNAL: boom); the restoration itself is complete';
  const trust: RestoreTrust = { status: 'unavailable', tta: false, flagged: null, frames: 0, flaggedFrames: [], verdict: null, warnings: [], rse: null, rsp: null, uncertainty: null, reason };
  const id = await job('restore', 'succeeded', { trust, model: { name: 'em' } });
  await expect404(id, 'REPORT_UNAVAILABLE', /failed while assessing frame 1/);
  const view = (await get(a, `/v1/jobs/${id}`)).json();
  assert.equal(view.status, 'succeeded');
  assert.deepEqual(view.trust, { ...trust, report: null, preview: null });
  const metrics = await api.app.inject({ url: '/metrics' });
  assert.match(metrics.body, /pssr_restore_reports_unavailable_total\{model="em"\} 1/);
});

test("another group's job is 404 JOB_NOT_FOUND on both routes; a malformed id is 400", async () => {
  const id = await job('restore', 'succeeded');
  for (const path of ['report', 'preview.png']) {
    const res = await get(b, `/v1/jobs/${id}/${path}`);
    assert.equal(res.statusCode, 404);
    assert.equal(problem(res).code, 'JOB_NOT_FOUND');
    const bad = await get(a, `/v1/jobs/not-a-uuid/${path}`);
    assert.equal(bad.statusCode, 400);
    assert.equal(problem(bad).code, 'VALIDATION_FAILED');
    const anonymous = await api.app.inject({ url: `/v1/jobs/${id}/${path}` });
    assert.equal(anonymous.statusCode, 401);
  }
});
