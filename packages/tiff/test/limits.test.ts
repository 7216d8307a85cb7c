/**
 * Decoded-size limits: a strip or tile never decodes past its declared size (deflate and LZW bombs are
 * refused after at most that many bytes, not inflated), and declared chunk and frame sizes over the limits
 * are refused from the headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPssrError } from '@pssr/core';
import { inspectTiff, openTiffStack } from '../src/index.js';
import { ChunkOverflowError, lzwDecode } from '../src/decoders.js';
import { compressedPage, lzwEncode, zlibZeros } from './helpers/bombs.js';
import { craftTiff, grayPage } from './helpers/craft.js';

const dir = mkdtempSync(join(tmpdir(), 'pssr-tiff-limits-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function readRefused(path: string, message: RegExp): Promise<void> {
  const stack = await openTiffStack(path);
  try {
    await assert.rejects(stack.readFrame(0), (err: unknown) => isPssrError(err) && err.code === 'TIFF_TOO_LARGE' && err.userError && message.test(err.message));
  } finally {
    await stack.close();
  }
}

test('a 510 KB deflate strip that inflates to 512 MB is refused after its declared 64 KiB, not inflated', async () => {
  const strip = await zlibZeros(512 * 2 ** 20);
  assert.ok(strip.length < 600 * 1024, `the bomb is small (${strip.length} bytes)`);
  const path = write('deflate-bomb.tif', compressedPage(256, 256, 8, strip));
  assert.equal((await inspectTiff(path)).width, 256, 'the headers are valid: only decoding tells');
  const rssBefore = process.memoryUsage().rss;
  await readRefused(path, /frame 1: a strip or tile decodes to more than its declared 65536 bytes; the file is corrupt or a decompression bomb/);
  const grew = process.memoryUsage().rss - rssBefore;
  assert.ok(grew < 64 * 2 ** 20, `reading the bomb grew the process by ${grew} bytes`);
});

test('an LZW strip that decodes past its declared size is refused the same way', async () => {
  const strip = lzwEncode(new Uint8Array(200_000));
  await readRefused(write('lzw-bomb.tif', compressedPage(16, 16, 5, strip)), /decodes to more than its declared 256 bytes/);
});

test('lzwDecode: decodes what the encoder wrote (table resets included) and stops at the bound', () => {
  let s = 1;
  const data = Uint8Array.from({ length: 50_000 }, (_, i) => {
    s = (s * 1103515245 + 12345) >>> 0;
    return ((s >>> 24) % 5) + (i % 97 === 0 ? 200 : 0);
  });
  assert.deepEqual(lzwDecode(lzwEncode(data), data.length), data);
  assert.throws(() => lzwDecode(lzwEncode(data), data.length - 1), ChunkOverflowError);
});

test('declared strip and frame sizes over the limits are refused from the headers (413 TIFF_TOO_LARGE)', async () => {
  const page = craftTiff([grayPage(1024, 1024, 16, 8)], { tail: Buffer.alloc(1024 * 1024 * 2) });
  const path = write('one-strip.tif', page);
  await assert.rejects(inspectTiff(path, { limits: { maxChunkBytes: 2 ** 20 } }), /strips that decode to 2097152 bytes each, over the limit of 1048576 \(maxChunkBytes\)/);
  await assert.rejects(inspectTiff(path, { limits: { maxFrameBytes: 2 ** 20 } }), /decodes to 2097152 bytes per frame, over the limit of 1048576 \(maxFrameBytes\)/);
  assert.equal((await inspectTiff(path)).height, 1024);
});
