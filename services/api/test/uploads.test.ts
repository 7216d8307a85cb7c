import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { enormousTiffBytes, makePatternStack } from '../../../test/e2e/support/stacks.js';
import { problem, startApi, type TestApi } from './helpers.js';
import { sweepStaleUploads } from '../src/routes/uploads.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function multipartBody(field: string, filename: string, bytes: Buffer, extra: Record<string, string> = {}) {
  const boundary = `----pssr${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(extra)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: image/tiff\r\n\r\n`));
  parts.push(bytes, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

describe('uploads to S3 (s3rver)', () => {
  let api: TestApi;
  let auth: { authorization: string };
  let tiff: Buffer;

  before(async () => {
    api = await startApi('uploads_s3', { s3: true, env: { UPLOAD_MAX_BYTES: String(12 * 2 ** 20), UPLOAD_MAX_FRAME_PIXELS: String(4096 * 4096) } });
    auth = await api.key('lab-up');
    const path = join(api.dataDir, 'pattern.tif');
    await makePatternStack(path, 3, 96, 80);
    tiff = await readFile(path);
  });
  after(async () => {
    await api?.close();
  });

  test('raw image/tiff body: 201 with dims, dtype, sha256; GET metadata; download by redirect and by stream', async () => {
    const res = await api.app.inject({ method: 'POST', url: '/v1/stacks?name=run1.tif', headers: { ...auth, 'content-type': 'image/tiff' }, payload: tiff });
    assert.equal(res.statusCode, 201, res.body);
    const stack = res.json();
    assert.equal(stack.status, 'ready');
    assert.equal(stack.name, 'run1.tif');
    assert.deepEqual([stack.frames, stack.height, stack.width, stack.dtype], [3, 96, 80, 'uint8']);
    assert.equal(stack.sha256, sha(tiff));
    assert.equal(stack.bytes, tiff.length);
    assert.equal(res.headers['location'], `/v1/stacks/${stack.id}`);

    const meta = await api.app.inject({ url: `/v1/stacks/${stack.id}`, headers: auth });
    assert.deepEqual(meta.json(), stack);

    const redirect = await api.app.inject({ url: `/v1/stacks/${stack.id}/data`, headers: auth });
    assert.equal(redirect.statusCode, 302);
    const presigned = await fetch(String(redirect.headers['location']));
    assert.equal(presigned.status, 200);
    assert.equal(sha(Buffer.from(await presigned.arrayBuffer())), stack.sha256);

    const streamed = await api.app.inject({ url: `/v1/stacks/${stack.id}/data?redirect=false`, headers: auth });
    assert.equal(streamed.statusCode, 200);
    assert.equal(streamed.headers['content-type'], 'image/tiff');
    assert.equal(sha(streamed.rawPayload), stack.sha256);

    const ranged = await api.app.inject({ url: `/v1/stacks/${stack.id}/data?redirect=false`, headers: { ...auth, range: 'bytes=0-7' } });
    assert.equal(ranged.statusCode, 206);
    assert.deepEqual(ranged.rawPayload, tiff.subarray(0, 8));
  });

  test('multipart/form-data upload takes the file part (and a name field)', async () => {
    const { payload, contentType } = multipartBody('file', 'C:\\scans\\from-windows.tif', tiff, { name: 'named-by-field.tif' });
    const res = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': contentType }, payload });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().name, 'named-by-field.tif');
    assert.equal(res.json().sha256, sha(tiff));
    const noName = multipartBody('file', 'C:\\scans\\from-windows.tif', tiff);
    const res2 = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': noName.contentType }, payload: noName.payload });
    assert.equal(res2.json().name, 'from-windows.tif');
  });

  test('bad uploads are 4xx problems with the tiff code, and leave nothing behind', async () => {
    const bad = await api.key('lab-bad');
    const cases: [string, Buffer, string, number, RegExp][] = [
      ['not a TIFF', Buffer.from('%PDF-1.7 definitely not a tiff, just some bytes'), 'image/tiff', 415, /^NOT_A_TIFF$/],
      ['truncated', tiff.subarray(0, Math.floor(tiff.length / 2)), 'image/tiff', 400, /^TIFF_(TRUNCATED|CORRUPT)$/],
      ['enormous dims', enormousTiffBytes(), 'image/tiff', 413, /^TIFF_TOO_LARGE$/],
      ['empty', Buffer.alloc(0), 'image/tiff', 400, /^INPUT_EMPTY$/],
      ['wrong content type', tiff, 'text/plain', 415, /^UNSUPPORTED_MEDIA_TYPE$/],
    ];
    for (const [what, payload, type, status, code] of cases) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { authorization: bad.authorization, 'content-type': type }, payload });
      assert.equal(res.statusCode, status, `${what}: ${res.body}`);
      assert.match(problem(res).code, code, what);
    }
    assert.equal((await api.tdb.db.stacks.list(bad.groupId)).items.length, 0, 'no stack recorded for a rejected upload');
    const { createObjectStore } = await import('@pssr/storage');
    const store = createObjectStore({ kind: 's3', ...api.s3!.config });
    try {
      assert.equal(await store.deletePrefix(`stacks/${bad.groupId}/`), 0, 'no object left in storage for a rejected upload');
    } finally {
      store.close();
    }
  });

  test('a body over the limit is 413 (declared length and streamed)', async () => {
    const big = Buffer.alloc(12 * 2 ** 20 + 1);
    tiff.copy(big);
    const res = await api.app.inject({ method: 'POST', url: '/v1/stacks', headers: { ...auth, 'content-type': 'image/tiff' }, payload: big });
    assert.equal(res.statusCode, 413, res.body);
    assert.equal(problem(res).code, 'PAYLOAD_TOO_LARGE');
    const start = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: auth, payload: { name: 'huge.tif', bytes: 13 * 2 ** 20 } });
    assert.equal(start.statusCode, 413);
    assert.equal(problem(start).code, 'PAYLOAD_TOO_LARGE');
  });

  test('presigned multipart upload: parts straight to S3, resume after a lost part, validate on complete', async () => {
    // A stack a little over 10 MiB, so it needs 3 parts of 5 MiB.
    const path = join(api.dataDir, 'large.tif');
    await makePatternStack(path, 11, 1024, 1024);
    const big = await readFile(path);
    const start = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: auth, payload: { name: 'large.tif', bytes: big.length, partSize: 5 * 2 ** 20 } });
    assert.equal(start.statusCode, 201, start.body);
    const upload = start.json();
    assert.equal(upload.parts, 3);
    assert.deepEqual(upload.missing, [1, 2, 3]);
    assert.ok(upload.partUrls.every((p: { proxied: boolean; url: string }) => !p.proxied && p.url.startsWith('http')));
    const partBytes = (n: number) => big.subarray((n - 1) * upload.partSize, Math.min(big.length, n * upload.partSize));
    const put = async (url: string, n: number) => {
      const r = await fetch(url, { method: 'PUT', body: partBytes(n) });
      assert.equal(r.status, 200, await r.text());
    };
    await put(upload.partUrls[0].url, 1);
    await put(upload.partUrls[2].url, 3); // part 2 "lost"

    const early = await api.app.inject({ method: 'POST', url: `/v1/stacks/uploads/${upload.id}/complete`, headers: auth });
    assert.equal(early.statusCode, 409, early.body);
    assert.equal(problem(early).code, 'UPLOAD_PARTS_MISSING');
    assert.deepEqual(early.json().missingParts, [2]);

    const resume = await api.app.inject({ url: `/v1/stacks/uploads/${upload.id}`, headers: auth });
    assert.equal(resume.statusCode, 200);
    assert.deepEqual(resume.json().missing, [2]);
    assert.deepEqual(resume.json().received.map((p: { partNumber: number }) => p.partNumber), [1, 3]);
    await put(resume.json().partUrls[0].url, 2);

    const done = await api.app.inject({ method: 'POST', url: `/v1/stacks/uploads/${upload.id}/complete`, headers: auth });
    assert.equal(done.statusCode, 200, done.body);
    const stack = done.json();
    assert.equal(stack.id, upload.stackId);
    assert.equal(stack.status, 'ready');
    assert.deepEqual([stack.frames, stack.height, stack.width], [11, 1024, 1024]);
    assert.equal(stack.sha256, sha(big));
    const again = await api.app.inject({ method: 'POST', url: `/v1/stacks/uploads/${upload.id}/complete`, headers: auth });
    assert.equal(again.statusCode, 200, 'completing twice answers the stack again');
    assert.equal(again.json().id, stack.id);
  });

  test('a presigned upload of a non-TIFF is rejected on complete and its stack marked failed', async () => {
    const junk = Buffer.alloc(1000, 7);
    const start = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: auth, payload: { name: 'junk.tif', bytes: junk.length } });
    const upload = start.json();
    const r = await fetch(upload.partUrls[0].url, { method: 'PUT', body: junk });
    assert.equal(r.status, 200);
    const done = await api.app.inject({ method: 'POST', url: `/v1/stacks/uploads/${upload.id}/complete`, headers: auth });
    assert.equal(done.statusCode, 415, done.body);
    assert.equal(problem(done).code, 'NOT_A_TIFF');
    const stack = await api.app.inject({ url: `/v1/stacks/${upload.stackId}`, headers: auth });
    assert.equal(stack.json().status, 'failed');
    const data = await api.app.inject({ url: `/v1/stacks/${upload.stackId}/data`, headers: auth });
    assert.equal(data.statusCode, 409);
    assert.equal(problem(data).code, 'STACK_NOT_READY');
  });
});

