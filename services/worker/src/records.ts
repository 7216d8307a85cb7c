/**
 * Recording a finished restore atomically: the result stack and the job's success appear in ONE transaction,
 * so a worker killed at any point leaves either nothing or a complete, linked result. The repositories of
 * @pssr/db have no such combined call yet; this thin adapter runs plain SQL through the raw client that
 * @pssr/db exposes for what its repositories do not cover (no Prisma import here).
 */
import type { DbWithClient, JsonObject, StackMetadata } from '@pssr/db';

export interface RestoreResult {
  jobId: string;
  groupId: string;
  userId: string;
  stackId: string;
  name: string;
  storageKey: string;
  meta: StackMetadata;
  metrics: JsonObject;
}

interface TxClient {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

class NotRunning extends Error {}

/** true when recorded; false when the job was no longer running (canceled meanwhile): nothing was written. */
export async function commitRestoreResult(db: DbWithClient, r: RestoreResult): Promise<boolean> {
  const prisma = db.prisma as unknown as { $transaction<T>(fn: (tx: TxClient) => Promise<T>): Promise<T> };
  try {
    await prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(
        `INSERT INTO "Stack" (id, "groupId", "userId", name, status, "storageKey", frames, height, width, dtype, axis,
           "pixelSizeX", "pixelSizeY", "pixelUnit", sha256, bytes, "createdAt")
         VALUES ($1::uuid, $2::uuid, $3::uuid, $4, 'ready', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())`,
        r.stackId,
        r.groupId,
        r.userId,
        r.name,
        r.storageKey,
        r.meta.frames,
        r.meta.height,
        r.meta.width,
        r.meta.dtype,
        r.meta.axis,
        r.meta.pixelSizeX ?? null,
        r.meta.pixelSizeY ?? null,
        r.meta.pixelUnit ?? null,
        r.meta.sha256,
        BigInt(r.meta.bytes),
      );
      const n = await tx.$executeRawUnsafe(
        `UPDATE "Job" SET status = 'succeeded', progress = 1, "finishedAt" = now(), "updatedAt" = now(),
           metrics = metrics || $2::jsonb, "outputStackId" = $3::uuid
         WHERE id = $1::uuid AND status = 'running'`,
        r.jobId,
        JSON.stringify(r.metrics),
        r.stackId,
      );
      if (n === 0) throw new NotRunning();
    });
    return true;
  } catch (err) {
    if (err instanceof NotRunning) return false;
    throw err;
  }
}
