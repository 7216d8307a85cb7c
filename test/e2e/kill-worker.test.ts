/**
 * A worker killed mid-job (SIGKILL) leaves no partial result visible; BullMQ's stalled-job detection hands the
 * job to another worker, which completes it. That worker, sent SIGTERM mid-job, finishes the job before it
 * exits (graceful shutdown), also when a second SIGTERM follows 10 ms later.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './support/env.js';
import { api, startService, type TestService } from './support/service.js';
import { makePatternStack } from './support/stacks.js';

const WORKER_MAIN = fileURLToPath(new URL('../../services/worker/src/main.ts', import.meta.url));
let svc: TestService;
let lab: { authorization: string; groupId: string };
const children: ChildProcess[] = [];

function spawnWorker(name: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const env = { ...process.env, ...svc.workerEnv, WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', WORKER_HOST: name, LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

before(async () => {
  svc = await startService('e2e_kill', { worker: false });
  lab = await svc.key('kill-lab');
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await svc?.close();
});

test('SIGKILL mid-restore: no partial result; another worker takes the job over and completes it; SIGTERM lets it finish', async () => {
  const path = join(svc.dir, 'stack.tif');
  await makePatternStack(path, 6, 128, 128);
  const up = await fetch(`${svc.base}/v1/stacks?name=stack.tif`, { method: 'POST', headers: { ...lab, 'content-type': 'image/tiff' }, body: await readFile(path) });
  assert.equal(up.status, 201);
  const stackId = ((await up.json()) as { id: string }).id;
  const submit = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId, model: 'em', options: { tileSize: 80, batchSize: 1 } });
  assert.equal(submit.status, 202, JSON.stringify(submit.json));
  const jobId = submit.json.id as string;

  const first = spawnWorker('worker-a');
  const running = await waitFor(async () => {
    const j = await svc.tdb.db.jobs.get(jobId);
    return j && j.status === 'running' && j.progress > 0.05 ? j : undefined;
  }, { timeoutMs: 120_000, intervalMs: 100, what: `worker-a to make progress\n${first.output()}` });
  assert.equal(running.workerHost, 'worker-a');
  first.child.kill('SIGKILL');
  await first.exited;

  // Killed mid-job: the record still says running, and nothing of the result is visible.
  const after = (await svc.tdb.db.jobs.get(jobId))!;
  assert.equal(after.status, 'running');
  assert.equal(after.outputStackId, null);
  assert.deepEqual((await svc.tdb.db.stacks.list(lab.groupId)).items.map((s) => s.id), [stackId]);

  const second = spawnWorker('worker-b');
  const resumed = await waitFor(async () => {
    const j = await svc.tdb.db.jobs.get(jobId);
    return j && j.workerHost === 'worker-b' && j.status === 'running' ? j : undefined;
  }, { timeoutMs: 120_000, intervalMs: 100, what: `worker-b to take the stalled job over\n${second.output()}` });
  assert.equal(resumed.attempts, 2);
  // Graceful: finish the job, then exit, even when SIGTERM comes twice 10 ms apart (a runtime and a
  // supervisor may both send one); only a repeated Ctrl-C (SIGINT) abandons.
  second.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 10));
  second.child.kill('SIGTERM');
  const code = await second.exited;
  assert.equal(code, 0, second.output());

  const done = (await svc.tdb.db.jobs.get(jobId))!;
  assert.equal(done.status, 'succeeded', `${done.errorCode}: ${done.errorMessage}\n${second.output()}`);
  assert.ok(done.outputStackId);
  const stacks = (await svc.tdb.db.stacks.list(lab.groupId)).items;
  // The input, the result and the result's consistency map (the trust report): nothing from the killed attempt.
  assert.equal(stacks.length, 3, 'exactly one result stack and one consistency map');
  assert.equal(stacks.filter((s) => s.name.endsWith('.consistency.tif')).length, 1, 'one consistency map');
  const out = stacks.find((s) => s.id === done.outputStackId)!;
  assert.deepEqual([out.frames, out.height, out.width], [6, 512, 512]);
  assert.ok(await svc.store.exists(out.storageKey));
  assert.equal(await svc.store.deletePrefix(`results/${lab.groupId}/`), 2, 'the result and its map: the killed attempt stored nothing');
});
