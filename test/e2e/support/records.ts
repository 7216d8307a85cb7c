/** Stacks and jobs made directly through @pssr/db and the object store (for worker tests without the API). */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Db, JobRecord, StackRecord } from '@pssr/db';
import type { ObjectStore } from '@pssr/storage';
import type { Producer } from '@pssr/queue';
import { inspectTiff } from '@pssr/tiff';
import { waitFor } from './env.js';

/** Stores a TIFF as a ready stack of the group (as the API's upload does). */
export async function putStack(db: Db, store: ObjectStore, groupId: string, path: string, name = 'stack.tif'): Promise<StackRecord> {
  const id = randomUUID();
  const key = `stacks/${groupId}/${id}.tif`;
  const bytes = await readFile(path);
  await store.putFile(key, path);
  const info = await inspectTiff(path);
  await db.stacks.create({ id, groupId, name, storageKey: key });
  const ready = await db.stacks.markReady(id, {
    frames: info.frames,
    height: info.height,
    width: info.width,
    dtype: info.dtype,
    axis: info.axis,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
  });
  return ready!;
}

export async function submitJob(
  db: Db,
  producer: Producer,
  input: { type: 'restore' | 'train'; groupId: string; userId: string; inputStackId?: string; modelId?: string; options?: Record<string, unknown> },
): Promise<JobRecord> {
  const { job } = await db.jobs.create({
    type: input.type,
    groupId: input.groupId,
    userId: input.userId,
    options: input.options ?? {},
    inputStackId: input.inputStackId ?? null,
    modelId: input.modelId ?? null,
  });
  await producer.enqueue(input.type, job.id, input.groupId);
  return job;
}

/** The job once it is succeeded, failed or canceled (polled). */
export function finishedJob(db: Db, id: string, timeoutMs = 60_000): Promise<JobRecord> {
  return waitFor(async () => {
    const j = await db.jobs.get(id);
    return j && ['succeeded', 'failed', 'canceled'].includes(j.status) ? j : undefined;
  }, { timeoutMs, intervalMs: 150, what: `job ${id} to finish` });
}
