/**
 * Stored data has a lifecycle: listing, deletion (refused while a job reads the stack), a per-group quota,
 * the retention sweep; and a stack becomes ready only when every frame decodes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTiffStackWriter } from '@pssr/tiff';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { sweepExpiredStacks } from '../src/lifecycle.js';
import { problem, startApi, type TestApi } from './helpers.js';

async function patternBytes(api: TestApi, name: string, frames = 1, h = 16, w = 16): Promise<Buffer> {
  const path = join(api.dataDir, name);
  await makePatternStack(path, frames, h, w);
  return readFile(path);
}

const post = (api: TestApi, auth: { authorization: string }, name: string, payload: Buffer) =>
  api.app.inject({ method: 'POST', url: `/v1/stacks?name=${name}`, headers: { ...auth, 'content-type': 'image/tiff' }, payload });

describe('stack listing, deletion and retention', () => {
  let api: TestApi;
  let a: { authorization: string; groupId: string };
  let b: { authorization: string; groupId: string };

  before(async () => {
    api = await startApi('life', { env: { RATE_LIMIT_MAX: '10000', GROUP_STORAGE_QUOTA: '0' } });
    a = await api.key('lab-life-a');
    b = await api.key('lab-life-b');
  });
  after(async () => {
    await api?.close();
  });

  test('GET /v1/stacks pages newest first, filters by name and status, and shows only the group\'s stacks', async () => {
    const ids: string[] = [];
    for (const name of ['run-1.tif', 'run-2.tif', 'other.tif']) ids.push((await post(api, a, name, await patternBytes(api, name))).json().id);
    await post(api, b, 'run-b.tif', await patternBytes(api, 'run-b.tif'));
    const first = await api.app.inject({ url: '/v1/stacks?limit=2', headers: a });
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(first.json().items.map((s: { id: string }) => s.id), [ids[2], ids[1]]);
    const second = await api.app.inject({ url: `/v1/stacks?limit=2&cursor=${first.json().nextCursor}`, headers: a });
    assert.deepEqual(second.json().items.map((s: { id: string }) => s.id), [ids[0]]);
    assert.equal(second.json().nextCursor, null);
    const named = await api.app.inject({ url: '/v1/stacks?name=RUN', headers: a });
    assert.deepEqual(named.json().items.map((s: { name: string }) => s.name), ['run-2.tif', 'run-1.tif']);
    const failed = await api.app.inject({ url: '/v1/stacks?status=failed', headers: a });
    assert.deepEqual(failed.json().items, []);
    const bad = await api.app.inject({ url: '/v1/stacks?cursor=nope', headers: a });
    assert.equal(bad.statusCode, 400);
  });

  test('DELETE /v1/stacks/:id is 409 STACK_IN_USE while a job reads it, then deletes record and object', async () => {
    const stack = (await post(api, a, 'del.tif', await patternBytes(api, 'del.tif'))).json() as { id: string };
    const job = (await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: a, payload: { type: 'restore', stackId: stack.id } })).json() as { id: string };
    const inUse = await api.app.inject({ method: 'DELETE', url: `/v1/stacks/${stack.id}`, headers: a });
    assert.equal(inUse.statusCode, 409, inUse.body);
    assert.equal(problem(inUse).code, 'STACK_IN_USE');
    assert.deepEqual(inUse.json().jobs, [job.id]);
    const otherGroup = await api.app.inject({ method: 'DELETE', url: `/v1/stacks/${stack.id}`, headers: b });
    assert.equal(otherGroup.statusCode, 404);

    await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${job.id}`, headers: a });
    const record = await api.tdb.db.stacks.get(stack.id);
    const deleted = await api.app.inject({ method: 'DELETE', url: `/v1/stacks/${stack.id}`, headers: a });
    assert.equal(deleted.statusCode, 204, deleted.body);
    assert.equal((await api.app.inject({ url: `/v1/stacks/${stack.id}`, headers: a })).statusCode, 404);
    assert.equal(await api.app.store.head(record!.storageKey), null, 'the object is gone');
    const jobAfter = await api.app.inject({ url: `/v1/jobs/${job.id}`, headers: a });
    assert.equal(jobAfter.json().inputStackId, null, 'the job keeps its record');
  });

  test('a train job holds every one of its stacks', async () => {
    const s1 = (await post(api, a, 't1.tif', await patternBytes(api, 't1.tif'))).json().id as string;
    const s2 = (await post(api, a, 't2.tif', await patternBytes(api, 't2.tif'))).json().id as string;
    const job = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: a, payload: { type: 'train', stackIds: [s1, s2], name: 'held', modality: 'em' } });
    assert.equal(job.statusCode, 202, job.body);
    const res = await api.app.inject({ method: 'DELETE', url: `/v1/stacks/${s2}`, headers: a });
    assert.equal(res.statusCode, 409);
  });

  test('the retention sweep deletes old stacks no queued or running job reads', async () => {
    const old = (await post(api, a, 'old.tif', await patternBytes(api, 'old.tif'))).json().id as string;
    const held = (await post(api, a, 'old-held.tif', await patternBytes(api, 'old-held.tif'))).json().id as string;
    const fresh = (await post(api, a, 'fresh.tif', await patternBytes(api, 'fresh.tif'))).json().id as string;
    await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: a, payload: { type: 'restore', stackId: held } });
    await api.tdb.db.prisma.$executeRaw`UPDATE "Stack" SET "createdAt" = now() - interval '40 days' WHERE id IN (${old}::uuid, ${held}::uuid)`;
    const oldKey = (await api.tdb.db.stacks.get(old))!.storageKey;
    await sweepExpiredStacks(api.app, 30);
    assert.equal(await api.tdb.db.stacks.get(old), null);
    assert.equal(await api.app.store.head(oldKey), null);
    assert.ok(await api.tdb.db.stacks.get(held), 'a stack a queued job reads is kept');
    assert.ok(await api.tdb.db.stacks.get(fresh));
  });
});

describe('storage quota and frame verification', () => {
  let api: TestApi;
  let a: { authorization: string; groupId: string };

  before(async () => {
    // A 3x64x64 uint8 stack is a little over 12 KB: two fit in the quota, a third does not.
    api = await startApi('life_quota', { env: { RATE_LIMIT_MAX: '10000', GROUP_STORAGE_QUOTA: '26000' } });
    a = await api.key('lab-quota');
  });
  after(async () => {
    await api?.close();
  });

  test('uploads past the group quota are 413 STORAGE_QUOTA_EXCEEDED and store nothing; a full group cannot submit (409)', async () => {
    const bytes = await patternBytes(api, 'q.tif', 3, 64, 64);
    assert.equal((await post(api, a, 'q1.tif', bytes)).statusCode, 201);
    assert.equal((await post(api, a, 'q2.tif', bytes)).statusCode, 201);
    const over = await post(api, a, 'q3.tif', bytes);
    assert.equal(over.statusCode, 413, over.body);
    assert.equal(problem(over).code, 'STORAGE_QUOTA_EXCEEDED');
    assert.equal((await api.app.inject({ url: '/v1/stacks', headers: a })).json().items.length, 2);
    const resumable = await api.app.inject({ method: 'POST', url: '/v1/stacks/uploads', headers: a, payload: { name: 'big.tif', bytes: 10 * 2 ** 20 } });
    assert.equal(resumable.statusCode, 413);
    assert.equal(problem(resumable).code, 'STORAGE_QUOTA_EXCEEDED');

    const stacks = (await api.app.inject({ url: '/v1/stacks', headers: a })).json().items as { id: string }[];
    await api.tdb.db.prisma.$executeRaw`UPDATE "Stack" SET bytes = 30000 WHERE id = ${stacks[0]!.id}::uuid`;
    const full = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: a, payload: { type: 'restore', stackId: stacks[1]!.id } });
    assert.equal(full.statusCode, 409, full.body);
    assert.equal(problem(full).code, 'STORAGE_QUOTA_EXCEEDED');
    const freed = await api.app.inject({ method: 'DELETE', url: `/v1/stacks/${stacks[0]!.id}`, headers: a });
    assert.equal(freed.statusCode, 204);
    const ok = await api.app.inject({ method: 'POST', url: '/v1/jobs', headers: a, payload: { type: 'restore', stackId: stacks[1]!.id } });
    assert.equal(ok.statusCode, 202, ok.body);
  });

  test('a stack whose headers parse but whose pixel data is corrupt is refused at upload, with a clean message (defects 13, 6)', async () => {
    const path = join(api.dataDir, 'corrupt.tif');
    const sink = await createTiffStackWriter(path, { frames: 2, height: 32, width: 32, dtype: 'uint16', axis: 'T' }, { compression: 'deflate' });
    for (let f = 0; f < 2; f++) await sink.writeFrame(Uint16Array.from({ length: 32 * 32 }, (_, i) => (i * 31 + f) % 4096));
    await sink.commit();
    const bytes = await readFile(path);
    // The first page's deflate data follows the 8-byte header: break its zlib stream, keep every IFD intact.
    bytes.fill(0xff, 8 + 2, 8 + 40);
    const listed = async () => (await api.app.inject({ url: '/v1/stacks', headers: a })).json().items.map((s: { id: string }) => s.id) as string[];
    const before = await listed();
    const res = await post(api, a, 'corrupt.tif', bytes);
    assert.equal(res.statusCode, 400, res.body);
    const p = problem(res);
    assert.equal(p.code, 'TIFF_CORRUPT');
    assert.match(p.detail, /"corrupt\.tif"/, 'names the stack');
    assert.ok(!p.detail.includes(api.config.uploads.tmpDir), `no spool path: ${p.detail}`);
    assert.doesNotMatch(p.detail, /DataView|undefined|incorrect header check|invalid (distance|code)/);
    assert.deepEqual(await listed(), before, 'nothing recorded');
  });
});
