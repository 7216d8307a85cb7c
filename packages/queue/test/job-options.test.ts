import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPssrError } from '@pssr/core';
import { parseRestoreOptions, parseTrainOptions } from '../src/index.js';

test('stored job options are checked against the one schema: numbers stay numbers, unknown keys are refused', () => {
  assert.deepEqual(parseRestoreOptions({ model: 'em', tileSize: 80, batchSize: 4, requestHash: 'h' }), { model: 'em', tileSize: 80, batchSize: 4, requestHash: 'h' });
  assert.deepEqual(parseRestoreOptions({ model: 'em', matchPixelSize: true }), { model: 'em', matchPixelSize: true });
  for (const bad of [{ tileSize: '80' }, { tileSize: [80] }, { batchSize: true }, { tileSize: 80.5 }, { tile: 80 }, { matchPixelSize: 'yes' }]) {
    assert.throws(
      () => parseRestoreOptions(bad),
      (err: unknown) => isPssrError(err) && err.code === 'INVALID_ARGUMENT' && err.userError && /restore job's options are not valid at \//.test(err.message),
      JSON.stringify(bad),
    );
  }
  const train = { stackIds: ['8a0c3c8e-6f4e-4c79-9a57-1f7b0c1f2d3e'], name: 'lab', modality: 'em', steps: 5 };
  assert.deepEqual(parseTrainOptions(train), train);
  assert.throws(() => parseTrainOptions({ ...train, steps: '5' }), /train job's options are not valid at \/steps/);
  assert.throws(() => parseTrainOptions({ ...train, stackIds: ['not-a-uuid'] }), /stackIds/);
});
