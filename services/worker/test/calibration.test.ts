/**
 * The calibration step of a train job (the whole job runs in test/e2e/train.test.ts): a calibration that
 * fails leaves the new model uncalibrated with the reason and does not fail the job, whose training would
 * otherwise run again on retry; the card is left as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadWorkerConfig } from '@pssr/config';
import { calibrateTrained } from '../src/train.js';

const EM = fileURLToPath(new URL('../../../packages/models/em/', import.meta.url));

test('a train job whose calibration fails keeps its model, uncalibrated, with the reason', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pssr-calibration-'));
  try {
    for (const f of ['model.onnx', 'model.fp16.onnx', 'model.json', 'export-check.json']) await cp(join(EM, f), join(dir, f));
    const card = await readFile(join(dir, 'model.json'), 'utf8');
    const config = loadWorkerConfig({ WORKER_DEVICE: 'cpu', WORKER_THREADS: '1' });
    const progress: number[] = [];
    const outcome = await calibrateTrained(
      { config },
      'job-1',
      { data: [join(dir, 'missing.tif')], modality: 'em', frames: 1, out: dir, valFraction: 0.2 },
      dir,
      { signal: new AbortController().signal },
      { update: (p: number) => void progress.push(p) },
      pino({ level: 'silent' }),
    );
    assert.equal(outcome.calibration, null);
    assert.match(outcome.unavailable ?? '', /cannot list the validation data: .*missing\.tif/);
    assert.equal(await readFile(join(dir, 'model.json'), 'utf8'), card, 'the card is untouched');
    assert.deepEqual(await calibrateTrained({ config }, 'job-2', { data: [], modality: 'em', frames: 1, out: dir, valFraction: 0 }, dir, { signal: new AbortController().signal }, { update: () => undefined }, pino({ level: 'silent' })), { calibration: null }, 'nothing held out: nothing to calibrate');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
