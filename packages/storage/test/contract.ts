/** Behaviour every ObjectStore must have; run against S3 (s3rver) and the local store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isStorageError, type ObjectStore } from '../src/index.js';

export const MiB = 1024 * 1024;

/** Deterministic bytes, produced chunk by chunk (never the whole payload at once). */
export function patternStream(bytes: number, seed = 1, chunk = 256 * 1024): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) return this.push(null);
      const n = Math.min(chunk, bytes - sent);
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = ((sent + i) * 31 + seed * 7) & 0xff;
      sent += n;
      this.push(b);
    },
  });
}

export function patternBytes(bytes: number, seed = 1, offset = 0): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) b[i] = ((offset + i) * 31 + seed * 7) & 0xff;
  return b;
}

export async function sha256Of(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const c of stream) h.update(c as Buffer);
  return h.digest('hex');
}

export function runContract(name: string, getStore: () => ObjectStore): void {
  const store = () => getStore();

  test(`${name}: putStream of a multi-part stream, then head, getStream and ranges`, async () => {
    const size = 11 * MiB + 123;
    const info = await store().putStream('stacks/big.tif', patternStream(size), { contentType: 'image/tiff', partSize: 5 * MiB });
    assert.equal(info.size, size);
    const head = await store().head('stacks/big.tif');
    assert.equal(head?.size, size);
    assert.equal(await sha256Of(await store().getStream('stacks/big.tif')), await sha256Of(patternStream(size)));
    const range = await store().getStream('stacks/big.tif', { start: 5 * MiB - 2, end: 5 * MiB + 1 });
    const got = Buffer.concat(await range.toArray());
    assert.deepEqual(got, patternBytes(4, 1, 5 * MiB - 2));
  });

  test(`${name}: putFile / getToFile round trip, written atomically`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-'));
    try {
      const src = join(dir, 'in.bin');
      await writeFile(src, patternBytes(70_000, 3));
      await store().putFile('a/b/c.bin', src);
      const dest = join(dir, 'out', 'copy.bin');
      const info = await store().getToFile('a/b/c.bin', dest);
      assert.equal(info.size, 70_000);
      assert.deepEqual(await readFile(dest), await readFile(src));
      assert.deepEqual((await readdir(join(dir, 'out'))), ['copy.bin'], 'no temp file left');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test(`${name}: a stream that fails midway leaves no object`, async () => {
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent > 3) return this.destroy(new Error('client went away'));
        sent++;
        this.push(Buffer.alloc(64 * 1024, 1));
      },
    });
    await assert.rejects(store().putStream('stacks/broken.tif', failing));
    assert.equal(await store().exists('stacks/broken.tif'), false);
  });

  test(`${name}: missing objects, delete, copy, deletePrefix, bad keys`, async () => {
    assert.equal(await store().head('nope/x'), null);
    assert.equal(await store().exists('nope/x'), false);
    await assert.rejects(store().getStream('nope/x'), (e: unknown) => isStorageError(e, 'OBJECT_NOT_FOUND'));
    await assert.rejects(store().getToFile('nope/x', join(tmpdir(), 'never')), (e: unknown) => isStorageError(e, 'OBJECT_NOT_FOUND'));
    await store().delete('nope/x');

    await store().putStream('p/one', Readable.from([Buffer.from('one')]));
    await store().putStream('p/two', Readable.from([Buffer.from('two')]));
    await store().putStream('q/three', Readable.from([Buffer.from('three')]));
    const copied = await store().copy('p/one', 'q/one-copy');
    assert.equal(copied.size, 3);
    assert.equal(Buffer.concat(await (await store().getStream('q/one-copy')).toArray()).toString(), 'one');
    assert.equal(await store().deletePrefix('p/'), 2);
    assert.equal(await store().exists('p/one'), false);
    assert.equal(await store().exists('q/three'), true);
    await store().delete('q/three');
    assert.equal(await store().exists('q/three'), false);

    for (const bad of ['', '/abs', 'a/../b', 'a//b', 'a\\b', './a']) {
      await assert.rejects(store().head(bad), (e: unknown) => isStorageError(e, 'INVALID_KEY'), bad);
    }
  });

  test(`${name}: multipart through the process, resume a missing part, complete`, async () => {
    const key = 'uploads/resumed.tif';
    const id = await store().createMultipartUpload(key, { contentType: 'image/tiff' });
    const p1 = patternBytes(5 * MiB, 5, 0);
    const p2 = patternBytes(5 * MiB, 5, 5 * MiB);
    const p3 = patternBytes(1000, 5, 10 * MiB);
    await store().uploadPart(key, id, 1, p1);
    await store().uploadPart(key, id, 3, Readable.from([p3]), p3.length);
    assert.deepEqual((await store().listParts(key, id)).map((p) => [p.partNumber, p.size]), [[1, 5 * MiB], [3, 1000]]);
    await assert.rejects(store().completeMultipartUpload(key, id, { expectedParts: 3 }), (e: unknown) => {
      assert.ok(isStorageError(e, 'UPLOAD_PARTS_MISSING'));
      assert.match(e.message, /part\(s\) 2\b/);
      return true;
    });
    await store().uploadPart(key, id, 2, p2);
    const info = await store().completeMultipartUpload(key, id, { expectedParts: 3 });
    assert.equal(info.size, 10 * MiB + 1000);
    const h = createHash('sha256').update(p1).update(p2).update(p3).digest('hex');
    assert.equal(await sha256Of(await store().getStream(key)), h);
    await assert.rejects(store().listParts(key, id), (e: unknown) => isStorageError(e, 'UPLOAD_NOT_FOUND'));
  });

  test(`${name}: an aborted multipart upload is gone`, async () => {
    const key = 'uploads/aborted.tif';
    const id = await store().createMultipartUpload(key);
    await store().uploadPart(key, id, 1, Buffer.from('part one'));
    await store().abortMultipartUpload(key, id);
    await assert.rejects(store().listParts(key, id), (e: unknown) => isStorageError(e, 'UPLOAD_NOT_FOUND'));
    assert.equal(await store().exists(key), false);
    await store().abortMultipartUpload(key, id); // twice is fine
  });
}
