/** True for errors meaning "the database is unreachable right now" (the API answers 503 and recovers). */
export function isDbUnavailableError(err: unknown): boolean {
  void err;
  return false;
}

export function isUniqueViolation(err: unknown): boolean {
  void err;
  return false;
}
