/**
 * `npm run bench:api`: requests per second for job submission and status polling, and upload MB/s, against a
 * real API on loopback (fresh Postgres schema, own Redis prefix, local-disk and s3rver storage). No worker
 * runs: submitted jobs stay queued and are removed afterwards. Prints one line per measurement.
 *
 * Options (env): BENCH_SECONDS (default 5), BENCH_CONCURRENCY (default 16), BENCH_UPLOAD_MB (default 64).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism, cpus } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/index.js';
import { dropRedisPrefix, freshDatabase, startTestS3, tempDir, testApiConfig, uniqueName } from '../../../test/e2e/support/env.js';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const UPLOAD_MB = Number(process.env['BENCH_UPLOAD_MB'] ?? 64);

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

/** Runs `op` from `concurrency` loops for `seconds`; returns completed requests per second and p50/p99 latency. */
async function load(op: (i: number) => Promise<void>, seconds: number, concurrency: number) {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await op(n++);
          latencies.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((x, y) => x - y);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { rps: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), errors, count: latencies.length };
}

async function main(): Promise<void> {
  console.log(`# bench:api on ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}; ${SECONDS} s per load test, concurrency ${CONCURRENCY}`);
  const tdb = await freshDatabase('bench');
  const prefix = uniqueName('bench');
  const dir = await tempDir('bench');
  const s3 = await startTestS3({ bucket: 'pssr-bench' });
  const env = { UPLOAD_TMP_DIR: join(dir.path, 'spool'), RATE_LIMIT_MAX: '100000000', LOG_LEVEL: 'warn', UPLOAD_MAX_BYTES: String(4 * 2 ** 30) };
  const localApp = await buildApp(testApiConfig({ databaseUrl: tdb.url, prefix, dataDir: join(dir.path, 'data'), env }), { logger: false });
  const s3App = await buildApp(testApiConfig({ databaseUrl: tdb.url, prefix, s3, env }), { logger: false });
  try {
    const base = await listen(localApp);
    const s3Base = await listen(s3App);
    const { key } = await tdb.db.apiKeys.issue({ group: 'bench', user: 'bench' });
    const auth = { authorization: `Bearer ${key}` };

    const small = join(dir.path, 'small.tif');
    await makePatternStack(small, 1, 64, 64);
    const up = await fetch(`${base}/v1/stacks`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: await readFile(small) });
    const stackId = ((await up.json()) as { id: string }).id;
    const models = (await (await fetch(`${base}/v1/models`, { headers: auth })).json()) as { items: { name: string }[] };
    const model = models.items[0]?.name;
    const body = model ? { type: 'restore', stackId, model } : { type: 'train', stackIds: [stackId], name: 'bench', modality: 'em' };
    const ids: string[] = [];

    const submit = await load(async () => {
      const r = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (r.status !== 202) throw new Error(String(r.status));
      ids.push(((await r.json()) as { id: string }).id);
    }, SECONDS, CONCURRENCY);
    console.log(`job submission (POST /v1/jobs, ${body.type}): ${submit.rps.toFixed(0)} req/s, p50 ${submit.p50.toFixed(1)} ms, p99 ${submit.p99.toFixed(1)} ms, ${submit.errors} errors`);

    const poll = await load(async (i) => {
      const r = await fetch(`${base}/v1/jobs/${ids[i % ids.length]}`, { headers: auth });
      if (r.status !== 200) throw new Error(String(r.status));
      await r.arrayBuffer();
    }, SECONDS, CONCURRENCY);
    console.log(`status polling (GET /v1/jobs/:id): ${poll.rps.toFixed(0)} req/s, p50 ${poll.p50.toFixed(1)} ms, p99 ${poll.p99.toFixed(1)} ms, ${poll.errors} errors`);

    // One stack of about UPLOAD_MB, uploaded raw, 3 times per store; MB/s of request bytes (1 MB = 10^6 B).
    const frames = Math.max(1, Math.round((UPLOAD_MB * 1e6) / (2048 * 2048)));
    const bigPath = join(dir.path, 'big.tif');
    await makePatternStack(bigPath, frames, 2048, 2048);
    const big = await readFile(bigPath);
    const digest = createHash('sha256').update(big).digest('hex');
    for (const [label, target] of [['local disk', base], ['S3 (s3rver)', s3Base]] as const) {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const r = await fetch(`${target}/v1/stacks?name=big.tif`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: big });
        const j = (await r.json()) as { sha256?: string };
        if (r.status !== 201 || j.sha256 !== digest) throw new Error(`upload failed: ${r.status}`);
        times.push((performance.now() - t) / 1000);
      }
      const best = Math.min(...times);
      const median = times.sort((x, y) => x - y)[1]!;
      console.log(`upload (POST /v1/stacks raw, ${(big.length / 1e6).toFixed(1)} MB, ${label}): median ${(big.length / 1e6 / median).toFixed(0)} MB/s, best ${(big.length / 1e6 / best).toFixed(0)} MB/s`);
    }
    for (const id of ids) await tdb.db.jobs.cancel(id, (await tdb.db.groups.getByName('bench'))!.id);
  } finally {
    await localApp.close();
    await s3App.close();
    await s3.close();
    await tdb.close();
    await dropRedisPrefix(prefix);
    await dir.remove();
  }
}

await main();
