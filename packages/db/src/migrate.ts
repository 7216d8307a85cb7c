import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PssrError } from '@pssr/core';
import type { MigrateResult } from './types.js';
import { quoteIdent, splitDatabaseUrl } from './url.js';

export interface MigrateOptions {
  /** Postgres schema to migrate (created if absent); default: the URL's `?schema=`, else `public`. */
  schema?: string;
  /** Folder of `<timestamp>_<name>/migration.sql` (default: the repository's prisma/migrations). */
  migrationsDir?: string;
  log?: (message: string) => void;
}

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 hex of the file's bytes, as Prisma records it. */
  checksum: string;
}

/** The lock id Prisma's schema engine takes, so this runner and `prisma migrate deploy` exclude each other. */
const PRISMA_ADVISORY_LOCK_ID = 72707369;

const DEFAULT_MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../prisma/migrations');

// The table exactly as Prisma creates it, so either tool can take over a database.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export function migrationChecksum(sql: string | Buffer): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** The migration folders in apply order (Prisma sorts folder names lexicographically). */
export async function listMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const out: MigrationFile[] = [];
  for (const name of names) {
    const file = join(dir, name, 'migration.sql');
    const exists = await stat(file).then((s) => s.isFile(), () => false);
    if (!exists) continue;
    const bytes = await readFile(file);
    out.push({ name, sql: bytes.toString('utf8'), checksum: migrationChecksum(bytes) });
  }
  return out;
}

interface AppliedRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** Prisma accepts a file whose line endings changed since it was applied; so do we. */
function sameChecksum(recorded: string, sql: string): boolean {
  return (
    recorded === migrationChecksum(sql) ||
    recorded === migrationChecksum(sql.replace(/\r\n/g, '\n')) ||
    recorded === migrationChecksum(sql.replace(/\r?\n/g, '\r\n'))
  );
}

/**
 * Applies pending Prisma-format migrations in order, each in its own transaction (a failing migration leaves
 * no trace), recording them in `_prisma_migrations` as `prisma migrate deploy` does. Holds Prisma's advisory
 * lock so concurrent starters (API and worker booting together) apply each migration once. Refuses when an
 * applied migration's file changed, or when the table records a failed migration (as Prisma does, P3009).
 */
export async function migrate(databaseUrl: string, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const { connectionString, schema } = splitDatabaseUrl(databaseUrl, opts.schema);
  const log = opts.log ?? (() => {});
  const migrations = await listMigrations(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const client = new pg.Client({ connectionString });
  await client.connect();
  const result: MigrateResult = { applied: [], skipped: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_ID]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      await client.query(`SET search_path TO ${quoteIdent(schema)}`);
      await client.query(CREATE_MIGRATIONS_TABLE);
      const { rows } = await client.query<AppliedRow>(
        'SELECT id, checksum, migration_name, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
      );
      const failed = rows.find((r) => r.finished_at === null && r.rolled_back_at === null);
      if (failed) {
        throw new PssrError(
          'INTERNAL',
          `Migration ${failed.migration_name} is recorded as failed in schema "${schema}"; ` +
            'fix the database and mark it rolled back (prisma migrate resolve) before migrating again.',
          false,
        );
      }
      const applied = new Map<string, AppliedRow>();
      for (const r of rows) if (r.finished_at !== null && r.rolled_back_at === null) applied.set(r.migration_name, r);
      const local = new Set(migrations.map((m) => m.name));
      for (const name of applied.keys()) {
        if (!local.has(name)) log(`migration ${name} is applied in the database but missing from the migrations folder`);
      }
      for (const m of migrations) {
        const row = applied.get(m.name);
        if (row) {
          if (!sameChecksum(row.checksum, m.sql)) {
            throw new PssrError(
              'INTERNAL',
              `Migration ${m.name} was modified after it was applied to schema "${schema}" (checksum differs). ` +
                'Restore the file and add a new migration instead.',
              false,
            );
          }
          result.skipped.push(m.name);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(
            'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
            [randomUUID(), m.checksum, m.name],
          );
          await client.query(m.sql); // simple protocol: a multi-statement script
          await client.query(
            'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE migration_name = $1 AND finished_at IS NULL',
            [m.name],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          const reason = err instanceof Error ? err.message : String(err);
          throw new PssrError('INTERNAL', `Migration ${m.name} failed and was rolled back: ${reason}`, false, { cause: err });
        }
        log(`applied migration ${m.name}`);
        result.applied.push(m.name);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_ID]).catch(() => {});
    }
  } finally {
    await client.end();
  }
  return result;
}
