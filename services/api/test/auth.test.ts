import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { problem, startApi, type TestApi } from './helpers.js';

let api: TestApi;
let lab: { authorization: string; key: string; groupId: string };
let other: { authorization: string; key: string; groupId: string };

before(async () => {
  api = await startApi('auth', { env: { RATE_LIMIT_MAX: '40', RATE_LIMIT_WINDOW_MS: '60000' } });
  lab = await api.key('lab-a', 'ana');
  other = await api.key('lab-b', 'bo');
});
after(async () => {
  await api?.close();
});

test('health, readiness, metrics and docs need no key; /v1 needs one', async () => {
  const health = await api.app.inject({ url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { status: 'ok' });
  const ready = await api.app.inject({ url: '/ready' });
  assert.equal(ready.statusCode, 200, ready.body);
  assert.deepEqual(ready.json().checks, { database: 'ok', redis: 'ok' });
  const metrics = await api.app.inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /pssr_http_request_duration_seconds_bucket/);
  assert.match(metrics.body, /pssr_queue_jobs\{queue="restore",state="waiting"\} 0/);
  assert.match(metrics.body, /pssr_jobs\{status="queued"\} 0/);
  const doc = await api.app.inject({ url: '/openapi.json' });
  assert.equal(doc.statusCode, 200);
  assert.equal(doc.json().openapi, '3.1.0');
  const ui = await api.app.inject({ url: '/docs/' });
  assert.equal(ui.statusCode, 200);

  const none = await api.app.inject({ url: '/v1/jobs' });
  assert.equal(none.statusCode, 401);
  assert.equal(problem(none).code, 'UNAUTHORIZED');
  assert.match(String(none.headers['www-authenticate']), /Bearer/);
  const wrong = await api.app.inject({ url: '/v1/jobs', headers: { authorization: 'Bearer pssr_nothere_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' } });
  assert.equal(wrong.statusCode, 401);
  assert.equal(problem(wrong).code, 'UNAUTHORIZED');
  const basic = await api.app.inject({ url: '/v1/jobs', headers: { authorization: `Basic ${Buffer.from(`x:${lab.key}`).toString('base64')}` } });
  assert.equal(basic.statusCode, 401, 'Basic is only for the admin dashboard');
  const ok = await api.app.inject({ url: '/v1/jobs', headers: { authorization: lab.authorization } });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.deepEqual(ok.json(), { items: [], nextCursor: null });
});

test('a revoked key is refused', async () => {
  const k = await api.key('lab-a', 'temp');
  assert.equal((await api.app.inject({ url: '/v1/models', headers: { authorization: k.authorization } })).statusCode, 200);
  assert.equal(await api.tdb.db.apiKeys.revoke(k.key), true);
  const res = await api.app.inject({ url: '/v1/models', headers: { authorization: k.authorization } });
  assert.equal(res.statusCode, 401);
  assert.equal(problem(res).code, 'UNAUTHORIZED');
});

