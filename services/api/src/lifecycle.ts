/**
 * Stored data has a lifecycle: a per-group storage quota (GROUP_STORAGE_QUOTA), deletion of a stack with its
 * object and, for a restore's result, its trust report (refused while a queued or running job reads it), and a retention sweep (STACK_RETENTION_DAYS) that
 * deletes stacks older than that no job needs. Each replica may run the sweep: deletion is one transaction
 * per stack, so two sweeps never delete a stack twice.
 */
import type { FastifyInstance } from 'fastify';
import type { StackRecord } from '@pssr/db';
import { ApiError, notFound } from './errors.js';

const GiB = 2 ** 30;
const size = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

/**
 * 413 STORAGE_QUOTA_EXCEEDED when the group's stacks plus `incoming` bytes pass the quota (0 = unlimited).
 * With `incoming` 0 it refuses only a group already at its quota.
 */
export async function ensureQuota(app: FastifyInstance, groupId: string, incoming: number, status = 413): Promise<void> {
  const quota = app.config.stackStorage.groupQuotaBytes;
  if (quota <= 0) return;
  const used = await app.db.stacks.usage(groupId);
  if (used + incoming > quota || (incoming === 0 && used >= quota)) {
    throw new ApiError(
      status,
      'STORAGE_QUOTA_EXCEEDED',
      `Your group stores ${size(used)} of its ${size(quota)} quota${incoming ? `; this stack (${size(incoming)}) does not fit` : ''}. ` +
        'Delete stacks you no longer need (DELETE /v1/stacks/:id) or ask an admin to raise GROUP_STORAGE_QUOTA.',
      { usedBytes: used, quotaBytes: quota },
    );
  }
}

/**
 * Removes a stack's stored object, any unfinished multipart upload of it and the objects of the trust report
 * that went with it (best effort, logged).
 */
async function removeObjects(app: FastifyInstance, stack: StackRecord, s3UploadIds: string[], reportObjects: string[]): Promise<void> {
  for (const id of s3UploadIds) await app.store.abortMultipartUpload(stack.storageKey, id).catch(() => undefined);
  for (const key of [stack.storageKey, ...reportObjects]) {
    await app.store.delete(key).catch((err: unknown) => app.log.warn({ err, key }, 'could not delete a stored object'));
  }
}

/** Deletes a group's stack and its object; 409 STACK_IN_USE while a queued or running job reads it. */
export async function deleteStack(app: FastifyInstance, id: string, groupId: string): Promise<StackRecord> {
  const pendingUploads = (await app.db.uploads.listForStack(id)).filter((u) => u.completedAt === null).map((u) => u.s3UploadId);
  const result = await app.db.stacks.deleteUnused(id, groupId);
  if (!result) throw notFound('stack', id);
  if ('inUse' in result) {
    throw new ApiError(409, 'STACK_IN_USE', `Stack ${id} is read by ${result.inUse.length} queued or running job(s) (${result.inUse.join(', ')}); cancel them or wait until they finish.`, { jobs: result.inUse });
  }
  await removeObjects(app, result.deleted, pendingUploads, result.reportObjects);
  return result.deleted;
}

/** Deletes stacks older than `retentionDays` that no queued or running job reads; returns how many. */
export async function sweepExpiredStacks(app: FastifyInstance, retentionDays: number, batch = 200): Promise<number> {
  const before = new Date(Date.now() - retentionDays * 86_400_000);
  let deleted = 0;
  for (;;) {
    const expired = await app.db.stacks.listExpired(before, batch);
    let progress = 0;
    for (const stack of expired) {
      const pendingUploads = (await app.db.uploads.listForStack(stack.id)).filter((u) => u.completedAt === null).map((u) => u.s3UploadId);
      const result = await app.db.stacks.deleteUnused(stack.id, stack.groupId);
      if (result && 'deleted' in result) {
        await removeObjects(app, result.deleted, pendingUploads, result.reportObjects);
        progress++;
      }
    }
    deleted += progress;
    if (expired.length < batch || progress === 0) break;
  }
  if (deleted) app.log.info({ stacks: deleted, retentionDays }, 'retention: deleted expired stacks');
  return deleted;
}
