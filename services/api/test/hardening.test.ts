/**
 * Regression tests of issue 9's API defects and limits: every refusal is a 4xx problem+json with a stable
 * code and leaves nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { problem, startApi, type TestApi } from './helpers.js';

async function tiffBytes(api: TestApi, name: string, frames = 1, h = 16, w = 16): Promise<Buffer> {
  const path = join(api.dataDir, name);
  await makePatternStack(path, frames, h, w);
  return readFile(path);
}

async function upload(api: TestApi, auth: { authorization: string }, name: string): Promise<string> {
  const res = await api.app.inject({ method: 'POST', url: `/v1/stacks?name=${name}`, headers: { ...auth, 'content-type': 'image/tiff' }, payload: await tiffBytes(api, name) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id as string;
}

/** Sends raw bytes to a listening app and returns what it answered (until it closes the socket). */
function rawRequest(port: number, chunks: string[], gapMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.on('connect', () => {
      void (async () => {
        for (const c of chunks) {
          if (socket.destroyed) return;
          socket.write(c);
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
      })();
    });
  });
}

function problemOfRaw(answer: string): { status: number; code: string; type: string } {
  const [head, body] = answer.split('\r\n\r\n');
  assert.match(head ?? '', /content-type: application\/problem\+json/i, answer);
  const p = JSON.parse(body ?? '') as { status: number; code: string; type: string };
  assert.equal(Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1]), p.status);
  return p;
}

