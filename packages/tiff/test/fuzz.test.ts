/**
 * Property-based fuzzing of the TIFF reader (fast-check, fixed seed): thousands of mutated files (random
 * byte edits biased to the header and IFDs, truncations, deflate and LZW bombs as seeds) are inspected,
 * opened and read frame by frame under small limits. Property: it either reads, or refuses with a PssrError
 * marked as the user's (a stable code and a message naming the file), never another exception or an
 * internal one, never a hang (each file has a deadline), and memory stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isPssrError } from '@pssr/core';
import { openTiffStack, inspectTiff } from '../src/index.js';
import { fuzzSeeds, mutate, mutation } from './helpers/mutations.js';

const SEED = 20261202;
const RUNS = Number(process.env['PSSR_FUZZ_RUNS'] ?? 3000);
const LIMITS = { maxFrames: 64, maxFramePixels: 2 ** 20, maxChunkBytes: 2 ** 22, maxFrameBytes: 2 ** 22, maxTotalBytes: 2 ** 26 };
const dir = mkdtempSync(join(tmpdir(), 'pssr-tiff-fuzz-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Reads everything the reader offers; resolves with 'read' or the refusal's code. */
async function readAll(path: string): Promise<string> {
  await inspectTiff(path, { limits: LIMITS });
  const stack = await openTiffStack(path, { limits: LIMITS });
  try {
    for (let f = 0; f < stack.info.frames; f++) await stack.readFrame(f);
  } finally {
    await stack.close();
  }
  return 'read';
}

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${what} took over ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

test(`fuzz: ${RUNS} mutated TIFFs are read or refused with a user error, never a crash, a hang or unbounded memory`, async () => {
  const bases = await fuzzSeeds(dir);
  const outcomes = new Map<string, number>();
  let peakRss = 0;
  let i = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: bases.length - 1 }).chain((b) => fc.tuple(fc.constant(b), mutation(bases[b]!.length))),
      async ([b, m]) => {
        const path = join(dir, `case-${i++ % 4}.tif`);
        await writeFile(path, mutate(bases[b]!, m));
        let outcome: string;
        try {
          outcome = await deadline(readAll(path), 10_000, `reading a mutation of seed ${b}`);
        } catch (err) {
          if (!isPssrError(err)) throw new Error(`not a PssrError: ${String(err)}`, { cause: err });
          if (!err.userError || err.code === 'INTERNAL') throw new Error(`an internal error for a bad file: ${err.code} ${err.message}`, { cause: err });
          if (!err.message.includes(path)) throw new Error(`the message does not name the file: ${err.message}`);
          outcome = err.code;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    ),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  console.log(`fuzz outcomes (seed ${SEED}): ${JSON.stringify(Object.fromEntries(outcomes))}; peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`);
  assert.ok(peakRss < 768 * 2 ** 20, `peak RSS ${peakRss} bytes`);
  assert.ok((outcomes.get('read') ?? 0) > 0 && outcomes.size > 3, 'the mutations reach both reading and several refusals');
});
