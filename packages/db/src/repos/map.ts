import { PssrError } from '@pssr/core';
import type * as P from '../generated/client.js';
import type {
  ApiKeyRecord, GroupRecord, JobRecord, JsonObject, ModelRecord, StackRecord, UploadRecord, UserRecord,
} from '../types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids come from URLs: anything that is not a UUID cannot name a row (and would make Postgres throw). */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

export function asJsonObject(v: unknown): JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {};
}

function toNumber(v: bigint | null): number | null {
  return v === null ? null : Number(v);
}

export const toGroup = (g: P.Group): GroupRecord => ({ id: g.id, name: g.name, createdAt: g.createdAt });

export const toUser = (u: P.User): UserRecord => ({
  id: u.id, name: u.name, groupId: u.groupId, isAdmin: u.isAdmin, createdAt: u.createdAt,
});

export const toApiKey = (k: P.ApiKey): ApiKeyRecord => ({
  id: k.id, userId: k.userId, prefix: k.prefix, createdAt: k.createdAt, revokedAt: k.revokedAt, lastUsedAt: k.lastUsedAt,
});

export const toStack = (s: P.Stack): StackRecord => ({
  id: s.id, groupId: s.groupId, userId: s.userId, name: s.name, status: s.status, storageKey: s.storageKey,
  frames: s.frames, height: s.height, width: s.width, dtype: s.dtype, axis: s.axis,
  pixelSizeX: s.pixelSizeX, pixelSizeY: s.pixelSizeY, pixelUnit: s.pixelUnit, channels: s.channels, sha256: s.sha256,
  bytes: toNumber(s.bytes), createdAt: s.createdAt,
});

export const toUpload = (u: P.Upload & { stack: { groupId: string } }): UploadRecord => ({
  id: u.id, stackId: u.stackId, groupId: u.stack.groupId, s3UploadId: u.s3UploadId, storageKey: u.storageKey,
  partSize: u.partSize, parts: u.parts, bytes: Number(u.bytes), createdAt: u.createdAt, completedAt: u.completedAt,
});

export const toModel = (m: P.Model): ModelRecord => ({
  id: m.id, name: m.name, version: m.version, groupId: m.groupId, card: asJsonObject(m.card), sha256: m.sha256,
  storageKey: m.storageKey, createdAt: m.createdAt,
});

export const toJob = (j: P.Job): JobRecord => ({
  id: j.id, type: j.type, status: j.status, progress: j.progress, groupId: j.groupId, userId: j.userId,
  options: asJsonObject(j.options), idempotencyKey: j.idempotencyKey, inputStackId: j.inputStackId,
  outputStackId: j.outputStackId, modelId: j.modelId, trainedModelId: j.trainedModelId,
  metrics: asJsonObject(j.metrics), errorCode: j.errorCode, errorMessage: j.errorMessage, attempts: j.attempts,
  cancelRequested: j.cancelRequested, workerHost: j.workerHost, queuedAt: j.queuedAt, startedAt: j.startedAt,
  finishedAt: j.finishedAt, updatedAt: j.updatedAt,
});

/** Opaque keyset cursor: the (timestamp, id) of the last row of a page. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string' && isUuid(v[1])) {
      const at = new Date(v[0]);
      if (!Number.isNaN(at.getTime())) return { at, id: v[1] };
    }
  } catch {
    // fall through
  }
  throw new PssrError('INVALID_ARGUMENT', 'cursor is not valid: pass back the nextCursor of a previous page unchanged');
}

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
    throw new PssrError('INVALID_ARGUMENT', `limit must be an integer from 1 to 200 (got ${limit})`);
  }
  return limit;
}
