import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { S3ObjectStore, isStorageError } from '../src/index.js';
import { startTestS3, type TestS3 } from '../src/testing.js';
import { MiB, patternBytes, runContract } from './contract.js';

let s3: TestS3;
let store: S3ObjectStore;

before(async () => {
  s3 = await startTestS3({ bucket: 'pssr-storage-test' });
  store = new S3ObjectStore(s3.config);
});
after(async () => {
  store?.close();
  await s3?.close();
});

runContract('S3', () => store);

test('S3: a client uploads parts to presigned URLs, resumes a missing part, and completes', async () => {
  const key = 'stacks/presigned.tif';
  const id = await store.createMultipartUpload(key, { contentType: 'image/tiff' });
  const parts = [patternBytes(5 * MiB, 9, 0), patternBytes(5 * MiB, 9, 5 * MiB), patternBytes(4321, 9, 10 * MiB)];
  const put = async (n: number) => {
    const url = await store.presignPart(key, id, n, 600);
    assert.match(url, /X-Amz-Signature=/);
    const res = await fetch(url, { method: 'PUT', body: parts[n - 1]! });
    assert.equal(res.status, 200, await res.text());
    assert.ok(res.headers.get('etag'));
  };
  await put(1);
  await put(3); // the connection "dropped" before part 2
  assert.deepEqual((await store.listParts(key, id)).map((p) => p.partNumber), [1, 3]);
  await assert.rejects(store.completeMultipartUpload(key, id, { expectedParts: 3 }), (e: unknown) => isStorageError(e, 'UPLOAD_PARTS_MISSING'));
  await put(2);
  await put(3); // re-sending a part that already arrived is harmless
  const info = await store.completeMultipartUpload(key, id, { expectedParts: 3 });
  assert.equal(info.size, 10 * MiB + 4321);

  const url = await store.presignGet(key, { expiresSec: 60, filename: 'presigned.tif' });
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const body = Buffer.from(await res.arrayBuffer());
  const expected = createHash('sha256');
  for (const p of parts) expected.update(p);
  assert.equal(createHash('sha256').update(body).digest('hex'), expected.digest('hex'));
});

test('S3: a key prefix keeps this store inside its folder of the bucket', async () => {
  const scoped = new S3ObjectStore({ ...s3.config, prefix: 'tenant-a/' });
  try {
    await scoped.putStream('x.bin', (await import('node:stream')).Readable.from([Buffer.from('x')]));
    assert.equal(await store.exists('tenant-a/x.bin'), true);
    assert.equal(await scoped.exists('x.bin'), true);
    assert.equal(await scoped.deletePrefix(''), 1);
  } finally {
    scoped.close();
  }
});
