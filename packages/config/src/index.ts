/**
 * @pssr/config: the one configuration module of the API, the worker and the CLI. Each process parses the
 * environment once at start-up (`loadApiConfig`, `loadWorkerConfig`, `loadCliConfig`) and passes the typed
 * result down; nothing else reads `process.env`. The sections both services need (stores, queue, resource
 * limits) are parsed by the same functions, so the API and the worker cannot drift apart.
 */
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { StorageConfig } from '@pssr/storage';
import { ConfigError, bool, bytes, int, listOf, oneOf, optional, str, type Env } from './env.js';

export { ConfigError, type Env } from './env.js';
export type StorageSettings = StorageConfig;

/**
 * Resource limits, checked where the data is first seen: the API when a stack is uploaded or a job submitted,
 * the worker when it decodes a stack. Refusals are 413 TIFF_TOO_LARGE / JOB_OUTPUT_TOO_LARGE.
 */
export interface ResourceLimits {
  /** Largest frame (height x width). Restoring one needs about 64 bytes per LR pixel (16 HR float32 pixels). */
  maxFramePixels: number;
  maxFrames: number;
  /** Largest decoded strip or tile of a TIFF; a compressed chunk is never inflated past its declared size. */
  maxChunkBytes: number;
  /** Largest decoded frame (height x width x bytes per sample). */
  maxFrameBytes: number;
  /** Largest result of one restore job (frames x 4H x 4W x bytes per sample), checked at submission. */
  maxJobOutputBytes: number;
}

/** What both services connect to; the same variables and defaults for each. */
export interface SharedConfig {
  databaseUrl: string;
  redisUrl: string;
  /** BullMQ key prefix (tests use a unique one per file). */
  queuePrefix: string;
  storage: StorageSettings;
  limits: ResourceLimits;
  logLevel: string;
}

export interface ApiConfig extends SharedConfig {
  host: string;
  port: number;
  uploads: {
    /** Largest stack accepted, in bytes (raw, multipart or presigned); larger -> 413. */
    maxBytes: number;
    /** Part size offered for presigned multipart uploads (S3 needs >= 5 MiB except for the last part). */
    partSize: number;
    /** Where uploads are spooled for validation before they are accepted. */
    tmpDir: string;
    /** Lifetime of presigned part and download URLs. */
    presignExpiresSec: number;
    /** Resumable uploads not completed after this long are aborted (hourly sweep; 0 disables). */
    staleAfterMs: number;
    /** Decode every frame before a stack becomes ready (a corrupt strip is refused at upload, not at run time). */
    verifyFrames: boolean;
  };
  /** Stored stacks: per-group quota and retention (hourly sweep). */
  stackStorage: {
    /** Bytes of stacks a group may hold (uploads and results); 0 = unlimited. */
    groupQuotaBytes: number;
    /** Stacks older than this many days are deleted unless a queued or running job uses them; 0 keeps them. */
    retentionDays: number;
  };
  /** Slow or hostile clients: Node's HTTP timers (408 problem+json) and the idle-socket timeout. */
  http: { requestTimeoutMs: number; headersTimeoutMs: number; idleTimeoutMs: number };
  /** Failed authentications per client address and window; past it 429 AUTH_RATE_LIMITED, without a database lookup. */
  authFailures: { max: number; windowMs: number };
  /** Downloads redirect to a presigned URL (S3 only) unless the client asks `?redirect=false`. */
  downloadRedirect: boolean;
  rateLimit: { max: number; windowMs: number };
  /** Open event streams per API key (per API process); one more is 429 TOO_MANY_STREAMS. */
  eventsMaxStreamsPerKey: number;
  /** Redis and Postgres calls that take longer than this answer 503 instead of hanging. */
  dependencyTimeoutMs: number;
  /** Dashboard sign-in sessions (cookie) last this long. */
  sessionTtlMs: number;
  /** Register the bundled models (packages/models) as public model rows at start-up. */
  registerBundledModels: boolean;
  /**
   * How often queued jobs are checked against the queue: a job removed from Redis behind our back (the admin
   * dashboard) is failed with REMOVED_FROM_QUEUE instead of staying queued forever (0 disables the sweep
   * and the removal listener).
   */
  queueReconcileMs: number;
}

