import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '../generated/client.js';
import type { SessionRepository } from '../types.js';
import { toGroup, toUser } from './map.js';

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Dashboard sessions: the browser holds a random 256-bit token (in an HttpOnly cookie), the database its
 * sha256, so a leaked table cannot sign anyone in. A session lives until it expires, is signed out, or its
 * API key is revoked (checked on every lookup).
 */
export function sessionRepository(prisma: PrismaClient): SessionRepository {
  return {
    async create({ apiKeyId, ttlMs }) {
      const token = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(32).toString('base64url');
      const row = await prisma.session.create({
        data: { tokenHash: hashToken(token), apiKeyId, csrfToken, expiresAt: new Date(Date.now() + ttlMs) },
      });
      return { token, session: { id: row.id, csrfToken, expiresAt: row.expiresAt } };
    },

    async authenticate(token) {
      if (!TOKEN_FORMAT.test(token)) return null;
      const row = await prisma.session.findUnique({
        where: { tokenHash: hashToken(token) },
        include: { apiKey: { include: { user: { include: { group: true } } } } },
      });
      if (!row || row.revokedAt !== null || row.expiresAt.getTime() <= Date.now() || row.apiKey.revokedAt !== null) return null;
      const { user } = row.apiKey;
      return {
        auth: { user: toUser(user), group: toGroup(user.group), isAdmin: user.isAdmin, keyId: row.apiKeyId },
        session: { id: row.id, csrfToken: row.csrfToken, expiresAt: row.expiresAt },
      };
    },

    async revoke(token) {
      if (!TOKEN_FORMAT.test(token)) return false;
      const { count } = await prisma.session.updateMany({ where: { tokenHash: hashToken(token), revokedAt: null }, data: { revokedAt: new Date() } });
      return count > 0;
    },

    async deleteExpired(before) {
      const { count } = await prisma.session.deleteMany({ where: { OR: [{ expiresAt: { lt: before } }, { revokedAt: { lt: before } }] } });
      return count;
    },
  };
}
