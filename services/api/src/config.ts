/**
 * The API's configuration, parsed once from the environment and passed down. Nothing else in the service
 * reads `process.env`.
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export type StorageSettings =
  | { kind: 's3'; endpoint?: string; bucket: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle?: boolean; prefix?: string }
  | { kind: 'local'; dir: string };

export interface ApiConfig {
  host: string;
  port: number;
  databaseUrl: string;
  redisUrl: string;
  /** BullMQ key prefix (tests use a unique one per file). */
  queuePrefix: string;
  storage: StorageSettings;
  uploads: {
    /** Largest stack accepted, in bytes (raw, multipart or presigned); larger -> 413. */
    maxBytes: number;
    /** Largest frame (height x width) a TIFF may declare; larger -> 413 TIFF_TOO_LARGE. */
    maxFramePixels: number;
    maxFrames: number;
    /** Part size offered for presigned multipart uploads (S3 needs >= 5 MiB except for the last part). */
    partSize: number;
    /** Where uploads are spooled for validation before they are accepted. */
    tmpDir: string;
    /** Lifetime of presigned part and download URLs. */
    presignExpiresSec: number;
    /** Resumable uploads not completed after this long are aborted (hourly sweep; 0 disables). */
    staleAfterMs: number;
  };
  /** Downloads redirect to a presigned URL (S3 only) unless the client asks `?redirect=false`. */
  downloadRedirect: boolean;
  rateLimit: { max: number; windowMs: number };
  /** Server-sent events poll Postgres this often (works across API and worker processes). */
  eventsPollMs: number;
  /** Redis and Postgres calls that take longer than this answer 503 instead of hanging. */
  dependencyTimeoutMs: number;
  logLevel: string;
  /** Register the bundled models (packages/models) as public model rows at start-up. */
  registerBundledModels: boolean;
}

type Env = Record<string, string | undefined>;

class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function int(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}=${raw} is not allowed: expected an integer from ${min} to ${max}.`);
  }
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name}=${raw} is not allowed: expected true or false.`);
}

/** Sizes accept a plain byte count or a suffix: 512M, 20G, 1T (binary units). */
export function bytes(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?)?$/i.exec(raw);
  if (!m) throw new ConfigError(`${name}=${raw} is not allowed: expected bytes such as 1073741824 or 1G.`);
  const unit = (m[2] ?? '').toUpperCase().charAt(0);
  const mult = unit === 'K' ? 2 ** 10 : unit === 'M' ? 2 ** 20 : unit === 'G' ? 2 ** 30 : unit === 'T' ? 2 ** 40 : 1;
  return Math.floor(Number(m[1]) * mult);
}

export function storageFromEnv(env: Env): StorageSettings {
  const bucket = optional(env, 'S3_BUCKET');
  const endpoint = optional(env, 'S3_ENDPOINT');
  if (endpoint !== undefined || bucket !== undefined) {
    if (bucket === undefined) throw new ConfigError('S3_ENDPOINT is set but S3_BUCKET is not: name the bucket that holds the stacks.');
    const s3: StorageSettings = { kind: 's3', bucket, region: str(env, 'S3_REGION', 'us-east-1') };
    if (endpoint !== undefined) s3.endpoint = endpoint;
    const id = optional(env, 'S3_ACCESS_KEY_ID');
    const secret = optional(env, 'S3_SECRET_ACCESS_KEY');
    if (id !== undefined) s3.accessKeyId = id;
    if (secret !== undefined) s3.secretAccessKey = secret;
    const prefix = optional(env, 'S3_PREFIX');
    if (prefix !== undefined) s3.prefix = prefix;
    if (optional(env, 'S3_FORCE_PATH_STYLE') !== undefined) s3.forcePathStyle = bool(env, 'S3_FORCE_PATH_STYLE', true);
    return s3;
  }
  return { kind: 'local', dir: resolve(str(env, 'PSSR_DATA_DIR', join(process.cwd(), '.data'))) };
}

export function loadApiConfig(env: Env = process.env): ApiConfig {
  const storage = storageFromEnv(env);
  return {
    host: str(env, 'HOST', '0.0.0.0'),
    port: int(env, 'PORT', 8080, 0, 65535),
    databaseUrl: str(env, 'DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/test'),
    redisUrl: str(env, 'REDIS_URL', 'redis://127.0.0.1:6379'),
    queuePrefix: str(env, 'QUEUE_PREFIX', 'pssr'),
    storage,
    uploads: {
      maxBytes: bytes(env, 'UPLOAD_MAX_BYTES', 20 * 2 ** 30),
      maxFramePixels: int(env, 'UPLOAD_MAX_FRAME_PIXELS', 2 ** 28, 1),
      maxFrames: int(env, 'UPLOAD_MAX_FRAMES', 100_000, 1),
      partSize: bytes(env, 'UPLOAD_PART_SIZE', 64 * 2 ** 20),
      tmpDir: resolve(str(env, 'UPLOAD_TMP_DIR', join(tmpdir(), 'pssr-uploads'))),
      presignExpiresSec: int(env, 'PRESIGN_EXPIRES_SEC', 3600, 60, 7 * 24 * 3600),
      staleAfterMs: int(env, 'UPLOAD_STALE_HOURS', 48, 0, 24 * 365) * 3600_000,
    },
    downloadRedirect: bool(env, 'DOWNLOAD_REDIRECT', storage.kind === 's3'),
    rateLimit: { max: int(env, 'RATE_LIMIT_MAX', 600, 1), windowMs: int(env, 'RATE_LIMIT_WINDOW_MS', 60_000, 1000) },
    eventsPollMs: int(env, 'EVENTS_POLL_MS', 300, 50, 10_000),
    dependencyTimeoutMs: int(env, 'DEPENDENCY_TIMEOUT_MS', 5_000, 100),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    registerBundledModels: bool(env, 'REGISTER_BUNDLED_MODELS', true),
  };
}

export { ConfigError };