export const WORKER_DEVICES = ['auto', 'cpu', 'cuda'] as const;
export type WorkerDevice = (typeof WORKER_DEVICES)[number];
export const WORKER_QUEUES = ['restore', 'train'] as const;
export type WorkerQueue = (typeof WORKER_QUEUES)[number];

export interface WorkerConfig extends SharedConfig {
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
  /** The heartbeat (Redis key, TTL three periods) the dashboard's facility view reads is refreshed this often. */
  heartbeatMs: number;
  workerHost: string;
  /** Python interpreter for the trainer (default /usr/bin/python3). */
  python?: string;
}

export interface CliConfig {
  /** Postgres of `pssr admin` (its --database-url wins). */
  databaseUrl: string;
  /** Python interpreter for `pssr train`. */
  python?: string;
  /** PSSR_DEBUG=1: print stack traces of internal errors. */
  debug: boolean;
}

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/test';

export function storageFromEnv(env: Env): StorageSettings {
  const bucket = optional(env, 'S3_BUCKET');
  const endpoint = optional(env, 'S3_ENDPOINT');
  if (endpoint === undefined && bucket === undefined) {
    return { kind: 'local', dir: resolve(str(env, 'PSSR_DATA_DIR', join(process.cwd(), '.data'))) };
  }
  if (bucket === undefined) throw new ConfigError('S3_ENDPOINT is set but S3_BUCKET is not: name the bucket that holds the stacks.');
  const s3: StorageSettings = { kind: 's3', bucket, region: str(env, 'S3_REGION', 'us-east-1') };
  if (endpoint !== undefined) s3.endpoint = endpoint;
  const id = optional(env, 'S3_ACCESS_KEY_ID');
  const secret = optional(env, 'S3_SECRET_ACCESS_KEY');
  const prefix = optional(env, 'S3_PREFIX');
  if (id !== undefined) s3.accessKeyId = id;
  if (secret !== undefined) s3.secretAccessKey = secret;
  if (prefix !== undefined) s3.prefix = prefix;
  if (optional(env, 'S3_FORCE_PATH_STYLE') !== undefined) s3.forcePathStyle = bool(env, 'S3_FORCE_PATH_STYLE', true);
  return s3;
}

export function limitsFromEnv(env: Env): ResourceLimits {
  return {
    maxFramePixels: int(env, 'UPLOAD_MAX_FRAME_PIXELS', 2 ** 26, 1),
    maxFrames: int(env, 'UPLOAD_MAX_FRAMES', 100_000, 1),
    maxChunkBytes: bytes(env, 'TIFF_MAX_CHUNK_BYTES', 256 * 2 ** 20),
    maxFrameBytes: bytes(env, 'TIFF_MAX_FRAME_BYTES', 2 ** 30),
    maxJobOutputBytes: bytes(env, 'JOB_MAX_OUTPUT_BYTES', 64 * 2 ** 30),
  };
}

