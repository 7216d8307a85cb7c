import type { PrismaClient } from '../generated/client.js';
import type { GroupRepository, UserRepository } from '../types.js';
import { isUniqueViolation } from '../errors.js';
import { isUuid, toGroup, toUser } from './map.js';

/** Upsert that survives two concurrent creators: the loser of the unique race reads the winner's row. */
async function retryOnUnique<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    return fn();
  }
}

export function groupRepository(prisma: PrismaClient): GroupRepository {
  return {
    async ensure(name) {
      const g = await retryOnUnique(() => prisma.group.upsert({ where: { name }, create: { name }, update: {} }));
      return toGroup(g);
    },
    async get(id) {
      if (!isUuid(id)) return null;
      const g = await prisma.group.findUnique({ where: { id } });
      return g ? toGroup(g) : null;
    },
    async getByName(name) {
      const g = await prisma.group.findUnique({ where: { name } });
      return g ? toGroup(g) : null;
    },
  };
}

export function userRepository(prisma: PrismaClient): UserRepository {
  return {
    async ensure({ groupId, name, isAdmin }) {
      const u = await retryOnUnique(() =>
        prisma.user.upsert({
          where: { groupId_name: { groupId, name } },
          create: { groupId, name, isAdmin: isAdmin ?? false },
          update: isAdmin === undefined ? {} : { isAdmin },
        }),
      );
      return toUser(u);
    },
    async get(id) {
      if (!isUuid(id)) return null;
      const u = await prisma.user.findUnique({ where: { id } });
      return u ? toUser(u) : null;
    },
    async getByName(groupId, name) {
      if (!isUuid(groupId)) return null;
      const u = await prisma.user.findUnique({ where: { groupId_name: { groupId, name } } });
      return u ? toUser(u) : null;
    },
    async list(groupId) {
      if (!isUuid(groupId)) return [];
      const rows = await prisma.user.findMany({ where: { groupId }, orderBy: { name: 'asc' } });
      return rows.map(toUser);
    },
  };
}
