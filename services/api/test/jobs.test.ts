import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveModel } from '@pssr/models';
import { createConsumer, createProducer } from '@pssr/queue';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import { problem, startApi, type TestApi } from './helpers.js';

let api: TestApi;
let a: { authorization: string; groupId: string };
let b: { authorization: string; groupId: string };
let stackA: string;
let stackB: string;

async function upload(auth: { authorization: string }, name: string): Promise<string> {
  const path = join(api.dataDir, name);
  await makePatternStack(path, 1, 16, 16);
  const res = await api.app.inject({ method: 'POST', url: `/v1/stacks?name=${name}`, headers: { ...auth, 'content-type': 'image/tiff' }, payload: await readFile(path) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id as string;
}

const submit = (auth: { authorization: string }, payload: unknown, headers: Record<string, string> = {}) =>
  api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth, ...headers }, payload: payload as Record<string, unknown> });

before(async () => {
  api = await startApi('jobs');
  a = await api.key('lab-a');
  b = await api.key('lab-b');
  stackA = await upload(a, 'a.tif');
  stackB = await upload(b, 'b.tif');
  // A model version of lab-a (the record only: these tests run no worker).
  await api.tdb.db.models.registerTrained({
    groupId: a.groupId,
    name: 'lab-em',
    sha256: 'a'.repeat(64),
    card: { ...(await resolveModel('em')).card, name: 'lab-em', version: '1' } as unknown as Record<string, unknown>,
    storageKey: 'models/none',
  });
});
after(async () => {
  await api?.close();
});

test('POST /v1/jobs restore -> 202 queued job; GET it; model resolved by name for the group only', async () => {
  const res = await submit(a, { type: 'restore', stackId: stackA, model: 'lab-em', options: { batchSize: 4 } });
  assert.equal(res.statusCode, 202, res.body);
  const job = res.json();
  assert.equal(job.type, 'restore');
  assert.equal(job.status, 'queued');
  assert.equal(job.progress, 0);
  assert.equal(job.inputStackId, stackA);
  assert.ok(job.modelId);
  assert.equal(job.options.batchSize, 4);
  assert.equal(res.headers['location'], `/v1/jobs/${job.id}`);
  const got = await api.app.inject({ url: `/v1/jobs/${job.id}`, headers: a });
  assert.equal(got.statusCode, 200);
  assert.equal(got.json().id, job.id);
  const byVersion = await submit(a, { type: 'restore', stackId: stackA, model: 'lab-em@1' });
  assert.equal(byVersion.statusCode, 202, byVersion.body);
  const byId = await submit(a, { type: 'restore', stackId: stackA, model: job.modelId });
  assert.equal(byId.statusCode, 202, byId.body);
  // lab-b cannot see lab-a's private model.
  const other = await submit(b, { type: 'restore', stackId: stackB, model: 'lab-em' });
  assert.equal(other.statusCode, 404);
  assert.equal(problem(other).code, 'MODEL_NOT_FOUND');
  for (const id of [job.id, byVersion.json().id, byId.json().id]) await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: a });
});

test('Idempotency-Key: a retry returns the same job; reusing the key for another request is 409', async () => {
  const body = { type: 'train', stackIds: [stackA], name: 'idem', modality: 'em', steps: 5 };
  const first = await submit(a, body, { 'idempotency-key': 'acq-2024-06-01-001' });
  assert.equal(first.statusCode, 202, first.body);
  const again = await submit(a, body, { 'idempotency-key': 'acq-2024-06-01-001' });
  assert.equal(again.statusCode, 202);
  assert.equal(again.json().id, first.json().id);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  const depth = (await api.app.producer.depths()).find((d) => d.queue === 'train')!;
  assert.equal(depth.waiting, 1, 'the retry did not enqueue a second job');
  const reused = await submit(a, { ...body, steps: 6 }, { 'idempotency-key': 'acq-2024-06-01-001' });
  assert.equal(reused.statusCode, 409);
  assert.equal(problem(reused).code, 'IDEMPOTENCY_KEY_REUSED');
  // Keys are per group: lab-b's same key is a different job.
  const theirs = await submit(b, { ...body, stackIds: [stackB] }, { 'idempotency-key': 'acq-2024-06-01-001' });
  assert.equal(theirs.statusCode, 202);
  assert.notEqual(theirs.json().id, first.json().id);
  await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${first.json().id}`, headers: a });
  await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${theirs.json().id}`, headers: b });
});