export function sharedFromEnv(env: Env): SharedConfig {
  return {
    databaseUrl: str(env, 'DATABASE_URL', DEFAULT_DATABASE_URL),
    redisUrl: str(env, 'REDIS_URL', 'redis://127.0.0.1:6379'),
    queuePrefix: str(env, 'QUEUE_PREFIX', 'pssr'),
    storage: storageFromEnv(env),
    limits: limitsFromEnv(env),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
  };
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const shared = sharedFromEnv(env);
  const config: ApiConfig = {
    ...shared,
    host: str(env, 'HOST', '0.0.0.0'),
    port: int(env, 'PORT', 8080, 0, 65535),
    uploads: {
      maxBytes: bytes(env, 'UPLOAD_MAX_BYTES', 20 * 2 ** 30),
      partSize: bytes(env, 'UPLOAD_PART_SIZE', 64 * 2 ** 20),
      tmpDir: resolve(str(env, 'UPLOAD_TMP_DIR', join(tmpdir(), 'pssr-uploads'))),
      presignExpiresSec: int(env, 'PRESIGN_EXPIRES_SEC', 3600, 60, 7 * 24 * 3600),
      staleAfterMs: int(env, 'UPLOAD_STALE_HOURS', 48, 0, 24 * 365) * 3600_000,
      verifyFrames: bool(env, 'UPLOAD_VERIFY_FRAMES', true),
    },
    stackStorage: {
      groupQuotaBytes: bytes(env, 'GROUP_STORAGE_QUOTA', 2 ** 40, 0),
      retentionDays: int(env, 'STACK_RETENTION_DAYS', 90, 0, 100 * 365),
    },
    http: {
      requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 600_000, 1000),
      headersTimeoutMs: int(env, 'HEADERS_TIMEOUT_MS', 10_000, 500),
      idleTimeoutMs: int(env, 'SOCKET_IDLE_TIMEOUT_MS', 60_000, 1000),
    },
    authFailures: { max: int(env, 'AUTH_FAILURE_MAX', 20, 1), windowMs: int(env, 'AUTH_FAILURE_WINDOW_MS', 60_000, 1000) },
    downloadRedirect: bool(env, 'DOWNLOAD_REDIRECT', shared.storage.kind === 's3'),
    rateLimit: { max: int(env, 'RATE_LIMIT_MAX', 600, 1), windowMs: int(env, 'RATE_LIMIT_WINDOW_MS', 60_000, 1000) },
    eventsMaxStreamsPerKey: int(env, 'EVENTS_MAX_STREAMS_PER_KEY', 8, 1, 10_000),
    dependencyTimeoutMs: int(env, 'DEPENDENCY_TIMEOUT_MS', 5_000, 100),
    sessionTtlMs: int(env, 'SESSION_HOURS', 12, 1, 24 * 30) * 3600_000,
    registerBundledModels: bool(env, 'REGISTER_BUNDLED_MODELS', true),
    queueReconcileMs: int(env, 'QUEUE_RECONCILE_MS', 60_000, 0, 24 * 3_600_000),
  };
  if (config.http.headersTimeoutMs >= config.http.requestTimeoutMs) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS (${config.http.headersTimeoutMs}) must be less than REQUEST_TIMEOUT_MS (${config.http.requestTimeoutMs}).`);
  }
  return config;
}

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const config: WorkerConfig = {
    ...sharedFromEnv(env),
    device: oneOf(env, 'WORKER_DEVICE', WORKER_DEVICES, 'auto'),
    concurrency: int(env, 'WORKER_CONCURRENCY', 1, 1, 64),
    queues: listOf(env, 'WORKER_QUEUES', WORKER_QUEUES, WORKER_QUEUES),
    threads: int(env, 'WORKER_THREADS', 0, 0, 1024),
    tmpDir: resolve(str(env, 'WORKER_TMP_DIR', join(tmpdir(), 'pssr-worker'))),
    lockDurationMs: int(env, 'WORKER_LOCK_MS', 30_000, 1000, 3_600_000),
    stalledIntervalMs: int(env, 'WORKER_STALLED_INTERVAL_MS', 30_000, 500, 3_600_000),
    cancelPollMs: int(env, 'WORKER_CANCEL_POLL_MS', 1000, 100, 60_000),
    progressIntervalMs: int(env, 'WORKER_PROGRESS_MS', 500, 50, 60_000),
    heartbeatMs: int(env, 'WORKER_HEARTBEAT_MS', 5000, 100, 60_000),
    workerHost: str(env, 'WORKER_HOST', hostname()),
  };
  const python = optional(env, 'PSSR_PYTHON');
  if (python !== undefined) config.python = python;
  return config;
}

export function loadCliConfig(env: Env = process.env): CliConfig {
  const config: CliConfig = { databaseUrl: str(env, 'DATABASE_URL', DEFAULT_DATABASE_URL), debug: optional(env, 'PSSR_DEBUG') === '1' };
  const python = optional(env, 'PSSR_PYTHON');
  if (python !== undefined) config.python = python;
  return config;
}
