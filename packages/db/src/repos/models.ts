import type { Prisma, PrismaClient } from '../generated/client.js';
import type { ModelRepository } from '../types.js';
import { isUuid, toModel } from './map.js';

/**
 * Registration is serialised per model name with a transaction-scoped advisory lock: the unique index on
 * (name, version, groupId) cannot stop duplicates of public rows (NULL groupId values are distinct in
 * Postgres), and the next trained version number must be read and written atomically.
 */
async function lockName(tx: Prisma.TransactionClient, scope: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`pssr:model:${scope}`}))`;
}

export function modelRepository(prisma: PrismaClient): ModelRepository {
  return {
    async registerBundled({ name, version, sha256, card, storageKey }) {
      const row = await prisma.$transaction(async (tx) => {
        await lockName(tx, `public:${name}`);
        const existing = await tx.model.findFirst({ where: { name, version, groupId: null } });
        const data = { sha256, card: card as Prisma.InputJsonObject, storageKey: storageKey ?? null };
        return existing
          ? tx.model.update({ where: { id: existing.id }, data })
          : tx.model.create({ data: { name, version, groupId: null, ...data } });
      });
      return toModel(row);
    },

    async registerTrained({ groupId, name, version, sha256, card, storageKey, jobId }) {
      const row = await prisma.$transaction(async (tx) => {
        await lockName(tx, `${groupId}:${name}`);
        let v = version;
        if (v === undefined) {
          const rows = await tx.model.findMany({ where: { groupId, name }, select: { version: true } });
          const max = rows.reduce((m, r) => (/^\d+$/.test(r.version) ? Math.max(m, Number(r.version)) : m), 0);
          v = String(max + 1);
        }
        const created = await tx.model.create({
          data: { groupId, name, version: v, sha256, card: card as Prisma.InputJsonObject, storageKey },
        });
        if (jobId !== undefined) {
          await tx.job.updateMany({ where: { id: jobId, groupId }, data: { trainedModelId: created.id } });
        }
        return created;
      });
      return toModel(row);
    },

    async resolve(name, groupId, version) {
      const v = version === undefined ? {} : { version };
      const order = [{ createdAt: 'desc' as const }, { id: 'desc' as const }];
      if (isUuid(groupId)) {
        const own = await prisma.model.findFirst({ where: { name, groupId, ...v }, orderBy: order });
        if (own) return toModel(own);
      }
      const pub = await prisma.model.findFirst({ where: { name, groupId: null, ...v }, orderBy: order });
      return pub ? toModel(pub) : null;
    },

    async get(id, groupId) {
      if (!isUuid(id)) return null;
      const row = await prisma.model.findUnique({ where: { id } });
      if (!row) return null;
      if (groupId !== undefined && row.groupId !== null && row.groupId !== groupId) return null;
      return toModel(row);
    },

    async list(groupId, opts = {}) {
      const visible = isUuid(groupId) ? [{ groupId: null }, { groupId }] : [{ groupId: null }];
      const rows = await prisma.model.findMany({
        where: { OR: visible, ...(opts.name !== undefined ? { name: opts.name } : {}) },
        orderBy: [{ name: 'asc' }, { createdAt: 'desc' }, { id: 'desc' }],
      });
      return rows.map(toModel);
    },

    async delete(id, groupId) {
      // Only a group's own trained versions: a public (bundled) row has groupId null and never matches.
      if (!isUuid(id) || !isUuid(groupId)) return null;
      const row = await prisma.$transaction(async (tx) => {
        const found = await tx.model.findFirst({ where: { id, groupId } });
        if (!found) return null;
        // Job.modelId / Job.trainedModelId are ON DELETE SET NULL: the jobs' records stay.
        const { count } = await tx.model.deleteMany({ where: { id, groupId } });
        return count > 0 ? found : null;
      });
      return row ? toModel(row) : null;
    },
  };
}