test('bad requests are 4xx problem+json with a stable code and no internals', async () => {
  const cases: [string, () => ReturnType<typeof submit>, number, string][] = [
    ['bad JSON', () => api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...a, 'content-type': 'application/json' }, payload: '{"type":"restore",' }), 400, 'BAD_JSON'],
    ['unknown job type', () => submit(a, { type: 'denoise', stackId: stackA }), 400, 'UNKNOWN_JOB_TYPE'],
    ['no job type', () => submit(a, { stackId: stackA }), 400, 'UNKNOWN_JOB_TYPE'],
    ['unknown stack', () => submit(a, { type: 'restore', stackId: '00000000-0000-4000-8000-000000000000' }), 404, 'STACK_NOT_FOUND'],
    ['unknown model', () => submit(a, { type: 'restore', stackId: stackA, model: 'no-such-model' }), 404, 'MODEL_NOT_FOUND'],
    ['unknown model id', () => submit(a, { type: 'restore', stackId: stackA, model: '00000000-0000-4000-8000-000000000000' }), 404, 'MODEL_NOT_FOUND'],
    ['malformed stack id', () => submit(a, { type: 'restore', stackId: 'stack-1' }), 400, 'VALIDATION_FAILED'],
    ['misspelt option', () => submit(a, { type: 'restore', stackId: stackA, model: 'lab-em', options: { batchsize: 4 } }), 400, 'VALIDATION_FAILED'],
    ['option out of range', () => submit(a, { type: 'restore', stackId: stackA, model: 'lab-em', options: { batchSize: 0 } }), 400, 'VALIDATION_FAILED'],
    ['train without stacks', () => submit(a, { type: 'train', stackIds: [], name: 'x', modality: 'em' }), 400, 'VALIDATION_FAILED'],
    ['train bad modality', () => submit(a, { type: 'train', stackIds: [stackA], name: 'x', modality: 'xray' }), 400, 'VALIDATION_FAILED'],
    ['train bad name', () => submit(a, { type: 'train', stackIds: [stackA], name: '../etc', modality: 'em' }), 400, 'VALIDATION_FAILED'],
    ['text body', () => api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...a, 'content-type': 'text/plain' }, payload: 'restore please' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['huge JSON', () => api.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...a, 'content-type': 'application/json' }, payload: `{"type":"restore","x":"${'y'.repeat(2 * 2 ** 20)}"}` }), 413, 'PAYLOAD_TOO_LARGE'],
    ['unknown route', () => api.app.inject({ url: '/v1/nothing', headers: a }), 404, 'NOT_FOUND'],
    ['bad list filter', () => api.app.inject({ url: '/v1/jobs?status=done', headers: a }), 400, 'VALIDATION_FAILED'],
    ['bad cursor', () => api.app.inject({ url: '/v1/jobs?cursor=%27;DROP%20TABLE%20%22Job%22;--', headers: a }), 400, 'INVALID_ARGUMENT'],
  ];
  for (const [what, call, status, code] of cases) {
    const res = await call();
    assert.equal(res.statusCode, status, `${what}: ${res.body}`);
    assert.equal(problem(res).code, code, what);
  }
});

test('GET /v1/jobs: newest first, filters, cursor pagination', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await submit(b, { type: i % 2 ? 'train' : 'restore', ...(i % 2 ? { stackIds: [stackB], name: `m${i}`, modality: 'em' } : { stackId: stackB, model: 'lab-em-public' }) });
    if (res.statusCode === 404) {
      // lab-b has no restore model: submit trains only
      const t = await submit(b, { type: 'train', stackIds: [stackB], name: `m${i}`, modality: 'em' });
      assert.equal(t.statusCode, 202, t.body);
      ids.push(t.json().id);
    } else {
      assert.equal(res.statusCode, 202, res.body);
      ids.push(res.json().id);
    }
  }
  await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${ids[0]}`, headers: b });
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: { statusCode: number; body: string; json(): unknown } = await api.app.inject({ url: `/v1/jobs?type=train&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers: b });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { items: { id: string; type: string }[]; nextCursor: string | null };
    assert.ok(page.items.length <= 2);
    for (const j of page.items) assert.equal(j.type, 'train');
    seen.push(...page.items.map((j) => j.id));
    cursor = page.nextCursor;
  } while (cursor);
  const mine = seen.filter((id) => ids.includes(id));
  assert.deepEqual(mine, [...ids].reverse().filter((id) => mine.includes(id)), 'newest first');
  assert.equal(new Set(seen).size, seen.length, 'no job twice across pages');
  const canceled = await api.app.inject({ url: '/v1/jobs?status=canceled', headers: b });
  assert.ok(canceled.json().items.some((j: { id: string }) => j.id === ids[0]));
  const queued = await api.app.inject({ url: '/v1/jobs?status=queued&status=running', headers: b });
  assert.ok(queued.json().items.every((j: { status: string }) => j.status === 'queued' || j.status === 'running'));
  for (const id of ids) await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: b });
});

