/**
 * Property-based fuzzing of the upload path (fast-check, fixed seed; the mutated-TIFF generator is the TIFF
 * reader fuzz test's, packages/tiff/test/helpers/mutations.ts): thousands of mutated stacks are POSTed raw
 * or as multipart to a real API (Postgres, local-disk storage). Property: the answer is 201 with a ready
 * stack or a 4xx problem+json whose message leaks nothing (no spool path, no engine internals), never a 5xx
 * or a hang; memory stays bounded; and nothing is left behind by a refusal: every stored object has a ready
 * record and the spool folder is empty.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { fuzzSeeds, mutate, mutation } from '../../../packages/tiff/test/helpers/mutations.js';
import { problem, startApi, type TestApi } from './helpers.js';

const SEED = 20261203;
const RUNS = Number(process.env['PSSR_FUZZ_RUNS'] ?? 1500);

let api: TestApi;
let auth: { authorization: string; groupId: string };

before(async () => {
  api = await startApi('upfuzz', {
    env: {
      RATE_LIMIT_MAX: '1000000',
      UPLOAD_MAX_FRAME_PIXELS: String(2 ** 20),
      UPLOAD_MAX_FRAMES: '64',
      TIFF_MAX_CHUNK_BYTES: String(2 ** 22),
      TIFF_MAX_FRAME_BYTES: String(2 ** 22),
      STACK_RETENTION_DAYS: '0',
    },
  });
  auth = await api.key('lab-fuzz');
});
after(async () => {
  await api?.close();
});

function multipart(bytes: Buffer): { payload: Buffer; contentType: string } {
  const boundary = 'pssrfuzzboundary';
  return {
    payload: Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="fuzz.tif"\r\nContent-Type: image/tiff\r\n\r\n`),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${what} took over ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

const INTERNALS = /DataView|undefined|Cannot read|is not a function|\bat [\w.<>]+ \(|pssr-uploads|spool/;

test(`fuzz: ${RUNS} mutated uploads are stored or refused with a clean 4xx, never a 5xx, a hang or a leftover`, async () => {
  const bases = await fuzzSeeds(api.dataDir);
  const outcomes = new Map<string, number>();
  let peakRss = 0;
  let ready = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: bases.length - 1 }).chain((b) => fc.tuple(fc.constant(b), mutation(bases[b]!.length), fc.boolean())),
      async ([b, m, asMultipart]) => {
        const bytes = mutate(bases[b]!, m);
        const body = asMultipart ? multipart(bytes) : { payload: bytes, contentType: 'image/tiff' };
        const res = await deadline(
          api.app.inject({ method: 'POST', url: '/v1/stacks?name=fuzz.tif', headers: { ...auth, 'content-type': body.contentType }, payload: body.payload }),
          15_000,
          `uploading a mutation of seed ${b}`,
        );
        if (res.statusCode === 201) {
          assert.equal(res.json().status, 'ready');
          ready++;
          outcomes.set('201', (outcomes.get('201') ?? 0) + 1);
        } else {
          assert.ok(res.statusCode >= 400 && res.statusCode < 500, `a 5xx for a client's file: ${res.statusCode} ${res.body}`);
          const p = problem(res);
          assert.doesNotMatch(p.detail, INTERNALS, `the message leaks internals: ${p.detail}`);
          outcomes.set(`${res.statusCode} ${p.code}`, (outcomes.get(`${res.statusCode} ${p.code}`) ?? 0) + 1);
        }
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`upload fuzz outcomes (seed ${SEED}): ${JSON.stringify(Object.fromEntries(outcomes))}; peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`);
  assert.ok(peakRss < 1024 * 2 ** 20, `peak RSS ${peakRss} bytes`);
  assert.ok(ready > 0 && outcomes.size > 3, 'the mutations reach both acceptance and several refusals');
  // No partial data: one stored object per ready stack, and an empty spool.
  const objects = await filesUnder(join(api.dataDir, 'stacks'));
  const stacks = await api.tdb.db.stacks.list(auth.groupId, { limit: 1 });
  assert.ok(stacks.items.length > 0);
  const readyCount = Number((await api.tdb.db.prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM "Stack" WHERE status = 'ready'`)[0]!.n);
  assert.equal(readyCount, ready);
  assert.equal(objects.length, ready, 'every stored object belongs to a ready stack');
  assert.deepEqual(await filesUnder(api.config.uploads.tmpDir), [], 'the spool is empty');
});
