import type { PrismaClient } from '../generated/client.js';
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
  };
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
