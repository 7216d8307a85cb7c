/**
 * `npm run bench:api`: job submission and status polling with 16 clients (each alone, then mixed), memory of
 * the API before and after 10,000 requests, and upload MB/s, against a real API on loopback (fresh Postgres
 * schema, own Redis prefix, local-disk and s3rver storage). The API runs in this process with the production
 * logger (pino, level info, to a file) and rate limiter; the clients run in a child process
 * (`bench/load.ts`) so their CPU does not share the API's event loop. No worker runs: submitted jobs stay
 * queued and are canceled afterwards. Prints one line per measurement.
 *
 * Options (env): BENCH_SECONDS (default 5), BENCH_CONCURRENCY (16), BENCH_REQUESTS (memory phase, 10000),
 * BENCH_UPLOAD_MB (64), BENCH_LOG (info; "off" disables request logging), BENCH_PHASES (submit,poll,mixed,memory,upload;
 * a poll phase without submissions before it submits until it has a job to poll).
 */
import { createHash } from 'node:crypto';
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/index.js';
import { dropRedisPrefix, freshDatabase, startTestS3, tempDir, testApiConfig, uniqueName } from '../../../test/e2e/support/env.js';
import { makePatternStack } from '../../../test/e2e/support/stacks.js';
import type { KindStats, Phase, PhaseResult } from './load.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? 10_000);
const UPLOAD_MB = Number(process.env['BENCH_UPLOAD_MB'] ?? 64);
const LOG = process.env['BENCH_LOG'] ?? 'info';
const PHASES = new Set((process.env['BENCH_PHASES'] ?? 'submit,poll,mixed,memory,upload').split(','));

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

/** The load child: one phase at a time over IPC. */
function loadClient(): { run(p: Phase): Promise<PhaseResult>; close(): Promise<string[]> } {
  const child: ChildProcess = fork(new URL('./load.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'] });
  const next = () => new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
  });
  return {
    async run(p) {
      const answer = next();
      child.send(p);
      return (await answer) as PhaseResult;
    },
    async close() {
      const answer = next();
      child.send({ done: true });
      return ((await answer) as { ids: string[] }).ids;
    },
  };
}

// A full GC before each memory reading, without needing --expose-gc on the command line.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mib = (n: number) => (n / 2 ** 20).toFixed(0);
function memory(): string {
  gc();
  const m = process.memoryUsage();
  return `rss ${mib(m.rss)} MiB, heap used ${mib(m.heapUsed)} MiB`;
}

const line = (what: string, s: KindStats) =>
  `${what}: ${s.rps.toFixed(0)} req/s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (${s.count} requests, ${s.errors} errors)`;

async function main(): Promise<void> {
  console.log(`# bench:api on ${cpus()[0]?.model ?? 'cpu'} x${availableParallelism()}, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}; ` +
    `${SECONDS} s per load test, ${CONCURRENCY} clients, request logging ${LOG}`);
  const tdb = await freshDatabase('bench');
  const prefix = uniqueName('bench');
  const dir = await tempDir('bench');
  const s3 = await startTestS3({ bucket: 'pssr-bench' });
  // The production rate limiter stays on, with a budget the bench cannot exhaust.
  const env = { UPLOAD_TMP_DIR: join(dir.path, 'spool'), RATE_LIMIT_MAX: '100000000', LOG_LEVEL: LOG === 'off' ? 'warn' : LOG, UPLOAD_MAX_BYTES: String(4 * 2 ** 30) };
  const config = testApiConfig({ databaseUrl: tdb.url, prefix, dataDir: join(dir.path, 'data'), env });
  const logger = LOG === 'off' ? false : { level: LOG, redact: ['req.headers.authorization'], stream: createWriteStream(join(dir.path, 'api.log')) };
  const localApp = await buildApp(config, { logger });
  const s3App = await buildApp(testApiConfig({ databaseUrl: tdb.url, prefix, s3, env }), { logger: false });
  const client = loadClient();
  try {
    const base = await listen(localApp);
    const s3Base = await listen(s3App);
    const { key } = await tdb.db.apiKeys.issue({ group: 'bench', user: 'bench' });
    const authorization = `Bearer ${key}`;
    const auth = { authorization };

    const small = join(dir.path, 'small.tif');
    await makePatternStack(small, 1, 64, 64);
    const up = await fetch(`${base}/v1/stacks`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: await readFile(small) });
    const stackId = ((await up.json()) as { id: string }).id;
    const submitBody = { type: 'restore', stackId, model: 'em' };
    const phase = (name: string, submitShare: number, limit: { seconds: number } | { requests: number }): Phase =>
      ({ name, base, authorization, submitBody, concurrency: CONCURRENCY, submitShare, ...limit });
    // The API's own CPU time per request is steadier than requests/s on a shared machine.
    const run = async (p: Phase) => {
      const cpu0 = process.cpuUsage();
      const r = await client.run(p);
      const cpu = process.cpuUsage(cpu0);
      const n = r.submit.count + r.submit.errors + r.poll.count + r.poll.errors;
      console.log(`[${p.name}] API CPU ${((cpu.user + cpu.system) / n).toFixed(0)} us per request, load average ${loadavg()[0]!.toFixed(1)}`);
      return r;
    };

    if (PHASES.has('submit')) {
      const submit = await run(phase('submit', 1, { seconds: SECONDS }));
      console.log(line('job submission (POST /v1/jobs, restore)', submit.submit));
    }
    if (PHASES.has('poll')) {
      const poll = await run(phase('poll', 0, { seconds: SECONDS }));
      console.log(line('status polling (GET /v1/jobs/:id)', poll.poll));
    }
    if (PHASES.has('mixed')) {
      const mixed = await run(phase('mixed', 0.2, { seconds: SECONDS }));
      console.log(`mixed (1 in 5 a submission): ${((mixed.submit.count + mixed.poll.count) / mixed.seconds).toFixed(0)} req/s in all`);
      console.log(`  ${line('submissions', mixed.submit)}`);
      console.log(`  ${line('status polls', mixed.poll)}`);
    }
    if (PHASES.has('memory')) {
      const before = memory();
      const soak = await run(phase('memory', 0.2, { requests: REQUESTS }));
      const n = soak.submit.count + soak.poll.count;
      console.log(`memory of the API process around ${n} mixed requests (${soak.submit.errors + soak.poll.errors} errors): before ${before}; after ${memory()}`);
    }
    if (PHASES.has('upload')) {
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
    }
    const ids = await client.close();
    const group = (await tdb.db.groups.getByName('bench'))!.id;
    for (const id of ids) await tdb.db.jobs.cancel(id, group);
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
