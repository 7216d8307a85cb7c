/**
 * `pssr admin create-key --group LAB --user NAME [--admin]` and `pssr admin revoke-key KEY_OR_PREFIX`: API
 * keys of the restoration service, straight in Postgres (the service stores only their sha256). create-key
 * prints the new key as its LAST line, so scripts can take it with `| tail -n1`.
 */
import type { Command } from 'commander';
import { PssrError } from '@pssr/core';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@ -]{0,99}$/;

export interface AdminIo {
  out: (line: string) => void;
  /** From the configuration (DATABASE_URL); `--database-url` wins. */
  databaseUrl: string;
}

function checkName(what: string, value: string): string {
  const v = value.trim();
  if (!NAME_RE.test(v)) {
    throw new PssrError('INVALID_ARGUMENT', `--${what} "${value}" is not allowed: 1-100 characters, letters, digits, space and . _ @ - (starting with a letter or digit).`);
  }
  return v;
}

async function withDb<T>(url: string, migrateFirst: boolean, fn: (db: import('@pssr/db').Db) => Promise<T>): Promise<T> {
  const { createDb, migrate, isDbUnavailableError } = await import('@pssr/db');
  try {
    if (migrateFirst) await migrate(url);
  } catch (err) {
    if (isDbUnavailableError(err) || /ECONNREFUSED|ENOTFOUND|timeout/i.test(String((err as Error)?.message))) {
      throw new PssrError('INVALID_ARGUMENT', `Cannot reach the database at ${redact(url)}: is Postgres running and DATABASE_URL right?`);
    }
    throw err;
  }
  const db = createDb(url, { poolSize: 1 });
  try {
    return await fn(db);
  } catch (err) {
    if (isDbUnavailableError(err)) throw new PssrError('INVALID_ARGUMENT', `Cannot reach the database at ${redact(url)}: is Postgres running and DATABASE_URL right?`);
    throw err;
  } finally {
    await db.close();
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

export function registerAdminCommands(program: Command, io: AdminIo): void {
  const admin = program.command('admin').description('administer the restoration service: API keys (Postgres from --database-url or $DATABASE_URL)');

  admin
    .command('create-key')
    .description('create the group and user if needed, then print a new API key (the last line of the output)')
    .requiredOption('--group <name>', 'the lab the user belongs to (sees its stacks, jobs and models)')
    .requiredOption('--user <name>', 'the person or instrument the key is for')
    .option('--admin', 'the key may open the queue dashboard (/admin/queues)', false)
    .option('--database-url <url>', 'Postgres URL (default: $DATABASE_URL, else the local test database)')
    .option('--no-migrate', 'do not apply pending database migrations first')
    .action(async (o: { group: string; user: string; admin: boolean; databaseUrl?: string; migrate: boolean }) => {
      const group = checkName('group', o.group);
      const user = checkName('user', o.user);
      const url = o.databaseUrl ?? io.databaseUrl;
      const issued = await withDb(url, o.migrate, (db) => db.apiKeys.issue({ group, user, isAdmin: o.admin }));
      io.out(`group ${issued.group.name} (${issued.group.id})`);
      io.out(`user ${issued.user.name} (${issued.user.id})${issued.user.isAdmin ? ' admin' : ''}`);
      io.out(`key prefix ${issued.record.prefix}: shown once, stored only as a hash; send it as "Authorization: Bearer <key>"`);
      io.out(issued.key);
    });

  admin
    .command('revoke-key')
    .description('revoke an API key, given the key itself, its prefix (pssr_xxxxxxxx) or its id')
    .argument('<keyOrPrefix>', 'the key, its prefix or its id')
    .option('--database-url <url>', 'Postgres URL (default: $DATABASE_URL, else the local test database)')
    .action(async (keyOrPrefix: string, o: { databaseUrl?: string }) => {
      const url = o.databaseUrl ?? io.databaseUrl;
      const revoked = await withDb(url, false, (db) => db.apiKeys.revoke(keyOrPrefix.trim()));
      if (!revoked) throw new PssrError('INVALID_ARGUMENT', `No live API key matches "${keyOrPrefix.slice(0, 13)}": it is unknown or already revoked.`);
      io.out(`revoked ${keyOrPrefix.slice(0, 13)}`);
    });
}
