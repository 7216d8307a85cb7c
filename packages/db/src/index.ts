/**
 * @pssr/db: the only package that imports Prisma. Postgres holds the authoritative record of every job
 * (DESIGN.md "Jobs"); the API and the worker reach it only through the repositories below.
 */
export * from './types.js';
export { createDb, type CreateDbOptions, type DbWithClient } from './client.js';
export { migrate, listMigrations, migrationChecksum, type MigrateOptions, type MigrationFile } from './migrate.js';
export { splitDatabaseUrl } from './url.js';
export { isDbUnavailableError, isUniqueViolation } from './errors.js';
export { hashApiKey, API_KEY_PREFIX_LENGTH } from './repos/apiKeys.js';
export { jobChangeChannel } from './job-changes.js';
