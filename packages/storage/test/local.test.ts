import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalObjectStore, createObjectStore, isStorageError } from '../src/index.js';
import { runContract } from './contract.js';

let dir: string;
let store: LocalObjectStore;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pssr-local-store-'));
  store = new LocalObjectStore(dir);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

runContract('local', () => store);

test('local: presigned URLs are refused with a clear code, so the API proxies', async () => {
  assert.equal(store.supportsPresign, false);
  const id = await store.createMultipartUpload('a.tif');
  await assert.rejects(store.presignPart('a.tif', id, 1), (e: unknown) => isStorageError(e, 'PRESIGN_UNSUPPORTED'));
  await assert.rejects(store.presignGet('a.tif'), (e: unknown) => isStorageError(e, 'PRESIGN_UNSUPPORTED'));
  await store.abortMultipartUpload('a.tif', id);
});

test('local: no temp files remain after the contract tests, and reserved names are refused', async () => {
  const all: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else all.push(e.name);
    }
  };
  await walk(dir);
  assert.deepEqual(all.filter((n) => n.includes('.partial-')), []);
  await assert.rejects(store.head('.pssr-uploads/x'), (e: unknown) => isStorageError(e, 'INVALID_KEY'));
  assert.equal(createObjectStore({ kind: 'local', dir }).kind, 'local');
});