describe('request hygiene', () => {
  let api: TestApi;
  let auth: { authorization: string; groupId: string };
  let stackId: string;

  before(async () => {
    api = await startApi('hard_req', { env: { RATE_LIMIT_MAX: '1000' } });
    auth = await api.key('lab-h');
    stackId = await upload(api, auth, 'h.tif');
  });
  after(async () => {
    await api?.close();
  });

  test('U+0000 in any string bound for Postgres is 400 VALIDATION_FAILED naming the field (defect 3)', async () => {
    const cases: { method: 'POST' | 'GET'; url: string; payload?: Record<string, unknown>; where: string }[] = [
      { method: 'POST', url: '/v1/jobs', payload: { type: 'restore', stackId, name: 'a\u0000b' }, where: 'body.name' },
      { method: 'POST', url: '/v1/jobs', payload: { type: 'restore', stackId, model: 'em\u0000' }, where: 'body.model' },
      { method: 'POST', url: '/v1/jobs', payload: { type: 'train', stackIds: [stackId], name: 'ok', modality: 'em', init: 'e\u0000m' }, where: 'body.init' },
      { method: 'GET', url: '/v1/models/a%00b', where: 'path.name' },
      { method: 'GET', url: `/v1/jobs/${stackId}/points?name=lo%00ss`, where: 'query.name' },
    ];
    for (const c of cases) {
      const res = await api.app.inject({ method: c.method, url: c.url, headers: auth, ...(c.payload ? { payload: c.payload } : {}) });
      assert.equal(res.statusCode, 400, `${c.url}: ${res.body}`);
      const p = problem(res);
      assert.equal(p.code, 'VALIDATION_FAILED');
      assert.ok(p.detail.includes(c.where) && p.detail.includes('U+0000'), p.detail);
    }
  });

  test('multipart/form-data without a usable boundary is 400 BAD_MULTIPART (defect 4)', async () => {
    const tiff = await tiffBytes(api, 'mp.tif');
    const body = Buffer.concat([Buffer.from('--real\r\nContent-Disposition: form-data; name="file"; filename="a.tif"\r\n\r\n'), tiff, Buffer.from('\r\n--real--\r\n')]);
    for (const contentType of ['multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=other', `multipart/form-data; boundary=${'x'.repeat(71)}`]) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': contentType }, payload: body });
      assert.equal(res.statusCode, 400, `${contentType}: ${res.body}`);
      assert.equal(problem(res).code, 'BAD_MULTIPART');
    }
    const cut = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=real' }, payload: body.subarray(0, 200) });
    assert.equal(cut.statusCode, 400, cut.body);
    assert.equal(problem(cut).code, 'BAD_MULTIPART');
  });

  test('?status=failed,succeeded is a list, like repeating status= (defect 7)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth, payload: { type: 'restore', stackId } })).json().id);
    await api.tdb.db.jobs.fail(ids[0]!, { code: 'X', message: 'x' });
    await api.tdb.db.jobs.cancel(ids[1]!, auth.groupId);
    const comma = await api.app.inject({ url: '/v1/jobs?status=failed,canceled', headers: auth });
    assert.equal(comma.statusCode, 200, comma.body);
    assert.deepEqual(comma.json().items.map((j: { id: string }) => j.id).sort(), [ids[0], ids[1]].sort());
    const repeated = await api.app.inject({ url: '/v1/jobs?status=failed&status=canceled', headers: auth });
    assert.deepEqual(repeated.json().items.map((j: { id: string }) => j.id).sort(), [ids[0], ids[1]].sort());
    const bad = await api.app.inject({ url: '/v1/jobs?status=failed,nope', headers: auth });
    assert.equal(bad.statusCode, 400);
    assert.equal(problem(bad).code, 'VALIDATION_FAILED');
  });

  test('416 is RANGE_NOT_SATISFIABLE titled as such; PATCH on a known path is 405 with Allow (defect 13)', async () => {
    const range = await api.app.inject({ url: `/v1/stacks/${stackId}/data`, headers: { ...auth, range: 'bytes=999999-' } });
    assert.equal(range.statusCode, 416);
    const p = JSON.parse(range.body) as { title: string; code: string };
    assert.equal(p.code, 'RANGE_NOT_SATISFIABLE');
    assert.equal(p.title, 'Range Not Satisfiable');
    const patch = await api.app.inject({ method: 'PATCH', url: `/v1/jobs/${stackId}`, headers: auth, payload: {} });
    assert.equal(patch.statusCode, 405, patch.body);
    assert.equal(problem(patch).code, 'METHOD_NOT_ALLOWED');
    assert.match(String(patch.headers['allow']), /DELETE/);
    assert.match(String(patch.headers['allow']), /GET/);
    const unknown = await api.app.inject({ method: 'PATCH', url: '/v1/nothing-here', headers: auth });
    assert.equal(unknown.statusCode, 404);
  });

  test('a "__proto__" key is refused as a property that is not allowed, not as invalid JSON (defect 13)', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: `{"type":"restore","stackId":"${stackId}","__proto__":{"admin":true}}`,
    });
    assert.equal(res.statusCode, 400);
    const p = problem(res);
    assert.equal(p.code, 'VALIDATION_FAILED');
    assert.match(p.detail, /__proto__/);
    assert.doesNotMatch(p.detail, /not valid JSON/);
  });

  test('a resumable upload refuses parts that do not add up to its declared size (defect 11)', async () => {
    const tiff = await tiffBytes(api, 'r.tif', 2, 64, 64);
    const start = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: auth, payload: { name: 'r.tif', bytes: 1000 } });
    assert.equal(start.statusCode, 201, start.body);
    const up = start.json() as { id: string; stackId: string };
    const over = await api.app.inject({ method: 'PUT', url: `/v1/stacks/uploads/${up.id}/parts/1`, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: tiff });
    assert.equal(over.statusCode, 413, over.body);
    assert.equal(problem(over).code, 'PAYLOAD_TOO_LARGE');
    const under = await api.app.inject({ method: 'PUT', url: `/v1/stacks/uploads/${up.id}/parts/1`, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: tiff.subarray(0, 999) });
    assert.equal(under.statusCode, 400, under.body);
    assert.equal(problem(under).code, 'UPLOAD_SIZE_MISMATCH');
    const state = await api.app.inject({ url: `/v1/stacks/uploads/${up.id}`, headers: auth });
    assert.deepEqual(state.json().received, [], 'no part was stored');
  });
});

