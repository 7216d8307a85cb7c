/**
 * The dashboard's server side on real Postgres and Redis: session cookie sign-in, CSRF, server-side sign-out,
 * the group change stream, the facility view's fair-share order and worker heartbeats, and the static page.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startHeartbeat } from '@pssr/queue';
import { problem, startApi, type TestApi } from './helpers.js';

let t: TestApi;
before(async () => {
  t = await startApi('dashboard');
});
after(async () => {
  await t.close();
});

async function signIn(key: string, headers: Record<string, string> = {}) {
  const res = await t.app.inject({ method: 'POST', url: '/v1/session', payload: { key }, headers });
  const setCookie = String(res.headers['set-cookie'] ?? '');
  const token = /pssr_session=([^;]+)/.exec(setCookie)?.[1] ?? '';
  return { res, setCookie, cookie: `pssr_session=${token}`, body: res.json() as { csrfToken: string; user: { name: string }; group: { name: string }; isAdmin: boolean; members: { name: string }[] } };
}

test('a key signs in to an HttpOnly SameSite=Strict session cookie; Secure behind https', async () => {
  const wrong = await t.app.inject({ method: 'POST', url: '/v1/session', payload: { key: 'pssr_deadbeef_nope' } });
  assert.equal(wrong.statusCode, 401);
  assert.equal(problem(wrong).code, 'UNAUTHORIZED');

  const a = await t.key('sess-lab', 'ana');
  await t.key('sess-lab', 'bob');
  const s = await signIn(a.key);
  assert.equal(s.res.statusCode, 201);
  assert.match(s.setCookie, /HttpOnly/);
  assert.match(s.setCookie, /SameSite=Strict/);
  assert.match(s.setCookie, /Path=\//);
  assert.doesNotMatch(s.setCookie, /Secure/);
  assert.equal(s.body.user.name, 'ana');
  assert.deepEqual(s.body.members.map((m) => m.name), ['ana', 'bob']);

  const proxied = await signIn(a.key, { 'x-forwarded-proto': 'https' });
  assert.match(proxied.setCookie, /Secure/);

  const me = await t.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: s.cookie } });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().csrfToken, s.body.csrfToken);
  const list = await t.app.inject({ method: 'GET', url: '/v1/jobs', headers: { cookie: s.cookie } });
  assert.equal(list.statusCode, 200);
});

test('state-changing requests with a session need its CSRF token; sign-out revokes the session server-side', async () => {
  const a = await t.key('csrf-lab', 'ana');
  const s = await signIn(a.key);
  const body = { type: 'restore', stackId: randomUUID() };
  for (const headers of [{ cookie: s.cookie }, { cookie: s.cookie, 'x-csrf-token': 'forged' }]) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers });
    assert.equal(res.statusCode, 403);
    assert.equal(problem(res).code, 'CSRF_FAILED');
  }
  const ok = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: body, headers: { cookie: s.cookie, 'x-csrf-token': s.body.csrfToken } });
  assert.equal(problem(ok).code, 'STACK_NOT_FOUND', 'past authentication and CSRF, the request itself is judged');

  const out = await t.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie: s.cookie, 'x-csrf-token': s.body.csrfToken } });
  assert.equal(out.statusCode, 204);
  assert.match(String(out.headers['set-cookie']), /pssr_session=;/);
  const after = await t.app.inject({ method: 'GET', url: '/v1/jobs', headers: { cookie: s.cookie } });
  assert.equal(after.statusCode, 401);

  // Revoking the API key ends its sessions too.
  const s2 = await signIn(a.key);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/jobs', headers: { cookie: s2.cookie } })).statusCode, 200);
  await t.tdb.db.apiKeys.revoke(a.key);
  assert.equal((await t.app.inject({ method: 'GET', url: '/v1/jobs', headers: { cookie: s2.cookie } })).statusCode, 401);
});

test('an admin session opens the BullMQ board; a member session does not', async () => {
  const admin = await signIn((await t.key('ops', 'root', true)).key);
  const member = await signIn((await t.key('board-lab', 'ana')).key);
  assert.equal((await t.app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: admin.cookie } })).statusCode, 200);
  assert.equal((await t.app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: member.cookie } })).statusCode, 403);
});

test('the change stream carries every change of the group\'s jobs and nothing of other groups', async () => {
  const a = await t.key('feed-a', 'ana');
  const b = await t.key('feed-b', 'ben');
  const userA = (await t.tdb.db.users.getByName(a.groupId, 'ana'))!;
  const userB = (await t.tdb.db.users.getByName(b.groupId, 'ben'))!;
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const ctl = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/v1/jobs/events`, { headers: { authorization: a.authorization }, signal: ctl.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);

  const seen: { id: string; status: string; metrics: Record<string, unknown> }[] = [];
  const reading = (async () => {
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (const m of buffer.matchAll(/event: job\ndata: (.+)\n\n/g)) seen.push(JSON.parse(m[1]!));
      buffer = buffer.slice(buffer.lastIndexOf('\n\n') + 2);
      if (seen.some((j) => j.metrics['note'] === 'second')) return;
    }
  })();
  await new Promise((r) => setTimeout(r, 400)); // the stream is subscribed
  const other = await t.tdb.db.jobs.create({ type: 'restore', groupId: b.groupId, userId: userB.id });
  const { job } = await t.tdb.db.jobs.create({ type: 'restore', groupId: a.groupId, userId: userA.id });
  await new Promise((r) => setTimeout(r, 800));
  await t.tdb.db.jobs.mergeMetrics(job.id, { note: 'second' });
  await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`stream saw ${JSON.stringify(seen)}`)), 15_000))]);
  ctl.abort();
  assert.ok(seen.some((j) => j.id === job.id && j.status === 'queued'), 'the new job arrived');
  assert.ok(seen.some((j) => j.id === job.id && j.metrics['note'] === 'second'), 'its change arrived');
  assert.ok(!seen.some((j) => j.id === other.job.id), 'another group\'s job never appears');
});

test('the facility view lists waiting jobs in fair-share start order and the workers\' heartbeats (admins only)', async () => {
  const admin = await t.key('facility-ops', 'root', true);
  const a = await t.key('fair-a', 'ana');
  const b = await t.key('fair-b', 'ben');
  const ua = (await t.tdb.db.users.getByName(a.groupId, 'ana'))!;
  const ub = (await t.tdb.db.users.getByName(b.groupId, 'ben'))!;
  const submit = async (groupId: string, userId: string, model: string) => {
    const { job } = await t.tdb.db.jobs.create({ type: 'restore', groupId, userId, options: { model } });
    await t.app.producer.enqueue('restore', job.id, groupId);
    return job.id;
  };
  const a1 = await submit(a.groupId, ua.id, 'em');
  const a2 = await submit(a.groupId, ua.id, 'em');
  const a3 = await submit(a.groupId, ua.id, 'fluo');
  const b1 = await submit(b.groupId, ub.id, 'fluo');

  const beat = startHeartbeat({
    redisUrl: t.config.redisUrl,
    prefix: t.config.queuePrefix,
    intervalMs: 1000,
    state: () => ({ id: 'gpu-node-1:42', host: 'gpu-node-1', pid: 42, device: 'cuda', provider: 'cuda', queues: ['restore'], concurrency: 1, running: [], succeeded: 7, failed: 1, lastMegapixelsPerSecond: 812.5, startedAt: new Date(0).toISOString() }),
  });
  await beat.beat();
  try {
    const member = await t.app.inject({ method: 'GET', url: '/v1/admin/facility', headers: { authorization: a.authorization } });
    assert.equal(member.statusCode, 403);
    const res = await t.app.inject({ method: 'GET', url: '/v1/admin/facility', headers: { authorization: admin.authorization } });
    assert.equal(res.statusCode, 200);
    const f = res.json();
    const restore = f.queues.find((q: { queue: string }) => q.queue === 'restore');
    assert.deepEqual(restore.jobs.map((j: { jobId: string }) => j.jobId), [a1, b1, a2, a3], 'A1, B1, A2, A3: the newcomer runs second');
    assert.deepEqual(restore.jobs.map((j: { group: string; user: string; model: string }) => `${j.group}/${j.user}/${j.model}`), ['fair-a/ana/em', 'fair-b/ben/fluo', 'fair-a/ana/em', 'fair-a/ana/fluo']);
    const worker = f.workers.find((w: { id: string }) => w.id === 'gpu-node-1:42');
    assert.equal(worker.device, 'cuda');
    assert.equal(worker.lastMegapixelsPerSecond, 812.5);
    assert.equal(f.board, '/admin/queues');
  } finally {
    await beat.stop();
  }
  const gone = (await t.app.inject({ method: 'GET', url: '/v1/admin/facility', headers: { authorization: admin.authorization } })).json();
  assert.equal(gone.workers.length, 0, 'a stopped worker disappears');
});

test('the page is served with a strict CSP that allows exactly its import map; / leads to it', async () => {
  const root = await t.app.inject({ method: 'GET', url: '/' });
  assert.equal(root.statusCode, 302);
  assert.equal(root.headers.location, '/dashboard/');
  const page = await t.app.inject({ method: 'GET', url: '/dashboard/' });
  assert.equal(page.statusCode, 200);
  const csp = String(page.headers['content-security-policy']);
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page.body)![1]!;
  const { createHash } = await import('node:crypto');
  assert.ok(csp.includes(`'sha256-${createHash('sha256').update(map).digest('base64')}'`));
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  for (const path of Object.values(JSON.parse(map).imports as Record<string, string>)) {
    const res = await t.app.inject({ method: 'GET', url: path });
    assert.equal(res.statusCode, 200, path);
    assert.match(String(res.headers['content-type']), /javascript/, path);
  }
});