describe('abandoned uploads', () => {
  let api: TestApi;
  before(async () => {
    api = await startApi('uploads_stale', { s3: true });
  });
  after(async () => {
    await api?.close();
  });

  test('an upload nobody completes is aborted by the sweep and its stack forgotten', async () => {
    const auth = await api.key('lab-slow');
    const start = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: auth, payload: { name: 'never.tif', bytes: 6 * 2 ** 20 } });
    const upload = start.json();
    await fetch(upload.partUrls[0].url, { method: 'PUT', body: Buffer.alloc(5 * 2 ** 20, 1) });
    assert.equal(await sweepStaleUploads(api.app, 60_000), 0, 'a fresh upload is left alone');
    assert.equal(await sweepStaleUploads(api.app, 0), 1);
    assert.equal((await api.app.inject({ url: `/v1/stacks/uploads/${upload.id}`, headers: auth })).statusCode, 404);
    assert.equal((await api.app.inject({ url: `/v1/stacks/${upload.stackId}`, headers: auth })).statusCode, 404);
  });
});

describe('uploads to local disk (no presign: parts through the API)', () => {
  let api: TestApi;
  let auth: { authorization: string };

  before(async () => {
    api = await startApi('uploads_local');
    auth = await api.key('lab-disk');
  });
  after(async () => {
    await api?.close();
  });

  test('proxied parts, resume, complete, then stream the data back', async () => {
    const path = join(api.dataDir, 'disk.tif');
    await makePatternStack(path, 11, 1024, 1024);
    const big = await readFile(path);
    const start = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: auth, payload: { name: 'disk.tif', bytes: big.length, partSize: 5 * 2 ** 20 } });
    assert.equal(start.statusCode, 201, start.body);
    const upload = start.json();
    assert.ok(upload.partUrls.every((p: { proxied: boolean; url: string }) => p.proxied && p.url.startsWith('/v1/stacks/uploads/')));
    const send = async (n: number) => {
      const body = big.subarray((n - 1) * upload.partSize, Math.min(big.length, n * upload.partSize));
      const res = await api.app.inject({ method: 'PUT', url: upload.partUrls[n - 1].url, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: body });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { partNumber: n, size: body.length });
    };
    await send(3);
    await send(1);
    const resume = await api.app.inject({ url: `/v1/stacks/uploads/${upload.id}`, headers: auth });
    assert.deepEqual(resume.json().missing, [2]);
    const wrongSize = await api.app.inject({ method: 'PUT', url: upload.partUrls[1].url, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(10) });
    assert.equal(wrongSize.statusCode, 400);
    await send(2);
    const done = await api.app.inject({ method: 'POST', url: `/v1/stacks/uploads/${upload.id}/complete`, headers: auth });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(done.json().sha256, sha(big));
    const data = await api.app.inject({ url: `/v1/stacks/${upload.stackId}/data`, headers: auth });
    assert.equal(data.statusCode, 200, 'local storage streams (no presigned redirect)');
    assert.equal(sha(data.rawPayload), sha(big));
  });
});
