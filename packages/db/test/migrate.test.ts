import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile, mkdir, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { listMigrations, migrate } from '../src/index.js';
import { DATABASE_URL, dropSchema, freshSchemaName, sql } from './helpers.js';

const schemas: string[] = [];
const dirs: string[] = [];
function schemaFor(tag: string): string {
  const s = freshSchemaName(tag);
  schemas.push(s);
  return s;
}
async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pssr-migrations-'));
  dirs.push(dir);
  await cp(new URL('../../../prisma/migrations', import.meta.url), dir, { recursive: true });
  return dir;
}

after(async () => {
  for (const s of schemas) await dropSchema(s);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('migrate', () => {
  test('applies every migration once and records it as Prisma does', async () => {
    const schema = schemaFor('mig');
    const local = await listMigrations();
    assert.ok(local.length >= 1);
    const first = await migrate(DATABASE_URL, { schema });
    assert.deepEqual(first.applied, local.map((m) => m.name));
    assert.deepEqual(first.skipped, []);

    const rows = await sql<{ id: string; checksum: string; migration_name: string; finished_at: Date | null; rolled_back_at: Date | null; applied_steps_count: number; logs: string | null }>(
      `SELECT * FROM "${schema}"."_prisma_migrations" ORDER BY migration_name`,
    );
    assert.equal(rows.length, local.length);
    for (const [i, row] of rows.entries()) {
      const file = await readFile(new URL(`../../../prisma/migrations/${local[i]!.name}/migration.sql`, import.meta.url));
      assert.equal(row.migration_name, local[i]!.name);
      assert.equal(row.checksum, createHash('sha256').update(file).digest('hex'));
      assert.match(row.id, /^[0-9a-f-]{36}$/);
      assert.ok(row.finished_at instanceof Date);
      assert.equal(row.rolled_back_at, null);
      assert.equal(row.applied_steps_count, 1);
    }
    // The column layout `prisma migrate deploy` expects.
    const cols = await sql<{ column_name: string; data_type: string; is_nullable: string }>(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = '_prisma_migrations' ORDER BY ordinal_position`, [schema]);
    assert.deepEqual(cols.map((c) => `${c.column_name}:${c.data_type}:${c.is_nullable}`), [
      'id:character varying:NO', 'checksum:character varying:NO', 'finished_at:timestamp with time zone:YES',
      'migration_name:character varying:NO', 'logs:text:YES', 'rolled_back_at:timestamp with time zone:YES',
      'started_at:timestamp with time zone:NO', 'applied_steps_count:integer:NO',
    ]);

    const second = await migrate(DATABASE_URL, { schema });
    assert.deepEqual(second.applied, []);
    assert.deepEqual(second.skipped, local.map((m) => m.name));
  });

  test('the schema can also come from the URL (?schema=)', async () => {
    const schema = schemaFor('url');
    const res = await migrate(`${DATABASE_URL}?schema=${schema}`);
    assert.ok(res.applied.length >= 1);
    const t = await sql(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'Job'`, [schema]);
    assert.equal(t.length, 1);
  });

  test('two processes migrating at once apply each migration exactly once', async () => {
    const schema = schemaFor('race');
    const [a, b] = await Promise.all([migrate(DATABASE_URL, { schema }), migrate(DATABASE_URL, { schema })]);
    const total = await listMigrations();
    assert.equal(a.applied.length + b.applied.length, total.length);
    assert.ok(a.applied.length === 0 || b.applied.length === 0);
    const rows = await sql(`SELECT migration_name FROM "${schema}"."_prisma_migrations"`);
    assert.equal(rows.length, total.length);
  });

  test('refuses when an applied migration file was edited', async () => {
    const schema = schemaFor('edit');
    const dir = await copyOfMigrations();
    await migrate(DATABASE_URL, { schema, migrationsDir: dir });
    const [first] = await listMigrations(dir);
    await appendFile(join(dir, first!.name, 'migration.sql'), '\n-- edited after the fact\n');
    await assert.rejects(migrate(DATABASE_URL, { schema, migrationsDir: dir }), (err: Error) => {
      assert.match(err.message, new RegExp(`${first!.name} was modified after it was applied`));
      return true;
    });
  });

  test('a failing migration is rolled back entirely and not recorded; later ones wait', async () => {
    const schema = schemaFor('fail');
    const dir = await copyOfMigrations();
    await mkdir(join(dir, '29990101000000_broken'));
    await writeFile(join(dir, '29990101000000_broken', 'migration.sql'),
      'CREATE TABLE "Half" (id INT);\nALTER TABLE "NoSuchTable" ADD COLUMN x INT;\n');
    await mkdir(join(dir, '29990102000000_after'));
    await writeFile(join(dir, '29990102000000_after', 'migration.sql'), 'CREATE TABLE "After" (id INT);\n');
    await assert.rejects(migrate(DATABASE_URL, { schema, migrationsDir: dir }), /29990101000000_broken failed and was rolled back/);
    const tables = await sql<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [schema]);
    const names = tables.map((t) => t.table_name);
    assert.ok(names.includes('Job'), 'earlier migrations stay applied');
    assert.ok(!names.includes('Half') && !names.includes('After'));
    const recorded = await sql(`SELECT 1 FROM "${schema}"."_prisma_migrations" WHERE migration_name LIKE '2999%'`);
    assert.equal(recorded.length, 0);
  });

  test('refuses to run over a migration recorded as failed (as prisma migrate deploy does)', async () => {
    const schema = schemaFor('failrow');
    await migrate(DATABASE_URL, { schema });
    await sql(`INSERT INTO "${schema}"."_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
               VALUES (gen_random_uuid()::text, 'x', '29990101000000_crashed', now(), 0)`);
    await assert.rejects(migrate(DATABASE_URL, { schema }), /29990101000000_crashed is recorded as failed/);
  });
});
