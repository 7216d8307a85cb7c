/**
 * Fairness between groups on one GPU (README "Fairness"): a job's priority is 1 + its group's jobs already
 * waiting in the queue. Group A queues 100 restore jobs; while A's first runs, group B submits one job and
 * group C three. With one worker (concurrency 1), B's job must start next, and then the groups interleave:
 * C1, A2, C2, A3, C3, and the rest of A. A's own jobs keep their submission order.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createConsumer, createProducer } from '../src/index.js';
import { REDIS_URL, deleteKeys, uniquePrefix, waitFor } from './helpers.js';

const prefix = uniquePrefix('fair');
after(() => deleteKeys([prefix]));

test('a group with one job is not stuck behind another group with 100', async () => {
  const producer = createProducer(REDIS_URL, { prefix });
  const [A, B, C] = [randomUUID(), randomUUID(), randomUUID()];
  const aJobs = Array.from({ length: 100 }, () => randomUUID());
  const bJob = randomUUID();
  const cJobs = [randomUUID(), randomUUID(), randomUUID()];
  const group = new Map<string, string>();

  const aPriorities: number[] = [];
  for (const id of aJobs) {
    aPriorities.push((await producer.enqueue('restore', id, A)).priority);
    group.set(id, 'A');
  }
  assert.deepEqual(aPriorities, Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(await producer.groupWaiting('restore', A), 100);

  const started: string[] = [];
  let firstRunning!: () => void;
  const firstStarted = new Promise<void>((r) => (firstRunning = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const consumer = createConsumer({
    redisUrl: REDIS_URL,
    prefix,
    queues: ['restore'],
    concurrency: 1,
    processors: {
      restore: async (ctx) => {
        started.push(ctx.jobId);
        if (started.length === 1) {
          firstRunning();
          await gate;
        }
      },
    },
  });
  try {
    await firstStarted;
    assert.equal(await producer.groupWaiting('restore', A), 99, "A's first job left the waiting count when it started");
    const b = await producer.enqueue('restore', bJob, B);
    group.set(bJob, 'B');
    assert.equal(b.priority, 1, 'a newcomer group gets priority 1');
    const cPriorities: number[] = [];
    for (const id of cJobs) {
      cPriorities.push((await producer.enqueue('restore', id, C)).priority);
      group.set(id, 'C');
    }
    assert.deepEqual(cPriorities, [1, 2, 3]);
    release();
    await waitFor(() => started.length === 104, 'all 104 jobs to run');

    const order = started.map((id) => group.get(id)).join('');
    assert.equal(order.slice(0, 7), 'ABCACAC', `start order by group: ${order.slice(0, 12)}...`);
    assert.equal(started[1], bJob, "B's only job starts right after A's running job");
    assert.deepEqual(started.filter((id) => group.get(id) === 'A'), aJobs, "A's jobs keep their order");
    assert.deepEqual(started.filter((id) => group.get(id) === 'C'), cJobs);
    for (const g of [A, B, C]) assert.equal(await producer.groupWaiting('restore', g), 0, 'no waiting count left behind');
  } finally {
    release();
    await consumer.close();
    await producer.close();
  }
});
