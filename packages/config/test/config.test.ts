import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadApiConfig, loadCliConfig, loadWorkerConfig } from '../src/index.js';

const S3 = { S3_ENDPOINT: 'http://127.0.0.1:9000', S3_BUCKET: 'stacks', S3_FORCE_PATH_STYLE: 'false', S3_PREFIX: 'pssr/' };

test('the API and the worker read the shared sections with the same parser (stores, queue, limits)', () => {
  const env = { ...S3, DATABASE_URL: 'postgresql://db/x', REDIS_URL: 'redis://r:1', QUEUE_PREFIX: 'q', UPLOAD_MAX_FRAME_PIXELS: '1000', TIFF_MAX_CHUNK_BYTES: '1M' };
  const api = loadApiConfig(env);
  const worker = loadWorkerConfig(env);
  for (const key of ['databaseUrl', 'redisUrl', 'queuePrefix', 'storage', 'limits', 'logLevel'] as const) assert.deepEqual(worker[key], api[key], key);
  assert.equal(api.limits.maxFramePixels, 1000);
  assert.equal(worker.limits.maxChunkBytes, 2 ** 20);
});

test('the worker honours S3_FORCE_PATH_STYLE as the API does', () => {
  const storage = loadWorkerConfig(S3).storage;
  assert.equal(storage.kind, 's3');
  assert.equal(storage.kind === 's3' && storage.forcePathStyle, false);
});

test('defaults: every existing variable keeps its default', () => {
  const api = loadApiConfig({});
  assert.equal(api.port, 8080);
  assert.equal(api.uploads.maxBytes, 20 * 2 ** 30);
  assert.equal(api.rateLimit.max, 600);
  assert.equal(api.eventsMaxStreamsPerKey, 8);
  assert.equal(api.authFailures.max, 20);
  assert.throws(() => loadApiConfig({ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '5000' }), /HEADERS_TIMEOUT_MS/);
  assert.equal(api.storage.kind, 'local');
  const worker = loadWorkerConfig({});
  assert.equal(worker.device, 'auto');
  assert.deepEqual(worker.queues, ['restore', 'train']);
  assert.equal(worker.lockDurationMs, 30_000);
  assert.equal(worker.limits.maxFramePixels, 2 ** 26);
  assert.equal(loadCliConfig({}).databaseUrl, api.databaseUrl);
});

test('bad values are refused naming the variable, the value and what is allowed', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ WORKER_DEVICE: 'tpu' }, /^WORKER_DEVICE=tpu is not allowed: expected auto, cpu, cuda\.$/],
    [{ WORKER_QUEUES: 'restore,index' }, /WORKER_QUEUES has "index"/],
    [{ S3_FORCE_PATH_STYLE: 'maybe', S3_BUCKET: 'b' }, /S3_FORCE_PATH_STYLE=maybe is not allowed: expected true or false/],
    [{ S3_ENDPOINT: 'http://x' }, /S3_BUCKET is not/],
    [{ JOB_MAX_OUTPUT_BYTES: '12 parsecs' }, /JOB_MAX_OUTPUT_BYTES=12 parsecs is not allowed: expected bytes/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => loadWorkerConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(env));
  }
  assert.throws(() => loadApiConfig({ PORT: '80a' }), /^ConfigError: PORT=80a is not allowed: expected an integer from 0 to 65535\.$/);
});
