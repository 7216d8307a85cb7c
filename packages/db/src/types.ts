/**
 * The records and repositories of @pssr/db. These plain types are what the API and the worker see: no Prisma
 * type leaks out of this package (BigInt columns come back as numbers, JSON columns as plain objects).
 */

import type { StackInfo } from '@pssr/core';

export type JobType = 'restore' | 'train';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export type StackStatus = 'uploading' | 'ready' | 'failed';
export type JsonObject = { [key: string]: unknown };

export const JOB_TYPES: readonly JobType[] = ['restore', 'train'];
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
/** Statuses a job never leaves. */
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

export interface GroupRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface UserRecord {
  id: string;
  name: string;
  groupId: string;
  isAdmin: boolean;
  createdAt: Date;
}

export interface ApiKeyRecord {
  id: string;
  userId: string;
  /** The first characters of the key, stored in clear to find the row; safe to show in listings. */
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** Who is calling: the result of a successful `apiKeys.authenticate`. */
export interface AuthContext {
  user: UserRecord;
  group: GroupRecord;
  isAdmin: boolean;
  keyId: string;
}

export interface StackMetadata {
  frames: number;
  height: number;
  width: number;
  dtype: string;
  /** 'T' or 'Z': what the frame axis is. */
  axis: string;
  pixelSizeX?: number | null;
  pixelSizeY?: number | null;
  pixelUnit?: string | null;
  /** Channels in the file (default 1). */
  channels?: number;
  sha256: string;
  bytes: number;
}

/** The metadata columns of a stack record, from what the TIFF reader found and the stored object. */
export function toStackMetadata(info: StackInfo, sha256: string, bytes: number, channels = 1): StackMetadata {
  return {
    frames: info.frames,
    height: info.height,
    width: info.width,
    dtype: info.dtype,
    axis: info.axis,
    pixelSizeX: info.pixelSize?.x ?? null,
    pixelSizeY: info.pixelSize?.y ?? null,
    pixelUnit: info.pixelSize?.unit ?? null,
    channels,
    sha256,
    bytes,
  };
}

export interface StackRecord {
  id: string;
  groupId: string;
  userId: string | null;
  name: string;
  status: StackStatus;
  storageKey: string;
  frames: number | null;
  height: number | null;
  width: number | null;
  dtype: string | null;
  axis: string | null;
  pixelSizeX: number | null;
  pixelSizeY: number | null;
  pixelUnit: string | null;
  /** Channels in the file; null for stacks recorded before channels were (treat as 1). */
  channels: number | null;
  sha256: string | null;
  bytes: number | null;
  createdAt: Date;
}

export interface UploadRecord {
  id: string;
  stackId: string;
  /** Owner of the stack the upload fills (joined from Stack). */
  groupId: string;
  s3UploadId: string;
  storageKey: string;
  partSize: number;
  parts: number;
  bytes: number;
  createdAt: Date;
  completedAt: Date | null;
}

export interface ModelRecord {
  id: string;
  name: string;
  version: string;
  /** null: a public (bundled) model; otherwise the group that trained it. */
  groupId: string | null;
  card: JsonObject;
  sha256: string;
  storageKey: string | null;
  createdAt: Date;
}

export interface JobRecord {
  id: string;
  type: JobType;
  status: JobStatus;
  progress: number;
  groupId: string;
  userId: string;
  options: JsonObject;
  idempotencyKey: string | null;
  inputStackId: string | null;
  outputStackId: string | null;
  modelId: string | null;
  trainedModelId: string | null;
  metrics: JsonObject;
  errorCode: string | null;
  errorMessage: string | null;
  attempts: number;
  cancelRequested: boolean;
  workerHost: string | null;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

export interface MetricPoint {
  step: number;
  name: string;
  value: number;
  at: Date;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface GroupRepository {
  /** Returns the group with this name, creating it if absent (safe under concurrency). */
  ensure(name: string): Promise<GroupRecord>;
  get(id: string): Promise<GroupRecord | null>;
  getByName(name: string): Promise<GroupRecord | null>;
}

export interface UserRepository {
  /** Returns the user `name` of the group, creating it if absent; `isAdmin`, when given, is applied. */
  ensure(input: { groupId: string; name: string; isAdmin?: boolean }): Promise<UserRecord>;
  get(id: string): Promise<UserRecord | null>;
  getByName(groupId: string, name: string): Promise<UserRecord | null>;
  /** The group's users, by name (for showing who submitted a job). */
  list(groupId: string): Promise<UserRecord[]>;
}

export interface ApiKeyRepository {
  /**
   * Creates a key for the user. The plaintext `key` is returned only here; the database keeps its sha256
   * and the lookup prefix. Format: `pssr_` + 8 prefix chars + `_` + 43 secret chars (base64url).
   */
  create(userId: string): Promise<{ key: string; record: ApiKeyRecord }>;
  /** Ensures group and user (as `pssr admin create-key --group G --user U [--admin]` does) and creates a key. */
  issue(input: { group: string; user: string; isAdmin?: boolean }): Promise<{ key: string; record: ApiKeyRecord; user: UserRecord; group: GroupRecord }>;
  /** The caller behind `key`, or null when the key is unknown, malformed or revoked. Constant-time hash compare. */
  authenticate(key: string): Promise<AuthContext | null>;
  /** Revokes by full key, prefix or key id; returns true when a live key was revoked. */
  revoke(keyOrPrefixOrId: string): Promise<boolean>;
  listForUser(userId: string): Promise<ApiKeyRecord[]>;
}

export interface SessionRecord {
  id: string;
  /** Sent back by the browser in `x-csrf-token` on state-changing requests. */
  csrfToken: string;
  expiresAt: Date;
}

export interface SessionRepository {
  /** A new session for the key; the plaintext `token` is returned only here (the database keeps its sha256). */
  create(input: { apiKeyId: string; ttlMs: number }): Promise<{ token: string; session: SessionRecord }>;
  /** The caller behind a live session: null when unknown, expired, signed out, or its API key was revoked. */
  authenticate(token: string): Promise<{ auth: AuthContext; session: SessionRecord } | null>;
  /** Signs out: true when a live session was revoked. */
  revoke(token: string): Promise<boolean>;
  /** Deletes sessions that expired or were revoked before `before`; returns how many. */
  deleteExpired(before: Date): Promise<number>;
}

export interface StackRepository {
  /** A new stack in status `uploading`. Pass `id` when the storage key is derived from it. */
  create(input: { id?: string; groupId: string; userId?: string | null; name: string; storageKey: string }): Promise<StackRecord>;
  /** uploading -> ready with metadata; returns null if the stack is not `uploading` (already ready/failed). */
  markReady(id: string, meta: StackMetadata): Promise<StackRecord | null>;
  markFailed(id: string): Promise<void>;
  /** With `groupId`: null unless the stack belongs to that group (other groups' ids look absent). */
  get(id: string, groupId?: string): Promise<StackRecord | null>;
  /** Newest first, cursor-paginated; `nameContains` matches case-insensitively. */
  list(groupId: string, opts?: ListStacksOptions): Promise<Page<StackRecord>>;
  delete(id: string): Promise<void>;
  /** Bytes of the group's stacks (ready ones, and uploads in flight by their declared size). */
  usage(groupId: string): Promise<number>;
  /** Ids of queued or running jobs that read the stack (restore input, or one of a train job's stacks). */
  activeJobs(id: string): Promise<string[]>;
  /**
   * Deletes the group's stack and its upload rows in one transaction, unless a queued or running job reads
   * it: `{ inUse: jobIds }`. null when the group has no such stack. When the stack is a restore's result,
   * that job's trust report goes with it (its map stacks stay, as stacks of their own): `reportObjects` are
   * the report.json and preview.png keys. The caller deletes the stored objects.
   */
  deleteUnused(id: string, groupId: string): Promise<{ deleted: StackRecord; reportObjects: string[] } | { inUse: string[] } | null>;
  /** Stacks created before `before` that no queued or running job reads, oldest first (the retention sweep). */
  listExpired(before: Date, limit: number): Promise<StackRecord[]>;
}

export interface ListStacksOptions {
  limit?: number;
  cursor?: string | null;
  status?: StackStatus;
  nameContains?: string;
  createdAfter?: Date;
  createdBefore?: Date;
}

export interface UploadRepository {
  create(input: { stackId: string; s3UploadId: string; storageKey: string; partSize: number; parts: number; bytes: number }): Promise<UploadRecord>;
  /** With `groupId`: null unless the upload's stack belongs to that group. */
  get(id: string, groupId?: string): Promise<UploadRecord | null>;
  /** The resumable uploads of one stack. */
  listForStack(stackId: string): Promise<UploadRecord[]>;
  /** Sets completedAt once; false when it was already completed (a concurrent or repeated complete). */
  markCompleted(id: string): Promise<boolean>;
  /** Uploads never completed and created before `before` (for aborting abandoned multipart uploads). */
  listStale(before: Date): Promise<UploadRecord[]>;
  delete(id: string): Promise<void>;
}

export interface ModelRepository {
  /** Upserts a public model row (groupId null) for a bundled model; idempotent on (name, version). */
  registerBundled(input: { name: string; version: string; sha256: string; card: JsonObject; storageKey?: string | null }): Promise<ModelRecord>;
  /**
   * Registers a trained model version owned by `groupId`. `version` defaults to the next integer for
   * (group, name): "1", "2", ... Linked to the job that trained it when `jobId` is given.
   */
  registerTrained(input: { groupId: string; name: string; version?: string; sha256: string; card: JsonObject; storageKey: string; jobId?: string }): Promise<ModelRecord>;
  /**
   * The model a group means by `name` (and optional `version`): the group's own latest version if it has
   * one, else the latest public version; null if neither exists.
   */
  resolve(name: string, groupId: string, version?: string): Promise<ModelRecord | null>;
  /** A model visible to the group (public or its own), by id. Without `groupId`: any model. */
  get(id: string, groupId?: string): Promise<ModelRecord | null>;
  /** Every model version visible to the group, by name then newest first. `name` filters. */
  list(groupId: string, opts?: { name?: string }): Promise<ModelRecord[]>;
  /**
   * Deletes a trained model version of `groupId` (public, bundled rows are never deleted here). Jobs that
   * referenced it keep their record with `modelId`/`trainedModelId` set to null. Returns the deleted row
   * (so the caller can remove its files under `storageKey`), or null when the group has no such model.
   */
  delete(id: string, groupId: string): Promise<ModelRecord | null>;
}

export interface CreateJobInput {
  type: JobType;
  groupId: string;
  userId: string;
  options?: JsonObject;
  idempotencyKey?: string | null;
  inputStackId?: string | null;
  modelId?: string | null;
}

export interface ListJobsOptions {
  status?: JobStatus | JobStatus[];
  type?: JobType;
  /** 1..200, default 50. */
  limit?: number;
  cursor?: string | null;
}

/** The result stack a restore job produces; it belongs to the job's group and user. */
export interface OutputStackInput {
  /** Chosen by the caller because the storage key is derived from it. */
  id: string;
  name: string;
  storageKey: string;
  meta: StackMetadata;
}

/**
 * The trust report of a restore job (issue 8), recorded with the job's success: its map stacks (owned by the
 * job's group and user, like the result) and the object keys of report.json and preview.png.
 */
export interface OutputReportInput {
  /** float32, frames x LR height x LR width. */
  consistency: OutputStackInput;
  /** float32, output size; only with TTA. */
  uncertainty: OutputStackInput | null;
  reportKey: string;
  previewKey: string;
}

export interface JobReportRecord {
  jobId: string;
  /** null once the map stack was deleted (the report and preview stay). */
  consistencyStackId: string | null;
  uncertaintyStackId: string | null;
  reportKey: string;
  previewKey: string;
  createdAt: Date;
}

/** One labelled row of a Prometheus-style histogram. */
export interface HistogramRow {
  labels: Record<string, string>;
  /** Cumulative counts per bucket bound (same order as the bounds). */
  buckets: number[];
  sum: number;
  count: number;
}

/** Aggregates over all jobs (every group), for `/metrics`. */
export interface JobStatistics {
  byStatus: Record<JobStatus, number>;
  /** Jobs in a final status, by type and status. */
  finished: { type: JobType; status: JobStatus; count: number }[];
  /** Failed jobs by type and error code ('UNKNOWN' when none was recorded). */
  failures: { type: JobType; code: string; count: number }[];
  /** Seconds from first start to finish of finished jobs that started; labels type, status. */
  durations: HistogramRow[];
  /** `metrics.megapixelsPerSecond` of succeeded restore jobs; label provider ('unknown' when absent). */
  restoreThroughput: HistogramRow[];
  /**
   * `metrics.trust` of succeeded restore jobs, per model name ('unknown' when absent): reports computed and
   * unavailable, frames checked and frames flagged out-of-distribution.
   */
  trust: { model: string; reports: number; unavailable: number; frames: number; flaggedFrames: number }[];
}

export interface JobStatisticsOptions {
  /** Upper bounds (seconds) of the duration buckets, increasing. */
  durationBounds?: readonly number[];
  /** Upper bounds (megapixels per second) of the restore throughput buckets, increasing. */
  throughputBounds?: readonly number[];
}

export const DEFAULT_DURATION_BOUNDS: readonly number[] = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600];
export const DEFAULT_THROUGHPUT_BOUNDS: readonly number[] = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250];

export interface JobRepository {
  /**
   * Creates a queued job. With an idempotency key already used by the group, returns that job and
   * `created: false` instead (the caller must not enqueue again).
   */
  create(input: CreateJobInput): Promise<{ job: JobRecord; created: boolean }>;
  /** With `groupId`: null unless the job belongs to that group. */
  get(id: string, groupId?: string): Promise<JobRecord | null>;
  /** Newest first (queuedAt, then id), cursor-paginated. A malformed cursor is INVALID_ARGUMENT. */
  list(groupId: string, opts?: ListJobsOptions): Promise<Page<JobRecord>>;
  /** Queued jobs of every group not updated since `before`, oldest first (for reconciling with the queue). */
  queuedBefore(before: Date, limit: number): Promise<JobRecord[]>;
  /**
   * queued|running -> running (running again when a crashed worker's job is retried); sets startedAt (first
   * time), workerHost, attempts+1. Returns null when the job is canceled, finished or absent: do not run it.
   */
  start(id: string, input: { workerHost: string }): Promise<JobRecord | null>;
  /** Progress 0..1 (clamped) and an optional metrics patch while running; false when the job is no longer running (canceled). */
  progress(id: string, progress: number, metricsPatch?: JsonObject): Promise<boolean>;
  /** Shallow-merges into `metrics` (any status). */
  mergeMetrics(id: string, patch: JsonObject): Promise<void>;
  /** running -> succeeded (progress 1, finishedAt); false if the job was canceled meanwhile (nothing changes). */
  succeed(id: string, input?: { metrics?: JsonObject; outputStackId?: string | null; trainedModelId?: string | null }): Promise<boolean>;
  /**
   * running -> succeeded together with its result stack, in ONE transaction: the stack (status `ready`, owned
   * by the job's group and user), the trust report with its map stacks (when given) and the job's success with
   * `outputStackId` and merged metrics appear together or not at all. Returns false and writes nothing when the job is no longer running (canceled).
   */
  succeedWithOutput(id: string, input: { stack: OutputStackInput; metrics?: JsonObject; report?: OutputReportInput | null }): Promise<boolean>;
  /** The trust report of a job (with `groupId`: only if the job belongs to that group), or null. */
  report(id: string, groupId?: string): Promise<JobReportRecord | null>;
  /**
   * An attempt failed and the queue will retry it: queued|running -> queued, progress 0 (the retry starts
   * over), `metrics.lastError = { attempt, code, message, at }`. `attempts`, `startedAt` and `workerHost`
   * stay; `start` moves it to running again. False (nothing changes) when the job is final or canceled.
   */
  requeue(id: string, input: { attempt: number; code: string; message: string }): Promise<boolean>;
  /** queued|running -> failed with a stable code; false if already final. */
  fail(id: string, input: { code: string; message: string; metrics?: JsonObject }): Promise<boolean>;
  /**
   * queued|running -> canceled (cancelRequested, finishedAt), scoped to the group. Returns the job after the
   * call (unchanged if it was already final), or null if the group has no such job.
   */
  cancel(id: string, groupId: string): Promise<{ job: JobRecord; changed: boolean } | null>;
  /** true when the job is canceled (or absent): a worker polls this to stop early. */
  isCanceled(id: string): Promise<boolean>;
  addMetricPoints(id: string, points: { step: number; name: string; value: number }[]): Promise<void>;
  metricPoints(id: string, opts?: { name?: string }): Promise<MetricPoint[]>;
  /** Jobs by id (any group), in no particular order; unknown ids are left out. */
  getMany(ids: string[]): Promise<JobRecord[]>;
  /** Jobs per status (all groups), for dashboards. */
  countByStatus(): Promise<Record<JobStatus, number>>;
  /** Counts and histograms over all jobs for `/metrics` (bounds default to DEFAULT_*_BOUNDS). */
  statistics(opts?: JobStatisticsOptions): Promise<JobStatistics>;
}

/** What the NOTIFY of a job change says (read the job for the rest). */
export interface JobChange {
  id: string;
  groupId: string;
  status: JobStatus;
  progress: number;
}

export interface JobChangeListener {
  change(change: JobChange): void;
  /** The feed reconnected: changes may have been missed, read the current state again. */
  resync(): void;
}

export interface JobChangeFeed {
  /** `ready` resolves once this process listens (or the first attempt failed and a retry is scheduled). */
  subscribe(listener: JobChangeListener): { ready: Promise<void>; unsubscribe(): void };
  /** True while the LISTEN connection is up. */
  readonly connected: boolean;
  close(): Promise<void>;
}

export interface Db {
  groups: GroupRepository;
  users: UserRepository;
  apiKeys: ApiKeyRepository;
  sessions: SessionRepository;
  stacks: StackRepository;
  uploads: UploadRepository;
  models: ModelRepository;
  jobs: JobRepository;
  /** Job inserts and updates as they happen (Postgres LISTEN/NOTIFY; one connection, opened on first use). */
  jobChanges: JobChangeFeed;
  /** Resolves when the database answers `SELECT 1` (for /ready); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface MigrateResult {
  /** Migrations applied by this call, in order. */
  applied: string[];
  /** Migrations found already applied. */
  skipped: string[];
}
