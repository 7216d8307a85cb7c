import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isPssrError } from '@pssr/core';
import { createDb, hashApiKey, isDbUnavailableError, migrate, type DbWithClient, type GroupRecord, type UserRecord } from '../src/index.js';
import { DATABASE_URL, dropSchema, freshSchemaName, sql } from './helpers.js';

const schema = freshSchemaName('repo');

/** Newest first: (time, id) never increases down the list (rows created in the same millisecond tie-break by id). */
function assertNewestFirst(rows: { id: string; createdAt?: Date; queuedAt?: Date }[]): void {
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    const ta = (a.queuedAt ?? a.createdAt)!.getTime();
    const tb = (b.queuedAt ?? b.createdAt)!.getTime();
    assert.ok(ta > tb || (ta === tb && a.id > b.id), `row ${i} is not older than row ${i - 1}`);
  }
}
let db: DbWithClient;
let labA: GroupRecord;
let labB: GroupRecord;
let ana: UserRecord;
let bo: UserRecord;

before(async () => {
  await migrate(DATABASE_URL, { schema });
  db = createDb(DATABASE_URL, { schema, poolSize: 4 });
  labA = await db.groups.ensure('lab-a');
  labB = await db.groups.ensure('lab-b');
  ana = await db.users.ensure({ groupId: labA.id, name: 'ana' });
  bo = await db.users.ensure({ groupId: labB.id, name: 'bo' });
});
after(async () => {
  await db?.close();
  await dropSchema(schema);
});

describe('groups and users', () => {
  test('ensure is idempotent, also when racing', async () => {
    const many = await Promise.all([1, 2, 3, 4].map(() => db.groups.ensure('lab-race')));
    assert.equal(new Set(many.map((g) => g.id)).size, 1);
    const again = await db.users.ensure({ groupId: labA.id, name: 'ana' });
    assert.equal(again.id, ana.id);
    assert.equal(again.isAdmin, false);
    const promoted = await db.users.ensure({ groupId: labA.id, name: 'ana', isAdmin: true });
    assert.equal(promoted.isAdmin, true);
    await db.users.ensure({ groupId: labA.id, name: 'ana', isAdmin: false });
    assert.equal((await db.groups.get('not-a-uuid')), null);
  });
});

