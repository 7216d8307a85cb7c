import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import { frameWindow } from '../src/frames.js';

test('5-frame windows mirror without repeating the edge (CONTRACTS example)', () => {
  const n = 10;
  assert.deepEqual(frameWindow(0, n, 5), [2, 1, 0, 1, 2]);
  assert.deepEqual(frameWindow(1, n, 5), [1, 0, 1, 2, 3]);
  assert.deepEqual(frameWindow(5, n, 5), [3, 4, 5, 6, 7]);
  assert.deepEqual(frameWindow(8, n, 5), [6, 7, 8, 9, 8]);
  assert.deepEqual(frameWindow(9, n, 5), [7, 8, 9, 8, 7]);
});

test('very short stacks clamp after mirroring; single-frame windows are the frame itself', () => {
  assert.deepEqual(frameWindow(0, 1, 5), [0, 0, 0, 0, 0]);
  // -2 -> 2 -> clamped to 1; 2 -> 0; 3 -> -1 -> clamped to 0
  assert.deepEqual(frameWindow(0, 2, 5), [1, 1, 0, 1, 0]);
  assert.deepEqual(frameWindow(1, 2, 5), [1, 0, 1, 0, 0]);
  assert.deepEqual(frameWindow(2, 3, 5), [0, 1, 2, 1, 0]);
  assert.deepEqual(frameWindow(4, 7, 1), [4]);
});

test('frameWindow rejects frames outside the stack', () => {
  assert.throws(() => frameWindow(3, 3, 5), PssrError);
  assert.throws(() => frameWindow(-1, 3, 1), PssrError);
  assert.throws(() => frameWindow(0, 0, 1), PssrError);
});