describe('limits of the HTTP server', () => {
  let api: TestApi;
  let port: number;
  let auth: { authorization: string; groupId: string; key: string };

  before(async () => {
    api = await startApi('hard_http', {
      env: { HEADERS_TIMEOUT_MS: '600', REQUEST_TIMEOUT_MS: '1500', RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '60000', AUTH_FAILURE_MAX: '3', EVENTS_MAX_STREAMS_PER_KEY: '2' },
    });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const address = api.app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
    auth = await api.key('lab-limits');
  });
  after(async () => {
    await api?.close();
  });

  test("Node's own answers (malformed request, oversized headers) are problem+json (defect 13)", async () => {
    const malformed = problemOfRaw(await rawRequest(port, ['GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n']));
    assert.deepEqual([malformed.status, malformed.code], [400, 'BAD_REQUEST']);
    const big = problemOfRaw(await rawRequest(port, [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]));
    assert.deepEqual([big.status, big.code], [431, 'HEADERS_TOO_LARGE']);
  });

  test('a client that sends its headers too slowly gets 408 REQUEST_TIMEOUT and the socket is closed (defect 5)', async () => {
    const slow = Array.from({ length: 40 }, (_, i) => (i === 0 ? 'GET /health HTTP/1.1\r\nHost: x\r\n' : `X-${i}: y\r\n`));
    const p = problemOfRaw(await rawRequest(port, slow, 100));
    assert.deepEqual([p.status, p.code], [408, 'REQUEST_TIMEOUT']);
  });

  test('the rate-limit message states the configured window, and the budget lives in Redis (defect 13)', async () => {
    const other = await api.key('lab-budget');
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) last = await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: other.authorization } });
    assert.equal(last?.status, 429);
    const p = (await last!.json()) as { code: string; detail: string };
    assert.equal(p.code, 'RATE_LIMITED');
    assert.match(p.detail, /4 requests per 60 s/);
    // A second replica (another app on the same Redis) sees the same spent budget.
    const replica = await (await import('../src/index.js')).buildApp(api.config, { logger: false, authCacheMs: 0 });
    try {
      const res = await replica.inject({ url: '/v1/models', headers: { authorization: other.authorization } });
      assert.equal(res.statusCode, 429, 'the budget is shared through Redis');
    } finally {
      await replica.close();
    }
  });
  test('failed authentications are limited per address: past the limit 429 without a key lookup (defect 5)', async () => {
    const good = await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: auth.authorization } });
    assert.equal(good.status, 200);
    const bad = { authorization: `Bearer pssr_00000000_${'A'.repeat(43)}` };
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: bad })).status);
    assert.deepEqual(codes, [401, 401, 401, 429, 429]);
    const blocked = await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: bad });
    assert.equal(((await blocked.json()) as { code: string }).code, 'AUTH_RATE_LIMITED');
  });

});

describe('event streams', () => {
  let api: TestApi;
  let port: number;
  let auth: { authorization: string; groupId: string };
  let stackId: string;

  before(async () => {
    api = await startApi('hard_sse', { env: { EVENTS_MAX_STREAMS_PER_KEY: '2', RATE_LIMIT_MAX: '1000' } });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const address = api.app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
    auth = await api.key('lab-sse');
    stackId = await upload(api, auth, 's.tif');
  });
  after(async () => {
    await api?.close();
  });

  test('changes written by another process are pushed; a third stream of one key is 429 TOO_MANY_STREAMS (defect 5)', async () => {
    const job = (await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth, payload: { type: 'restore', stackId } })).json() as { id: string };
    const controllers = [new AbortController(), new AbortController()];
    const streams = await Promise.all(controllers.map((c) => fetch(`http://127.0.0.1:${port}/v1/jobs/${job.id}/events`, { headers: auth, signal: c.signal })));
    assert.deepEqual(streams.map((s) => s.status), [200, 200]);
    const third = await fetch(`http://127.0.0.1:${port}/v1/jobs/${job.id}/events`, { headers: auth });
    assert.equal(third.status, 429);
    assert.equal(((await third.json()) as { code: string }).code, 'TOO_MANY_STREAMS');

    // The "worker" is this test's own database client (another connection): start, progress, succeed.
    const db = api.tdb.db;
    const reader = streams[0]!.body!.getReader();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      return pattern.test(text);
    };
    assert.ok(await readUntil(/event: status\ndata: .*"status":"queued"/));
    await db.jobs.start(job.id, { workerHost: 'test' });
    assert.ok(await readUntil(/event: status\ndata: .*"status":"running"/));
    await db.jobs.progress(job.id, 0.5);
    assert.ok(await readUntil(/event: progress\ndata: .*"progress":0.5/));
    await db.jobs.succeed(job.id);
    assert.ok(await readUntil(/event: done\ndata: .*"status":"succeeded"/));
    controllers[1]!.abort();
    // Both streams ended (the job finished), so the key may open new ones.
    await new Promise((r) => setTimeout(r, 100));
    const again = await fetch(`http://127.0.0.1:${port}/v1/jobs/${job.id}/events`, { headers: auth });
    assert.equal(again.status, 200);
    assert.match(await again.text(), /event: done/);
  });
});
