import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '../generated/client.js';
import type { ApiKeyRepository } from '../types.js';
import { isUniqueViolation } from '../errors.js';
import { groupRepository, userRepository } from './groups.js';
import { isUuid, toApiKey, toGroup, toUser } from './map.js';

/** Characters of the key stored in clear as the lookup prefix (`pssr_` + 8 hex). */
export const API_KEY_PREFIX_LENGTH = 13;
const KEY_FORMAT = /^pssr_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;
/** lastUsedAt is refreshed at most this often, so authentication is not a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

function newKey(): { key: string; prefix: string } {
  const prefix = `pssr_${randomBytes(4).toString('hex')}`;
  return { key: `${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

export function apiKeyRepository(prisma: PrismaClient): ApiKeyRepository {
  const repo: ApiKeyRepository = {
    async create(userId) {
      // The 32-bit prefix can collide; the unique index says so and we draw again.
      for (let attempt = 0; ; attempt++) {
        const { key, prefix } = newKey();
        try {
          const row = await prisma.apiKey.create({ data: { userId, prefix, hash: hashApiKey(key) } });
          return { key, record: toApiKey(row) };
        } catch (err) {
          if (!isUniqueViolation(err) || attempt >= 4) throw err;
        }
      }
    },

    async issue({ group, user, isAdmin }) {
      const g = await groupRepository(prisma).ensure(group);
      const u = await userRepository(prisma).ensure(
        isAdmin === undefined ? { groupId: g.id, name: user } : { groupId: g.id, name: user, isAdmin },
      );
      const { key, record } = await repo.create(u.id);
      return { key, record, user: u, group: g };
    },

    async authenticate(key) {
      if (!KEY_FORMAT.test(key)) return null;
      const row = await prisma.apiKey.findUnique({
        where: { prefix: key.slice(0, API_KEY_PREFIX_LENGTH) },
        include: { user: { include: { group: true } } },
      });
      if (!row || row.revokedAt !== null) return null;
      const expected = Buffer.from(row.hash, 'hex');
      const actual = Buffer.from(hashApiKey(key), 'hex');
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
      const now = new Date();
      if (row.lastUsedAt === null || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
        await prisma.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: now } }).catch(() => {});
      }
      return { user: toUser(row.user), group: toGroup(row.user.group), isAdmin: row.user.isAdmin, keyId: row.id };
    },

    async revoke(keyOrPrefixOrId) {
      const s = keyOrPrefixOrId.trim();
      const where = isUuid(s)
        ? { id: s }
        : s.startsWith('pssr_') && s.length >= API_KEY_PREFIX_LENGTH
          ? { prefix: s.slice(0, API_KEY_PREFIX_LENGTH) }
          : null;
      if (!where) return false;
      const { count } = await prisma.apiKey.updateMany({ where: { ...where, revokedAt: null }, data: { revokedAt: new Date() } });
      return count > 0;
    },

    async listForUser(userId) {
      if (!isUuid(userId)) return [];
      const rows = await prisma.apiKey.findMany({ where: { userId }, orderBy: { createdAt: 'desc' } });
      return rows.map(toApiKey);
    },
  };
  return repo;
}
