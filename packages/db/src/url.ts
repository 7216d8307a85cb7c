/**
 * Prisma URLs carry the Postgres schema as `?schema=name`, which node-postgres does not understand: split it
 * off, and let an explicit option win over the URL.
 */
export function splitDatabaseUrl(url: string, schemaOverride?: string): { connectionString: string; schema: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('DATABASE_URL is not a valid URL (expected postgresql://user:password@host:5432/database?schema=name)');
  }
  const fromUrl = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const schema = schemaOverride ?? fromUrl ?? 'public';
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) {
    throw new Error(`Postgres schema name "${schema}" is not allowed (letters, digits, _ and $; at most 63 characters)`);
  }
  return { connectionString: parsed.toString(), schema };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