test('DELETE cancels a queued job: removed from the queue, events end with done; a finished job answers 409', async () => {
  const res = await submit(a, { type: 'train', stackIds: [stackA], name: 'to-cancel', modality: 'em' });
  const id = res.json().id as string;
  const waitingBefore = (await api.app.producer.depths()).find((d) => d.queue === 'train')!.waiting;
  const events = api.app.inject({ url: `/v1/jobs/${id}/events`, headers: a });
  await new Promise((r) => setTimeout(r, 400));
  const del = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: a });
  assert.equal(del.statusCode, 200, del.body);
  assert.equal(del.json().status, 'canceled');
  assert.equal(del.json().cancelRequested, true);
  const waitingAfter = (await api.app.producer.depths()).find((d) => d.queue === 'train')!.waiting;
  assert.equal(waitingAfter, waitingBefore - 1);
  const stream = await events;
  assert.equal(stream.statusCode, 200);
  assert.match(String(stream.headers['content-type']), /text\/event-stream/);
  const names = [...stream.body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  assert.deepEqual(names, ['status', 'status', 'done']);
  const done = JSON.parse(/event: done\ndata: (.*)\n/.exec(stream.body)![1]!);
  assert.equal(done.status, 'canceled');
  const again = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: a });
  assert.equal(again.statusCode, 200, 'canceling twice is harmless');
  await api.tdb.db.jobs.start(res.json().id, { workerHost: 'x' }); // no effect: canceled
  const finished = await submit(a, { type: 'train', stackIds: [stackA], name: 'finished', modality: 'em' });
  const fid = finished.json().id as string;
  await api.tdb.db.jobs.start(fid, { workerHost: 'test' });
  await api.tdb.db.jobs.succeed(fid, {});
  const late = await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${fid}`, headers: a });
  assert.equal(late.statusCode, 409);
  assert.equal(problem(late).code, 'JOB_FINISHED');
});

test('fairness through the API: with lab-a\'s 8 restore jobs waiting, lab-b\'s one job starts second', async () => {
  // The queue's rule (packages/queue README): priority = 1 + the group's jobs already waiting, so the k-th
  // waiting job of any group runs before the (k+1)-th of any other.
  await api.tdb.db.models.registerTrained({ groupId: b.groupId, name: 'lab-em', sha256: 'b'.repeat(64), card: { ...(await resolveModel('em')).card, name: 'lab-em', version: '1' } as unknown as Record<string, unknown>, storageKey: 'models/none-b' });
  const aJobs: string[] = [];
  for (let i = 0; i < 8; i++) {
    const res = await submit(a, { type: 'restore', stackId: stackA, model: 'lab-em' });
    assert.equal(res.statusCode, 202, res.body);
    aJobs.push(res.json().id);
  }
  const bJob = (await submit(b, { type: 'restore', stackId: stackB, model: 'lab-em' })).json().id as string;
  const order: string[] = [];
  let release!: () => void;
  const allDone = new Promise<void>((r) => (release = r));
  const consumer = createConsumer({
    redisUrl: api.config.redisUrl,
    prefix: api.config.queuePrefix,
    queues: ['restore'],
    concurrency: 1,
    processors: {
      restore: async (ctx) => {
        order.push(ctx.jobId);
        if (order.length === 9) release();
      },
    },
  });
  try {
    await consumer.ready();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allDone, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`only ${order.length} of 9 jobs ran`)), 30_000)))]);
    clearTimeout(timer);
  } finally {
    await consumer.close();
  }
  assert.deepEqual(order.filter((id) => aJobs.includes(id)), aJobs, "lab-a's jobs keep their order");
  assert.equal(order.indexOf(bJob), 1, `lab-b's job ran at position ${order.indexOf(bJob)} of ${order.length}`);
});

test('enqueue is idempotent per job id (the producer used by the API)', async () => {
  const producer = createProducer(api.config.redisUrl, { prefix: api.config.queuePrefix });
  try {
    const res = await submit(a, { type: 'train', stackIds: [stackA], name: 'once', modality: 'em' });
    const again = await producer.enqueue('train', res.json().id, a.groupId);
    assert.equal(again.added, false);
    await api.app.inject({ method: 'DELETE', url: `/v1/jobs/${res.json().id}`, headers: a });
  } finally {
    await producer.close();
  }
});

test('/metrics: finished jobs, failures by error code, durations, queue depth (from Postgres and Redis)', async () => {
  const failed = (await submit(a, { type: 'train', stackIds: [stackA], name: 'fails', modality: 'em' })).json().id as string;
  await api.tdb.db.jobs.start(failed, { workerHost: 'test' });
  await api.tdb.db.jobs.fail(failed, { code: 'TRAIN_BAD_INPUT', message: 'too few tiles' });
  const text = (await api.app.inject({ url: '/metrics' })).body;
  assert.match(text, /pssr_job_failures_total\{type="train",code="TRAIN_BAD_INPUT"\} 1/);
  assert.match(text, /pssr_jobs_finished_total\{type="train",status="failed"\} 1/);
  assert.match(text, /pssr_job_duration_seconds_count\{type="train",status="failed"\} 1/);
  assert.match(text, /pssr_job_duration_seconds_bucket\{type="train",status="succeeded",le="\+Inf"\} 1/);
  assert.match(text, /pssr_queue_jobs\{queue="train",state="waiting"\} \d+/);
  assert.match(text, /pssr_http_request_duration_seconds_count\{method="POST",route="\/v1\/jobs",status="202"\} \d+/);
});
