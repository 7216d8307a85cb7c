/**
 * The worker's configuration, parsed once from the environment and passed down; nothing else in the worker
 * reads `process.env`.
 */
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StorageConfig } from '@pssr/storage';

export type WorkerDevice = 'auto' | 'cpu' | 'cuda';
export type WorkerQueue = 'restore' | 'train';

export interface WorkerConfig {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  storage: StorageConfig;
  /** Execution device for restore (onnxruntime) and train (PyTorch). */
  device: WorkerDevice;
  /** Jobs run at once per queue (1: one GPU, one job). */
  concurrency: number;
  queues: WorkerQueue[];
  /** onnxruntime CPU threads (0: one per core). */
  threads: number;
  /** Scratch space for downloaded stacks, results and model files. */
  tmpDir: string;
  /** BullMQ lock: a killed worker's job is taken over after about this long. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** How often a running job checks Postgres for a cancel request. */
  cancelPollMs: number;
  /** Progress is written to Postgres at most this often. */
  progressIntervalMs: number;
  workerHost: string;
  logLevel: string;
  /** Python interpreter for the trainer (default /usr/bin/python3). */
  python?: string;
}

type Env = Record<string, string | undefined>;

export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError';
}

function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new WorkerConfigError(`${name}=${raw} is not allowed: expected an integer from ${min} to ${max}.`);
  return n;
}

export function workerStorageFromEnv(env: Env): StorageConfig {
  const bucket = get(env, 'S3_BUCKET');
  const endpoint = get(env, 'S3_ENDPOINT');
  if (endpoint !== undefined || bucket !== undefined) {
    if (bucket === undefined) throw new WorkerConfigError('S3_ENDPOINT is set but S3_BUCKET is not: name the bucket that holds the stacks.');
    const s3: StorageConfig = { kind: 's3', bucket, region: get(env, 'S3_REGION') ?? 'us-east-1' };
    if (endpoint !== undefined) s3.endpoint = endpoint;
    const id = get(env, 'S3_ACCESS_KEY_ID');
    const secret = get(env, 'S3_SECRET_ACCESS_KEY');
    const prefix = get(env, 'S3_PREFIX');
    if (id !== undefined) s3.accessKeyId = id;
    if (secret !== undefined) s3.secretAccessKey = secret;
    if (prefix !== undefined) s3.prefix = prefix;
    return s3;
  }
  return { kind: 'local', dir: resolve(get(env, 'PSSR_DATA_DIR') ?? join(process.cwd(), '.data')) };
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const device = (get(env, 'WORKER_DEVICE') ?? 'auto').toLowerCase();
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw new WorkerConfigError(`WORKER_DEVICE=${device} is not allowed: expected cuda, cpu or auto.`);
  }
  const queues = (get(env, 'WORKER_QUEUES') ?? 'restore,train').split(',').map((q) => q.trim()).filter(Boolean);
  for (const q of queues) if (q !== 'restore' && q !== 'train') throw new WorkerConfigError(`WORKER_QUEUES has "${q}": allowed queues are restore and train.`);
  const config: WorkerConfig = {
    databaseUrl: get(env, 'DATABASE_URL') ?? 'postgresql://postgres@127.0.0.1:5432/test',
    redisUrl: get(env, 'REDIS_URL') ?? 'redis://127.0.0.1:6379',
    queuePrefix: get(env, 'QUEUE_PREFIX') ?? 'pssr',
    storage: workerStorageFromEnv(env),
    device,
    concurrency: int(env, 'WORKER_CONCURRENCY', 1, 1, 64),
    queues: queues as WorkerQueue[],
    threads: int(env, 'WORKER_THREADS', 0, 0, 1024),
    tmpDir: resolve(get(env, 'WORKER_TMP_DIR') ?? join(tmpdir(), 'pssr-worker')),
    lockDurationMs: int(env, 'WORKER_LOCK_MS', 30_000, 1000, 3_600_000),
    stalledIntervalMs: int(env, 'WORKER_STALLED_INTERVAL_MS', 30_000, 500, 3_600_000),
    cancelPollMs: int(env, 'WORKER_CANCEL_POLL_MS', 1000, 100, 60_000),
    progressIntervalMs: int(env, 'WORKER_PROGRESS_MS', 500, 50, 60_000),
    workerHost: get(env, 'WORKER_HOST') ?? hostname(),
    logLevel: get(env, 'LOG_LEVEL') ?? 'info',
  };
  const python = get(env, 'PSSR_PYTHON');
  if (python !== undefined) config.python = python;
  return config;
}
