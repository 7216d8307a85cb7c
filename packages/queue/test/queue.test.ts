import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { PssrError } from '@pssr/core';
import {
  createConsumer, createProducer, isQueueUnavailableError, jobOptions, JOB_NAMES, type FailureInfo,
} from '../src/index.js';
import { REDIS_URL, deleteKeys, uniquePrefix, waitFor } from './helpers.js';

const prefixes: string[] = [];
function prefix(): string {
  const p = uniquePrefix('queue');
  prefixes.push(p);
  return p;
}
after(() => deleteKeys(prefixes));

test('job options: our id, 3 attempts, exponential backoff, bounded history, priority >= 1', () => {
  const id = randomUUID();
  const o = jobOptions('restore', id, 0);
  assert.equal(o.jobId, id);
  assert.equal(o.attempts, 3);
  assert.deepEqual(o.backoff, { type: 'exponential', delay: 5000 });
  assert.equal(o.priority, 1);
  assert.ok(o.removeOnComplete && o.removeOnFail);
  assert.equal(jobOptions('train', id, 1e9).priority, 2_097_152);
});

test('enqueue is idempotent per job id and validates the payload', async () => {
  const p = prefix();
  const producer = createProducer(REDIS_URL, { prefix: p });
  const redis = new Redis(REDIS_URL);
  try {
    const [jobId, groupId] = [randomUUID(), randomUUID()];
    assert.deepEqual(await producer.enqueue('restore', jobId, groupId), { added: true, priority: 1 });
    assert.equal((await producer.enqueue('restore', jobId, groupId)).added, false);
    assert.equal(await producer.groupWaiting('restore', groupId), 1);
    const depth = (await producer.depths()).find((d) => d.queue === 'restore');
    assert.equal(depth?.waiting, 1);
    assert.equal(depth?.paused, false);
    assert.deepEqual((await producer.depths()).map((d) => d.queue), [...JOB_NAMES]);
    const job = await producer.queues.restore.getJob(jobId);
    assert.deepEqual(job?.data, { jobId, groupId }, 'ids only travel through Redis');
    await assert.rejects(producer.enqueue('restore', 'not-a-uuid', groupId), /invalid restore job payload/);
    // Where BullMQ 6 keeps a prioritized waiting job (what k8s/keda-scaledobject.yaml's comment relies on):
    // the sorted set `<prefix>:<queue>:prioritized`, not the `:wait` list that KEDA's Redis scaler reads.
    assert.equal(await redis.zcard(`${p}:restore:prioritized`), 1);
    assert.equal(await redis.llen(`${p}:restore:wait`), 0);
  } finally {
    await redis.quit();
    await producer.close();
  }
});

test('start-up check: a consumed job name without a processor refuses to start', () => {
  assert.throws(
    () => createConsumer({ redisUrl: REDIS_URL, prefix: prefix(), processors: { restore: async () => {} } }),
    /no processor registered for job name\(s\): train/,
  );
  assert.throws(
    () => createConsumer({ redisUrl: REDIS_URL, prefix: prefix(), queues: ['resize' as never], processors: {} }),
    /unknown job name\(s\): resize/,
  );
});

test('a user error fails the job at once with its code; no retry', async () => {
  const p = prefix();
  const producer = createProducer(REDIS_URL, { prefix: p, retry: { attempts: 3, backoffDelayMs: 10 } });
  const failures: FailureInfo[] = [];
  let runs = 0;
  const consumer = createConsumer({
    redisUrl: REDIS_URL, prefix: p, queues: ['restore'],
    processors: { restore: async () => { runs++; throw new PssrError('TIFF_CORRUPT', 'stack.tif: IFD 3 points past the end of the file'); } },
    onFailed: (f) => { failures.push(f); },
  });
  try {
    const jobId = randomUUID();
    await producer.enqueue('restore', jobId, randomUUID());
    await waitFor(async () => (await producer.queues.restore.getJobState(jobId)) === 'failed', 'the job to fail');
    assert.equal(runs, 1);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.final, true);
    assert.equal(failures[0]?.permanent, true);
    assert.equal(failures[0]?.attempt, 1);
    assert.ok(failures[0]?.error instanceof PssrError);
    const job = await producer.queues.restore.getJob(jobId);
    assert.match(job?.failedReason ?? '', /^TIFF_CORRUPT: /);
  } finally {
    await consumer.close();
    await producer.close();
  }
});