describe('API keys', () => {
  test('issue returns the plaintext once; only its hash is stored; authenticate finds the caller', async () => {
    const issued = await db.apiKeys.issue({ group: 'lab-keys', user: 'root', isAdmin: true });
    assert.match(issued.key, /^pssr_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    const rows = await sql<{ prefix: string; hash: string }>(`SELECT prefix, hash FROM "${schema}"."ApiKey" WHERE id = $1`, [issued.record.id]);
    assert.equal(rows[0]!.prefix, issued.key.slice(0, 13));
    assert.equal(rows[0]!.hash, hashApiKey(issued.key));
    assert.ok(!JSON.stringify(rows).includes(issued.key.slice(14)), 'the secret part is not stored');

    const auth = await db.apiKeys.authenticate(issued.key);
    assert.ok(auth);
    assert.equal(auth.user.name, 'root');
    assert.equal(auth.group.name, 'lab-keys');
    assert.equal(auth.isAdmin, true);
    assert.equal(auth.keyId, issued.record.id);
    const [used] = await db.apiKeys.listForUser(issued.user.id);
    assert.ok(used?.lastUsedAt instanceof Date);
  });

  test('wrong, malformed and revoked keys are refused', async () => {
    const { key, record } = await db.apiKeys.create(ana.id);
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    assert.equal(await db.apiKeys.authenticate(key.slice(0, -1) + last), null, 'same prefix, wrong secret');
    assert.equal(await db.apiKeys.authenticate('pssr_deadbeef_' + 'x'.repeat(43)), null);
    assert.equal(await db.apiKeys.authenticate(''), null);
    assert.equal(await db.apiKeys.authenticate("' OR 1=1 --"), null);
    assert.ok(await db.apiKeys.authenticate(key));
    assert.equal(await db.apiKeys.revoke(record.prefix), true);
    assert.equal(await db.apiKeys.revoke(key), false, 'already revoked');
    assert.equal(await db.apiKeys.authenticate(key), null);

    const other = await db.apiKeys.create(ana.id);
    assert.equal(await db.apiKeys.revoke(other.record.id), true, 'by id');
    assert.equal(await db.apiKeys.authenticate(other.key), null);
    const third = await db.apiKeys.create(ana.id);
    assert.equal(await db.apiKeys.revoke(third.key), true, 'by full key');
    assert.equal(await db.apiKeys.revoke('nonsense'), false);
  });
});

describe('stacks and uploads', () => {
  test('create uploading, mark ready once, scoped reads', async () => {
    const id = randomUUID();
    const s = await db.stacks.create({ id, groupId: labA.id, userId: ana.id, name: 'cells.tif', storageKey: `stacks/${id}.tif` });
    assert.equal(s.id, id);
    assert.equal(s.status, 'uploading');
    assert.equal(s.bytes, null);
    const meta = { frames: 5, height: 64, width: 48, dtype: 'uint16', axis: 'T', pixelSizeX: 0.02, pixelSizeY: 0.02, pixelUnit: 'um', sha256: 'a'.repeat(64), bytes: 2 ** 40 + 3 };
    const ready = await db.stacks.markReady(id, meta);
    assert.equal(ready?.status, 'ready');
    assert.equal(ready?.bytes, 2 ** 40 + 3, 'BIGINT bytes round-trip as a number');
    assert.equal(ready?.frames, 5);
    assert.equal(await db.stacks.markReady(id, meta), null, 'only from uploading');
    assert.equal((await db.stacks.get(id, labA.id))?.id, id);
    assert.equal(await db.stacks.get(id, labB.id), null, "another group's stack looks absent");
    assert.equal(await db.stacks.get('1234'), null);

    const failing = await db.stacks.create({ groupId: labA.id, name: 'bad.tif', storageKey: 'stacks/bad.tif' });
    await db.stacks.markFailed(failing.id);
    assert.equal((await db.stacks.get(failing.id))?.status, 'failed');
  });

  test('list is newest first with a cursor', async () => {
    const g = await db.groups.ensure('lab-list');
    for (let i = 0; i < 5; i++) await db.stacks.create({ groupId: g.id, name: `s${i}`, storageKey: `k${i}` });
    const p1 = await db.stacks.list(g.id, { limit: 2 });
    const p2 = await db.stacks.list(g.id, { limit: 2, cursor: p1.nextCursor });
    const p3 = await db.stacks.list(g.id, { limit: 2, cursor: p2.nextCursor });
    assert.deepEqual([p1.items.length, p2.items.length, p3.items.length], [2, 2, 1]);
    assert.equal(p3.nextCursor, null);
    const seen = [...p1.items, ...p2.items, ...p3.items];
    assert.deepEqual(seen.map((s) => s.name).sort(), ['s0', 's1', 's2', 's3', 's4'], 'every stack once');
    assertNewestFirst(seen);
  });

  test('uploads: scoped get, complete once, stale listing', async () => {
    const s = await db.stacks.create({ groupId: labA.id, name: 'big.tif', storageKey: 'stacks/big.tif' });
    const u = await db.uploads.create({ stackId: s.id, s3UploadId: 'mpu-1', storageKey: s.storageKey, partSize: 8 << 20, parts: 3, bytes: 20 << 20 });
    assert.equal(u.groupId, labA.id);
    assert.equal((await db.uploads.get(u.id, labA.id))?.s3UploadId, 'mpu-1');
    assert.equal(await db.uploads.get(u.id, labB.id), null);
    const stale = await db.uploads.listStale(new Date(Date.now() + 60_000));
    assert.ok(stale.some((x) => x.id === u.id));
    assert.equal(await db.uploads.markCompleted(u.id), true);
    assert.equal(await db.uploads.markCompleted(u.id), false);
    assert.ok(!(await db.uploads.listStale(new Date(Date.now() + 60_000))).some((x) => x.id === u.id));
    await db.stacks.delete(s.id);
    assert.equal(await db.uploads.get(u.id), null);
  });
});

describe('models', () => {
  const card = (name: string, version: string) => ({ name, version, modality: 'em' });

  test('bundled models are public and registered once', async () => {
    const [a, b] = await Promise.all([
      db.models.registerBundled({ name: 'em', version: '1.0.0', sha256: 'c'.repeat(64), card: card('em', '1.0.0') }),
      db.models.registerBundled({ name: 'em', version: '1.0.0', sha256: 'c'.repeat(64), card: card('em', '1.0.0') }),
    ]);
    assert.equal(a.id, b.id);
    assert.equal(a.groupId, null);
    assert.deepEqual(a.card, card('em', '1.0.0'));
    assert.equal((await db.models.resolve('em', labB.id))?.id, a.id);
    assert.equal((await db.models.get(a.id, labB.id))?.id, a.id);
  });

  test("trained versions are private, numbered, and preferred by their group", async () => {
    const pub = await db.models.resolve('em', labA.id);
    assert.ok(pub);
    const v1 = await db.models.registerTrained({ groupId: labA.id, name: 'em', sha256: 'd'.repeat(64), card: card('em', '1'), storageKey: 'models/a/em/1' });
    const v2 = await db.models.registerTrained({ groupId: labA.id, name: 'em', sha256: 'e'.repeat(64), card: card('em', '2'), storageKey: 'models/a/em/2' });
    assert.deepEqual([v1.version, v2.version], ['1', '2']);
    assert.equal((await db.models.resolve('em', labA.id))?.id, v2.id, "the group's latest version");
    assert.equal((await db.models.resolve('em', labA.id, '1'))?.id, v1.id);
    assert.equal((await db.models.resolve('em', labB.id))?.id, pub.id, 'other groups still get the public model');
    assert.equal(await db.models.get(v1.id, labB.id), null, "another group's model looks absent");
    assert.equal(await db.models.resolve('nope', labA.id), null);
    const visibleToB = await db.models.list(labB.id);
    assert.ok(visibleToB.every((m) => m.groupId === null));
    const visibleToA = await db.models.list(labA.id, { name: 'em' });
    assert.deepEqual(visibleToA.map((m) => m.version).slice(0, 2), ['2', '1']);
  });

  test('a trained model is linked to the job that trained it', async () => {
    const { job } = await db.jobs.create({ type: 'train', groupId: labB.id, userId: bo.id });
    const m = await db.models.registerTrained({ groupId: labB.id, name: 'mine', sha256: 'f'.repeat(64), card: card('mine', '1'), storageKey: 'k', jobId: job.id });
    assert.equal((await db.jobs.get(job.id))?.trainedModelId, m.id);
  });

  test("delete removes a group's own version only; the jobs that named it keep their records", async () => {
    const { job: train } = await db.jobs.create({ type: 'train', groupId: labB.id, userId: bo.id });
    await db.jobs.start(train.id, { workerHost: 'h' });
    const m = await db.models.registerTrained({ groupId: labB.id, name: 'doomed', sha256: '1'.repeat(64), card: card('doomed', '1'), storageKey: 'models/b/doomed', jobId: train.id });
    const { job: restore } = await db.jobs.create({ type: 'restore', groupId: labB.id, userId: bo.id, modelId: m.id });
    assert.equal(await db.models.delete(m.id, labA.id), null, "another group cannot delete it");
    assert.equal(await db.models.delete('not-a-uuid', labB.id), null);
    const pub = (await db.models.resolve('em', labB.id))!;
    assert.equal(pub.groupId, null);
    assert.equal(await db.models.delete(pub.id, labB.id), null, 'public models are not deleted');
    assert.ok(await db.models.get(pub.id));

    const removed = await db.models.delete(m.id, labB.id);
    assert.equal(removed?.id, m.id);
    assert.equal(removed?.storageKey, 'models/b/doomed', 'the caller learns where its files are');
    assert.equal(await db.models.get(m.id), null);
    assert.equal(await db.models.resolve('doomed', labB.id), null);
    assert.equal((await db.jobs.get(train.id))?.trainedModelId, null);
    assert.equal((await db.jobs.get(restore.id))?.modelId, null);
    assert.equal(await db.models.delete(m.id, labB.id), null, 'a second delete finds nothing');
    const again = await db.models.registerTrained({ groupId: labB.id, name: 'doomed', sha256: '2'.repeat(64), card: card('doomed', '1'), storageKey: 'k2' });
    assert.equal(again.version, '1', 'the name is free again');
  });
});

describe('jobs', () => {
  test('idempotency key returns the same job on retry, per group', async () => {
    const input = { type: 'restore' as const, groupId: labA.id, userId: ana.id, idempotencyKey: 'req-1', options: { tileSize: 128 } };
    const [a, b] = await Promise.all([db.jobs.create(input), db.jobs.create(input)]);
    assert.equal(a.job.id, b.job.id);
    assert.deepEqual([a.created, b.created].sort(), [false, true]);
    assert.deepEqual(a.job.options, { tileSize: 128 });
    const other = await db.jobs.create({ ...input, groupId: labB.id, userId: bo.id });
    assert.equal(other.created, true, 'keys are per group');
    assert.notEqual(other.job.id, a.job.id);
    const noKey1 = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    const noKey2 = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    assert.notEqual(noKey1.job.id, noKey2.job.id);
  });

  test('queued -> running -> succeeded with progress, metrics and points', async () => {
    const { job } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    assert.equal(job.status, 'queued');
    assert.equal(await db.jobs.progress(job.id, 0.5), false, 'no progress before start');
    const started = await db.jobs.start(job.id, { workerHost: 'gpu-1' });
    assert.equal(started?.status, 'running');
    assert.equal(started?.attempts, 1);
    assert.ok(started?.startedAt instanceof Date);
    assert.ok(Math.abs(started.startedAt.getTime() - Date.now()) < 60_000, 'timestamps are UTC');
    assert.equal(await db.jobs.progress(job.id, 0.25, { tiles: 10 }), true);
    assert.equal(await db.jobs.progress(job.id, 7), true);
    assert.equal((await db.jobs.get(job.id))?.progress, 1, 'clamped');
    await db.jobs.mergeMetrics(job.id, { provider: 'cpu' });
    await db.jobs.addMetricPoints(job.id, [{ step: 2, name: 'loss', value: 0.5 }, { step: 1, name: 'loss', value: 0.9 }, { step: 1, name: 'psnr', value: 20 }]);
    const output = await db.stacks.create({ groupId: labA.id, name: 'out.tif', storageKey: 'results/out.tif' });
    assert.equal(await db.jobs.succeed(job.id, { metrics: { megapixelsPerSecond: 3.5 }, outputStackId: output.id }), true);
    const done = await db.jobs.get(job.id, labA.id);
    assert.equal(done?.status, 'succeeded');
    assert.equal(done?.progress, 1);
    assert.equal(done?.outputStackId, output.id);
    assert.deepEqual(done?.metrics, { tiles: 10, provider: 'cpu', megapixelsPerSecond: 3.5 });
    assert.ok(done?.finishedAt && done.startedAt && done.finishedAt >= done.startedAt);
    assert.deepEqual((await db.jobs.metricPoints(job.id, { name: 'loss' })).map((p) => [p.step, p.value]), [[1, 0.9], [2, 0.5]]);
    assert.equal((await db.jobs.metricPoints(job.id)).length, 3);
    assert.equal(await db.jobs.fail(job.id, { code: 'INTERNAL', message: 'late' }), false, 'final stays final');
    assert.equal(await db.jobs.get(job.id, labB.id), null);
  });

  test('a canceled job cannot be overwritten by a late worker', async () => {
    const { job } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    await db.jobs.start(job.id, { workerHost: 'gpu-1' });
    assert.equal(await db.jobs.cancel(job.id, labB.id), null, 'another group cannot cancel it');
    const c = await db.jobs.cancel(job.id, labA.id);
    assert.equal(c?.changed, true);
    assert.equal(c?.job.status, 'canceled');
    assert.equal(c?.job.cancelRequested, true);
    assert.equal(await db.jobs.isCanceled(job.id), true);
    assert.equal(await db.jobs.progress(job.id, 0.9), false);
    assert.equal(await db.jobs.succeed(job.id), false);
    assert.equal(await db.jobs.fail(job.id, { code: 'INTERNAL', message: 'x' }), false);
    assert.equal(await db.jobs.start(job.id, { workerHost: 'gpu-2' }), null, 'a retry does not resurrect it');
    assert.equal((await db.jobs.get(job.id))?.status, 'canceled');
    assert.equal((await db.jobs.cancel(job.id, labA.id))?.changed, false);
  });

  test('a retried job (worker died) starts again; a failure records the code', async () => {
    const { job } = await db.jobs.create({ type: 'train', groupId: labA.id, userId: ana.id });
    const first = await db.jobs.start(job.id, { workerHost: 'a' });
    const second = await db.jobs.start(job.id, { workerHost: 'b' });
    assert.equal(second?.attempts, 2);
    assert.equal(second?.workerHost, 'b');
    assert.equal(second?.startedAt?.getTime(), first?.startedAt?.getTime(), 'startedAt is the first start');
    assert.equal(await db.jobs.fail(job.id, { code: 'TRAIN_BAD_INPUT', message: 'stack too small', metrics: { steps: 0 } }), true);
    const failed = await db.jobs.get(job.id);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.errorCode, 'TRAIN_BAD_INPUT');
    assert.equal(failed?.errorMessage, 'stack too small');
    assert.equal(await db.jobs.isCanceled(job.id), false);
  });

  const meta = { frames: 2, height: 64, width: 48, dtype: 'uint8', axis: 'T', pixelSizeX: 0.01, pixelSizeY: 0.01, pixelUnit: 'um', sha256: '9'.repeat(64), bytes: 6144 };

  test('succeedWithOutput records the result stack and the success together', async () => {
    const { job } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    const stackId = randomUUID();
    const out = { id: stackId, name: 'out.x4.tif', storageKey: `results/${stackId}.tif`, meta };
    assert.equal(await db.jobs.succeedWithOutput(job.id, { stack: out }), false, 'not before it runs');
    assert.equal(await db.stacks.get(stackId), null);
    await db.jobs.start(job.id, { workerHost: 'h' });
    await db.jobs.progress(job.id, 0.5, { tiles: 4 });
    assert.equal(await db.jobs.succeedWithOutput(job.id, { stack: out, metrics: { megapixelsPerSecond: 2 } }), true);
    const done = (await db.jobs.get(job.id))!;
    assert.equal(done.status, 'succeeded');
    assert.equal(done.progress, 1);
    assert.equal(done.outputStackId, stackId);
    assert.ok(done.finishedAt instanceof Date);
    assert.deepEqual(done.metrics, { tiles: 4, megapixelsPerSecond: 2 });
    const stack = (await db.stacks.get(stackId, labA.id))!;
    assert.equal(stack.status, 'ready');
    assert.equal(stack.userId, ana.id, "the job's user owns the result");
    assert.deepEqual(
      [stack.name, stack.storageKey, stack.frames, stack.height, stack.width, stack.dtype, stack.axis, stack.pixelSizeX, stack.pixelUnit, stack.sha256, stack.bytes],
      ['out.x4.tif', out.storageKey, 2, 64, 48, 'uint8', 'T', 0.01, 'um', meta.sha256, 6144],
    );
    assert.equal(await db.stacks.get(stackId, labB.id), null);
    assert.equal(await db.jobs.succeedWithOutput(job.id, { stack: { ...out, id: randomUUID() } }), false, 'final stays final');
  });

  test('succeedWithOutput on a canceled job writes nothing, also when racing the cancel', async () => {
    const { job } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    await db.jobs.start(job.id, { workerHost: 'h' });
    await db.jobs.cancel(job.id, labA.id);
    const late = randomUUID();
    assert.equal(await db.jobs.succeedWithOutput(job.id, { stack: { id: late, name: 'late.tif', storageKey: 'results/late.tif', meta } }), false);
    assert.equal(await db.stacks.get(late), null, 'no result stack appears');
    const after = (await db.jobs.get(job.id))!;
    assert.equal(after.status, 'canceled');
    assert.equal(after.outputStackId, null);

    // Racing: exactly one of cancel and success wins; the stack exists iff success won.
    for (let i = 0; i < 5; i++) {
      const { job: j } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
      await db.jobs.start(j.id, { workerHost: 'h' });
      const sid = randomUUID();
      const [ok, c] = await Promise.all([
        db.jobs.succeedWithOutput(j.id, { stack: { id: sid, name: 'r.tif', storageKey: `results/${sid}.tif`, meta } }),
        db.jobs.cancel(j.id, labA.id),
      ]);
      assert.notEqual(ok, c?.changed, 'one of them wins');
      const final = (await db.jobs.get(j.id))!;
      assert.equal(final.status, ok ? 'succeeded' : 'canceled');
      assert.equal((await db.stacks.get(sid)) !== null, ok);
      assert.equal(final.outputStackId, ok ? sid : null);
    }
  });

  test('succeedWithOutput with a trust report: map stacks, report row and success in one transaction, group-scoped', async () => {
    const { job } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    await db.jobs.start(job.id, { workerHost: 'h' });
    const [outId, cId, uId] = [randomUUID(), randomUUID(), randomUUID()];
    const lrMeta = { ...meta, height: 16, width: 12, dtype: 'float32', bytes: 1536 };
    const report = {
      consistency: { id: cId, name: 'out.consistency.tif', storageKey: `results/${cId}.tif`, meta: lrMeta },
      uncertainty: { id: uId, name: 'out.uncertainty.tif', storageKey: `results/${uId}.tif`, meta: { ...meta, dtype: 'float32' } },
      reportKey: `reports/${job.id}/report.json`,
      previewKey: `reports/${job.id}/preview.png`,
    };
    assert.equal(await db.jobs.report(job.id), null, 'no report before success');
    assert.equal(await db.jobs.succeedWithOutput(job.id, { stack: { id: outId, name: 'out.tif', storageKey: `results/${outId}.tif`, meta }, report }), true);
    const rec = (await db.jobs.report(job.id, labA.id))!;
    assert.deepEqual([rec.jobId, rec.consistencyStackId, rec.uncertaintyStackId, rec.reportKey, rec.previewKey], [job.id, cId, uId, report.reportKey, report.previewKey]);
    assert.ok(rec.createdAt instanceof Date);
    assert.equal(await db.jobs.report(job.id, labB.id), null, "another group does not see it");
    const maps = [(await db.stacks.get(cId, labA.id))!, (await db.stacks.get(uId, labA.id))!];
    assert.deepEqual(maps.map((m) => [m.status, m.dtype, m.height, m.userId]), [['ready', 'float32', 16, ana.id], ['ready', 'float32', 64, ana.id]]);
    // A map stack can be deleted like any stack; the report stays without it.
    assert.deepEqual((await db.stacks.deleteUnused(cId, labA.id)) as { reportObjects: string[] }, { deleted: maps[0], reportObjects: [] });
    const kept = (await db.jobs.report(job.id, labA.id))!;
    assert.deepEqual([kept.consistencyStackId, kept.uncertaintyStackId, kept.reportKey], [null, uId, report.reportKey]);
    // Deleting the result deletes its report: the caller gets the report's object keys to remove.
    const result = (await db.stacks.deleteUnused(outId, labA.id)) as { reportObjects: string[] };
    assert.deepEqual(result.reportObjects, [report.reportKey, report.previewKey]);
    assert.equal(await db.jobs.report(job.id), null);
    assert.equal((await db.stacks.get(uId, labA.id))?.status, 'ready', 'the uncertainty map stays, a stack of its own');

    // A canceled job records neither the maps nor the report.
    const { job: c } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    await db.jobs.start(c.id, { workerHost: 'h' });
    await db.jobs.cancel(c.id, labA.id);
    const ids = [randomUUID(), randomUUID()];
    const late = { ...report, consistency: { ...report.consistency, id: ids[1]! }, uncertainty: null };
    assert.equal(await db.jobs.succeedWithOutput(c.id, { stack: { id: ids[0]!, name: 'late.tif', storageKey: 'results/late.tif', meta }, report: late }), false);
    assert.equal(await db.jobs.report(c.id), null);
    assert.equal(await db.stacks.get(ids[1]!), null, 'no map stack of a canceled job');
  });

  test('requeue between retries: running -> queued with the last error, then running again; never from a final status', async () => {
    const { job } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    const first = (await db.jobs.start(job.id, { workerHost: 'a' }))!;
    await db.jobs.progress(job.id, 0.4, { tiles: 3 });
    assert.equal(await db.jobs.requeue(job.id, { attempt: 1, code: 'INTERNAL', message: 'storage unreachable' }), true);
    const waiting = (await db.jobs.get(job.id))!;
    assert.equal(waiting.status, 'queued');
    assert.equal(waiting.attempts, 1, 'attempts stay visible');
    assert.equal(waiting.progress, 0, 'the retry starts over');
    assert.equal(waiting.errorCode, null, 'errorCode is for final failures');
    const lastError = waiting.metrics['lastError'] as Record<string, unknown>;
    assert.deepEqual({ ...lastError, at: undefined }, { attempt: 1, code: 'INTERNAL', message: 'storage unreachable', at: undefined });
    assert.ok(!Number.isNaN(Date.parse(String(lastError['at']))));
    assert.equal(waiting.metrics['tiles'], 3, 'other metrics are kept');
    assert.equal(await db.jobs.progress(job.id, 0.5), false, 'no progress while queued');

    const second = (await db.jobs.start(job.id, { workerHost: 'b' }))!;
    assert.equal(second.status, 'running');
    assert.equal(second.attempts, 2);
    assert.equal(second.startedAt?.getTime(), first.startedAt?.getTime(), 'startedAt is the first start');
    assert.equal((second.metrics['lastError'] as { attempt: number }).attempt, 1, 'the last error stays visible');
    assert.equal(await db.jobs.succeed(job.id), true);
    assert.equal(await db.jobs.requeue(job.id, { attempt: 2, code: 'INTERNAL', message: 'late' }), false);
    assert.equal((await db.jobs.get(job.id))?.status, 'succeeded');

    const { job: failed } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    await db.jobs.fail(failed.id, { code: 'TIFF_CORRUPT', message: 'bad' });
    assert.equal(await db.jobs.requeue(failed.id, { attempt: 1, code: 'INTERNAL', message: 'x' }), false);
    assert.equal((await db.jobs.get(failed.id))?.status, 'failed');

    const { job: canceled } = await db.jobs.create({ type: 'restore', groupId: labA.id, userId: ana.id });
    await db.jobs.start(canceled.id, { workerHost: 'a' });
    await db.jobs.cancel(canceled.id, labA.id);
    assert.equal(await db.jobs.requeue(canceled.id, { attempt: 1, code: 'INTERNAL', message: 'x' }), false);
    const c = (await db.jobs.get(canceled.id))!;
    assert.equal(c.status, 'canceled');
    assert.equal(c.metrics['lastError'], undefined);
    assert.equal(await db.jobs.requeue('not-a-uuid', { attempt: 1, code: 'INTERNAL', message: 'x' }), false);
  });

  test('list filters by status and type, newest first, cursor pages', async () => {
    const g = await db.groups.ensure('lab-jobs');
    const u = await db.users.ensure({ groupId: g.id, name: 'u' });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const { job } = await db.jobs.create({ type: i % 2 === 0 ? 'restore' : 'train', groupId: g.id, userId: u.id });
      ids.push(job.id);
    }
    await db.jobs.start(ids[0]!, { workerHost: 'h' });
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await db.jobs.list(g.id, { limit: 3, cursor });
      all.push(...page.items.map((j) => j.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual([...all].sort(), [...ids].sort(), 'every job exactly once across pages');
    assertNewestFirst(await Promise.all(all.map(async (id) => (await db.jobs.get(id))!)));
    const restores = await db.jobs.list(g.id, { type: 'restore', status: 'queued' });
    assert.deepEqual(restores.items.map((j) => j.id).sort(), [ids[6], ids[4], ids[2]].sort());
    assertNewestFirst(restores.items);
    const running = await db.jobs.list(g.id, { status: ['running', 'failed'] });
    assert.deepEqual(running.items.map((j) => j.id), [ids[0]]);
    assert.equal((await db.jobs.list(labB.id, { limit: 200 })).items.some((j) => ids.includes(j.id)), false);
    await assert.rejects(db.jobs.list(g.id, { cursor: 'garbage' }), (e: unknown) => isPssrError(e) && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(db.jobs.list(g.id, { limit: 0 }), (e: unknown) => isPssrError(e) && e.code === 'INVALID_ARGUMENT');
    const counts = await db.jobs.countByStatus();
    assert.ok(counts.queued >= 6 && counts.running >= 1);
  });
});

test('statistics: counts, failures by code and histograms over all jobs', async () => {
  // Its own schema: the figures are exact only when no other test's jobs are counted.
  const statsSchema = freshSchemaName('stats');
  await migrate(DATABASE_URL, { schema: statsSchema });
  const sdb = createDb(DATABASE_URL, { schema: statsSchema, poolSize: 2 });
  try {
    const g = await sdb.groups.ensure('lab');
    const u = await sdb.users.ensure({ groupId: g.id, name: 'u' });
    const job = async (type: 'restore' | 'train') => (await sdb.jobs.create({ type, groupId: g.id, userId: u.id })).job.id;
    const setTimes = (id: string, seconds: number) =>
      sql(`UPDATE "${statsSchema}"."Job" SET "startedAt" = '2026-01-01T00:00:00Z', "finishedAt" = '2026-01-01T00:00:00Z'::timestamp + make_interval(secs => $2) WHERE id = $1`, [id, seconds]);

    const r1 = await job('restore');
    await sdb.jobs.start(r1, { workerHost: 'h' });
    await sdb.jobs.succeed(r1, { metrics: { megapixelsPerSecond: 3, provider: 'cpu' } });
    await setTimes(r1, 4);
    const r2 = await job('restore');
    await sdb.jobs.start(r2, { workerHost: 'h' });
    await sdb.jobs.succeed(r2, { metrics: { megapixelsPerSecond: 40, provider: 'cuda' } });
    await setTimes(r2, 20);
    const r3 = await job('restore');
    await sdb.jobs.start(r3, { workerHost: 'h' });
    await sdb.jobs.succeed(r3, { metrics: { megapixelsPerSecond: 0.2 } });
    await setTimes(r3, 2);
    const r4 = await job('restore');
    await sdb.jobs.start(r4, { workerHost: 'h' });
    await sdb.jobs.fail(r4, { code: 'TIFF_CORRUPT', message: 'bad' });
    await setTimes(r4, 1);
    const t1 = await job('train');
    await sdb.jobs.fail(t1, { code: 'QUEUE_UNAVAILABLE', message: 'never started' });
    await sdb.jobs.cancel(await job('train'), g.id);
    await job('restore'); // queued
    const running = await job('train');
    await sdb.jobs.start(running, { workerHost: 'h' });

    const s = await sdb.jobs.statistics({ durationBounds: [1, 5, 10], throughputBounds: [1, 10] });
    assert.deepEqual(s.byStatus, { queued: 1, running: 1, succeeded: 3, failed: 2, canceled: 1 });
    assert.deepEqual(s.finished, [
      { type: 'restore', status: 'failed', count: 1 },
      { type: 'restore', status: 'succeeded', count: 3 },
      { type: 'train', status: 'canceled', count: 1 },
      { type: 'train', status: 'failed', count: 1 },
    ]);
    assert.deepEqual(s.failures, [
      { type: 'restore', code: 'TIFF_CORRUPT', count: 1 },
      { type: 'train', code: 'QUEUE_UNAVAILABLE', count: 1 },
    ]);
    // Only jobs that started and finished have a duration (the never-started train jobs do not).
    assert.deepEqual(s.durations, [
      { labels: { type: 'restore', status: 'failed' }, buckets: [1, 1, 1], sum: 1, count: 1 },
      { labels: { type: 'restore', status: 'succeeded' }, buckets: [0, 2, 2], sum: 26, count: 3 },
    ]);
    assert.deepEqual(s.trust, [], 'no job has a trust report yet');
    assert.deepEqual(s.restoreThroughput, [
      { labels: { provider: 'cpu' }, buckets: [0, 1], sum: 3, count: 1 },
      { labels: { provider: 'cuda' }, buckets: [0, 0], sum: 40, count: 1 },
      { labels: { provider: 'unknown' }, buckets: [1, 1], sum: 0.2, count: 1 },
    ]);
    const defaults = await sdb.jobs.statistics();
    assert.equal(defaults.durations[0]?.buckets.length, 12);
    assert.equal(defaults.restoreThroughput[0]?.buckets.length, 11);
    for (const bad of [[], [5, 1], [1, Number.NaN]]) {
      await assert.rejects(sdb.jobs.statistics({ durationBounds: bad }), (e: unknown) => isPssrError(e) && e.code === 'INVALID_ARGUMENT');
    }

    // Trust reports (metrics.trust, as the worker writes it): two em jobs, one with 2 of 3 frames flagged, one
    // whose report was unavailable; a failed job's metrics do not count.
    const trust = (frames: number, flaggedFrames: number[], status = 'ok') => ({ status, tta: false, flagged: flaggedFrames.length > 0, frames, flaggedFrames, verdict: 'v', warnings: [], rse: null, rsp: null, uncertainty: null, reason: null });
    for (const [metrics, ok] of [
      [{ model: { name: 'em' }, trust: trust(3, [0, 2]) }, true],
      [{ model: { name: 'em' }, trust: trust(0, [], 'unavailable') }, true],
      [{ model: { name: 'fluo' }, trust: trust(5, []) }, true],
      [{ model: { name: 'em' }, trust: trust(4, [1]) }, false],
    ] as const) {
      const id = await job('restore');
      await sdb.jobs.start(id, { workerHost: 'h' });
      if (ok) await sdb.jobs.succeed(id, { metrics });
      else await sdb.jobs.fail(id, { code: 'INTERNAL', message: 'x', metrics });
    }

    const t = await sdb.jobs.statistics();
    assert.deepEqual(t.trust, [
      { model: 'em', reports: 1, unavailable: 1, frames: 3, flaggedFrames: 2 },
      { model: 'fluo', reports: 1, unavailable: 0, frames: 5, flaggedFrames: 0 },
    ]);
  } finally {
    await sdb.close();
    await dropSchema(statsSchema);
  }
});

test('an unreachable database is reported as unavailable, not as a bug', async () => {
  const down = createDb('postgresql://postgres@127.0.0.1:1/test', { connectTimeoutMs: 1000 });
  try {
    let caught: unknown;
    await down.ping().catch((e: unknown) => { caught = e; });
    assert.ok(caught, 'ping rejects');
    assert.equal(isDbUnavailableError(caught), true, String(caught));
    await down.jobs.get(randomUUID()).catch((e: unknown) => { caught = e; });
    assert.equal(isDbUnavailableError(caught), true, String(caught));
  } finally {
    await down.close();
  }
  assert.equal(isDbUnavailableError(new Error('syntax error at or near')), false);
});
