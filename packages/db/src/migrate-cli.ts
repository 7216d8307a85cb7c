/**
 * `node --import tsx packages/db/src/migrate-cli.ts`: applies pending migrations to $DATABASE_URL and exits.
 * The one-shot step before the API starts (docker-compose `migrate` service, Kubernetes init container);
 * safe to run from several places at once (advisory lock). Exit 0 when the schema is up to date.
 */
import { migrate } from './migrate.js';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is not set: point it at the Postgres database to migrate.');
  process.exit(2);
}
try {
  const r = await migrate(url, { log: (m) => console.log(m) });
  console.log(`database schema up to date (${r.applied.length} applied, ${r.skipped.length} already there)`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