test('a transient error is retried with backoff; onFailed says whether it was the last attempt', async () => {
  const p = prefix();
  const producer = createProducer(REDIS_URL, { prefix: p, retry: { attempts: 2, backoffDelayMs: 10 } });
  const failures: FailureInfo[] = [];
  const seen: Record<string, number[]> = {};
  const flaky = randomUUID();
  const hopeless = randomUUID();
  const consumer = createConsumer({
    redisUrl: REDIS_URL, prefix: p, queues: ['train'],
    processors: {
      train: async (ctx) => {
        (seen[ctx.jobId] ??= []).push(ctx.attempt);
        assert.equal(ctx.maxAttempts, 2);
        if (ctx.jobId === hopeless || ctx.attempt === 1) throw new Error('read ECONNRESET');
      },
    },
    onFailed: (f) => { failures.push(f); },
  });
  try {
    await producer.enqueue('train', flaky, randomUUID());
    await producer.enqueue('train', hopeless, randomUUID());
    await waitFor(async () => (await producer.queues.train.getJobState(flaky)) === 'completed', 'the flaky job to complete');
    await waitFor(async () => (await producer.queues.train.getJobState(hopeless)) === 'failed', 'the hopeless job to fail');
    assert.deepEqual(seen[flaky], [1, 2]);
    assert.deepEqual(seen[hopeless], [1, 2]);
    const of = (id: string) => failures.filter((f) => f.jobId === id).map((f) => [f.attempt, f.final, f.permanent]);
    assert.deepEqual(of(flaky), [[1, false, false]]);
    assert.deepEqual(of(hopeless), [[1, false, false], [2, true, false]]);
  } finally {
    await consumer.close();
    await producer.close();
  }
});

test('cancel removes a waiting job, and stops a running one through its signal', async () => {
  const p = prefix();
  const producer = createProducer(REDIS_URL, { prefix: p });
  const group = randomUUID();
  const waiting = randomUUID();
  await producer.enqueue('restore', waiting, group);
  assert.equal(await producer.cancel('restore', waiting), 'removed');
  assert.equal(await producer.groupWaiting('restore', group), 0);
  assert.equal(await producer.cancel('restore', waiting), 'absent');

  const running = randomUUID();
  const failures: FailureInfo[] = [];
  let started!: () => void;
  const isRunning = new Promise<void>((r) => (started = r));
  let sawAbort = false;
  const runs: number[] = [];
  const consumer = createConsumer({
    redisUrl: REDIS_URL, prefix: p, queues: ['restore'],
    processors: {
      restore: async (ctx) => {
        runs.push(ctx.attempt);
        started();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('never canceled')), 15_000);
          ctx.signal.addEventListener('abort', () => { clearTimeout(timer); sawAbort = true; reject(new PssrError('CANCELED', 'canceled', false)); });
        });
      },
    },
    onFailed: (f) => { failures.push(f); },
  });
  try {
    await consumer.ready();
    await producer.enqueue('restore', running, group);
    await isRunning;
    assert.equal(await producer.cancel('restore', running), 'signalled');
    await waitFor(async () => (await producer.queues.restore.getJobState(running)) === 'failed', 'the canceled job to stop');
    assert.equal(sawAbort, true);
    assert.deepEqual(runs, [1], 'a canceled job is not retried');
    assert.deepEqual(failures.map((f) => [f.jobId, f.final, f.permanent]), [[running, true, true]]);
  } finally {
    await consumer.close();
    await producer.close();
  }
});

test('without Redis, calls fail fast with QueueUnavailableError', async () => {
  const producer = createProducer('redis://127.0.0.1:1', { prefix: prefix(), timeoutMs: 1500 });
  try {
    await assert.rejects(producer.ping(), (e: unknown) => isQueueUnavailableError(e));
    await assert.rejects(producer.enqueue('restore', randomUUID(), randomUUID()), (e: unknown) => isQueueUnavailableError(e));
  } finally {
    await producer.close().catch(() => {});
  }
});