test('groups are isolated: another group\'s stack, job and upload answer 404 as if absent', async () => {
  const path = join(api.dataDir, 'iso.tif');
  await makePatternStack(path, 2, 32, 48);
  const up = await api.app.inject({
    method: 'POST',
    url: '/v1/stacks?name=iso.tif',
    headers: { authorization: lab.authorization, 'content-type': 'image/tiff' },
    payload: await readFile(path),
  });
  assert.equal(up.statusCode, 201, up.body);
  const stackId = up.json().id as string;
  const job = await api.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { authorization: lab.authorization },
    payload: { type: 'train', stackIds: [stackId], name: 'iso-model', modality: 'em', steps: 1 },
  });
  assert.equal(job.statusCode, 202, job.body);
  const jobId = job.json().id as string;
  const upload = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: { authorization: lab.authorization }, payload: { name: 'big.tif', bytes: 10 * 2 ** 20 } });
  assert.equal(upload.statusCode, 201, upload.body);
  const uploadId = upload.json().id as string;

  for (const url of [`/v1/stacks/${stackId}`, `/v1/stacks/${stackId}/data`, `/v1/jobs/${jobId}`, `/v1/jobs/${jobId}/events`, `/v1/jobs/${jobId}/points`, `/v1/stacks/uploads/${uploadId}`]) {
    const res = await api.app.inject({ url, headers: { authorization: other.authorization } });
    assert.equal(res.statusCode, 404, `${url}: ${res.body}`);
    assert.match(problem(res).code, /_NOT_FOUND$/);
    if (url.endsWith('/events')) continue; // the owner's stream stays open while the job is queued
    const mine = await api.app.inject({ url, headers: { authorization: lab.authorization } });
    assert.notEqual(mine.statusCode, 404, url);
  }
  const cancel = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${jobId}`, headers: { authorization: other.authorization } });
  assert.equal(cancel.statusCode, 404);
  const complete = await api.app.inject({ method: 'POST', url: `/v1/stacks/uploads/${uploadId}/complete`, headers: { authorization: other.authorization } });
  assert.equal(complete.statusCode, 404);
  // Using another group's stack in a job is the same as naming an absent one.
  const steal = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: other.authorization }, payload: { type: 'restore', stackId } });
  assert.equal(steal.statusCode, 404);
  assert.equal(problem(steal).code, 'STACK_NOT_FOUND');
  const list = await api.app.inject({ url: '/v1/jobs', headers: { authorization: other.authorization } });
  assert.deepEqual(list.json().items, []);
  // Still canceled by its owner, which leaves the queue clean for the other tests.
  assert.equal((await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${jobId}`, headers: { authorization: lab.authorization } })).statusCode, 200);
});

test('ids are validated: a malformed id is 400, not a database error', async () => {
  for (const url of ['/v1/stacks/not-a-uuid', '/v1/jobs/123', "/v1/jobs/'%20OR%201=1--", '/v1/stacks/uploads/xyz']) {
    const res = await api.app.inject({ url, headers: { authorization: lab.authorization } });
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    assert.equal(problem(res).code, 'VALIDATION_FAILED');
  }
});

test('the admin dashboard needs an admin key (Bearer or Basic)', async () => {
  const anon = await api.app.inject({ url: '/admin/queues' });
  assert.equal(anon.statusCode, 401);
  assert.match(String(anon.headers['www-authenticate']), /Basic/);
  assert.equal(problem(anon).code, 'UNAUTHORIZED');
  const user = await api.app.inject({ url: '/admin/queues', headers: { authorization: lab.authorization } });
  assert.equal(user.statusCode, 403);
  assert.equal(problem(user).code, 'FORBIDDEN');
  const admin = await api.key('facility', 'root', true);
  const page = await api.app.inject({ url: '/admin/queues', headers: { authorization: admin.authorization } });
  assert.equal(page.statusCode, 200, page.body.slice(0, 300));
  assert.match(String(page.headers['content-type']), /text\/html/);
  const queues = await api.app.inject({ url: '/admin/queues/api/queues', headers: { authorization: `Basic ${Buffer.from(`root:${admin.key}`).toString('base64')}` } });
  assert.equal(queues.statusCode, 200, queues.body.slice(0, 300));
  const names = (queues.json().queues as { name: string }[]).map((q) => q.name).sort();
  assert.deepEqual(names, ['restore', 'train']);
});

test('requests are rate limited per key with a problem document', async () => {
  const k = await api.key('lab-c', 'busy');
  let limited: { statusCode: number; headers: Record<string, unknown>; body: string } | null = null;
  for (let i = 0; i < 60 && !limited; i++) {
    const res = await api.app.inject({ url: '/v1/models', headers: { authorization: k.authorization } });
    if (res.statusCode === 429) limited = res;
    else assert.equal(res.statusCode, 200);
  }
  assert.ok(limited, 'no 429 within 60 requests at a limit of 40');
  assert.equal(problem(limited).code, 'RATE_LIMITED');
  // Another key still has its own budget.
  const fresh = await api.key('lab-c', 'calm');
  assert.equal((await api.app.inject({ url: '/v1/models', headers: { authorization: fresh.authorization } })).statusCode, 200);
});
