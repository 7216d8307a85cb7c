import { Prisma, type PrismaClient } from '../generated/client.js';
import type { StackRepository, UploadRepository } from '../types.js';
import { decodeCursor, encodeCursor, isUuid, pageLimit, toStack, toUpload } from './map.js';

export function stackRepository(prisma: PrismaClient): StackRepository {
  return {
    async create({ id, groupId, userId, name, storageKey }) {
      const row = await prisma.stack.create({
        data: { ...(id ? { id } : {}), groupId, userId: userId ?? null, name, storageKey },
      });
      return toStack(row);
    },

    async markReady(id, meta) {
      const { count } = await prisma.stack.updateMany({
        where: { id, status: 'uploading' },
        data: {
          status: 'ready',
          frames: meta.frames,
          height: meta.height,
          width: meta.width,
          dtype: meta.dtype,
          axis: meta.axis,
          pixelSizeX: meta.pixelSizeX ?? null,
          pixelSizeY: meta.pixelSizeY ?? null,
          pixelUnit: meta.pixelUnit ?? null,
          channels: meta.channels ?? 1,
          sha256: meta.sha256,
          bytes: BigInt(meta.bytes),
        },
      });
      if (count === 0) return null;
      const row = await prisma.stack.findUnique({ where: { id } });
      return row ? toStack(row) : null;
    },

    async markFailed(id) {
      await prisma.stack.updateMany({ where: { id, status: 'uploading' }, data: { status: 'failed' } });
    },

    async get(id, groupId) {
      if (!isUuid(id)) return null;
      const row = await prisma.stack.findUnique({ where: { id } });
      if (!row || (groupId !== undefined && row.groupId !== groupId)) return null;
      return toStack(row);
    },

    async list(groupId, opts = {}) {
      const limit = pageLimit(opts.limit);
      if (!isUuid(groupId)) return { items: [], nextCursor: null };
      const c = opts.cursor ? decodeCursor(opts.cursor) : null;
      const rows = await prisma.stack.findMany({
        where: {
          groupId,
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.nameContains ? { name: { contains: opts.nameContains, mode: 'insensitive' as const } } : {}),
          ...(opts.createdAfter || opts.createdBefore
            ? { createdAt: { ...(opts.createdAfter ? { gte: opts.createdAfter } : {}), ...(opts.createdBefore ? { lt: opts.createdBefore } : {}) } }
            : {}),
          ...(c ? { OR: [{ createdAt: { lt: c.at } }, { createdAt: c.at, id: { lt: c.id } }] } : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit + 1,
      });
      const items = rows.slice(0, limit).map(toStack);
      const last = items[items.length - 1];
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
    },

    async delete(id) {
      if (!isUuid(id)) return;
      await prisma.$transaction([
        prisma.upload.deleteMany({ where: { stackId: id } }),
        prisma.stack.deleteMany({ where: { id } }),
      ]);
    },

    async usage(groupId) {
      if (!isUuid(groupId)) return 0;
      const rows = await prisma.$queryRaw<{ bytes: bigint | number | null }[]>`
        SELECT COALESCE(SUM(COALESCE(s.bytes, u.bytes, 0)), 0)::bigint AS bytes
        FROM "Stack" s LEFT JOIN "Upload" u ON u."stackId" = s.id AND u."completedAt" IS NULL
        WHERE s."groupId" = ${groupId}::uuid AND s.status <> 'failed'`;
      return Number(rows[0]?.bytes ?? 0);
    },

    async activeJobs(id) {
      if (!isUuid(id)) return [];
      const rows = await prisma.$queryRaw<{ id: string }[]>`${activeJobsOf(id)}`;
      return rows.map((r) => r.id);
    },

    async deleteUnused(id, groupId) {
      if (!isUuid(id) || !isUuid(groupId)) return null;
      return prisma.$transaction(async (tx) => {
        // Lock the row so a concurrent delete waits; jobs are checked inside the same transaction.
        const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Stack" WHERE id = ${id}::uuid AND "groupId" = ${groupId}::uuid FOR UPDATE`;
        if (locked.length === 0) return null;
        const jobs = await tx.$queryRaw<{ id: string }[]>`${activeJobsOf(id)}`;
        if (jobs.length > 0) return { inUse: jobs.map((j) => j.id) };
        const row = await tx.stack.findUnique({ where: { id } });
        // A trust report describes its job's result: it goes with it.
        const reports = await tx.$queryRaw<{ reportKey: string; previewKey: string }[]>`
          DELETE FROM "JobReport" r USING "Job" j WHERE r."jobId" = j.id AND j."outputStackId" = ${id}::uuid
          RETURNING r."reportKey", r."previewKey"`;
        await tx.upload.deleteMany({ where: { stackId: id } });
        await tx.stack.delete({ where: { id } });
        return row ? { deleted: toStack(row), reportObjects: reports.flatMap((r) => [r.reportKey, r.previewKey]) } : null;
      });
    },

    async listExpired(before, limit) {
      const rows = await prisma.$queryRaw<{ id: string }[]>`
        SELECT s.id FROM "Stack" s
        WHERE s."createdAt" < ${before} AND NOT EXISTS (
          SELECT 1 FROM "Job" j WHERE j.status IN ('queued', 'running')
            AND (j."inputStackId" = s.id OR j.options->'stackIds' ? s.id::text))
        ORDER BY s."createdAt" ASC LIMIT ${limit}`;
      if (rows.length === 0) return [];
      const stacks = await prisma.stack.findMany({ where: { id: { in: rows.map((r) => r.id) } }, orderBy: { createdAt: 'asc' } });
      return stacks.map(toStack);
    },
  };
}

/** Queued or running jobs that read stack `id` (a restore's input, or any of a train job's stackIds). */
function activeJobsOf(id: string): Prisma.Sql {
  return Prisma.sql`SELECT id FROM "Job" WHERE status IN ('queued', 'running')
    AND ("inputStackId" = ${id}::uuid OR options->'stackIds' ? ${id}) ORDER BY "queuedAt"`;
}

export function uploadRepository(prisma: PrismaClient): UploadRepository {
  const withGroup = { stack: { select: { groupId: true } } } as const;
  return {
    async create(input) {
      const row = await prisma.upload.create({
        data: { ...input, bytes: BigInt(input.bytes) },
        include: withGroup,
      });
      return toUpload(row);
    },

    async get(id, groupId) {
      if (!isUuid(id)) return null;
      const row = await prisma.upload.findUnique({ where: { id }, include: withGroup });
      if (!row || (groupId !== undefined && row.stack.groupId !== groupId)) return null;
      return toUpload(row);
    },

    async listForStack(stackId) {
      if (!isUuid(stackId)) return [];
      const rows = await prisma.upload.findMany({ where: { stackId }, include: withGroup });
      return rows.map(toUpload);
    },

    async markCompleted(id) {
      if (!isUuid(id)) return false;
      const { count } = await prisma.upload.updateMany({ where: { id, completedAt: null }, data: { completedAt: new Date() } });
      return count > 0;
    },

    async listStale(before) {
      const rows = await prisma.upload.findMany({
        where: { completedAt: null, createdAt: { lt: before } },
        include: withGroup,
        orderBy: { createdAt: 'asc' },
      });
      return rows.map(toUpload);
    },

    async delete(id) {
      if (!isUuid(id)) return;
      await prisma.upload.deleteMany({ where: { id } });
    },
  };
}
