const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// Node socket errors and Postgres SQLSTATEs meaning "server gone / starting / shutting down".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300',
]);
const UNAVAILABLE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|Connection terminated|connection timeout|timeout exceeded when trying to connect|Can't reach database server|the database system is (starting up|shutting down)|Client has encountered a connection error|terminating connection/i;

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let cur: unknown = err;
  for (let depth = 0; depth < 8 && cur !== null && typeof cur === 'object'; depth++) {
    yield cur as Record<string, unknown>;
    const c = cur as { cause?: unknown; originalError?: unknown };
    cur = c.cause ?? c.originalError;
  }
}

/** True for errors meaning "the database is unreachable right now" (the API answers 503 and recovers). */
export function isDbUnavailableError(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (code && (UNAVAILABLE_PRISMA_CODES.has(code) || UNAVAILABLE_CODES.has(code))) return true;
    const original = typeof e.originalCode === 'string' ? e.originalCode : undefined;
    if (original && UNAVAILABLE_CODES.has(original)) return true;
    if (e.kind === 'DatabaseNotReachable' || e.kind === 'ConnectionClosed' || e.kind === 'SocketTimeout') return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  }
  return false;
}

/** A unique constraint refused the write (Prisma P2002, Postgres 23505). */
export function isUniqueViolation(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e.code === 'P2002' || e.code === '23505' || e.originalCode === '23505' || e.kind === 'UniqueConstraintViolation') return true;
  }
  return false;
}
