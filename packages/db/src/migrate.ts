import type { MigrateResult } from './types.js';

export interface MigrateOptions {
  /** Postgres schema to migrate (created if absent); default: the URL's `?schema=`, else `public`. */
  schema?: string;
  /** Folder of `<timestamp>_<name>/migration.sql` (default: the repository's prisma/migrations). */
  migrationsDir?: string;
  log?: (message: string) => void;
}

export interface MigrationFile { name: string; sql: string; checksum: string }

export async function listMigrations(dir?: string): Promise<MigrationFile[]> {
  void dir;
  throw new Error('TODO');
}

/**
 * Applies pending Prisma-format migrations in order, each in its own transaction, recording them in
 * `_prisma_migrations` exactly as `prisma migrate deploy` does. Holds a Postgres advisory lock so
 * concurrent starters do not race. Refuses (PssrError INTERNAL) when an applied migration's file changed.
 */
export async function migrate(databaseUrl: string, opts: MigrateOptions = {}): Promise<MigrateResult> {
  void databaseUrl; void opts;
  throw new Error('TODO');
}
