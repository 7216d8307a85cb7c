import { createHash } from 'node:crypto';

/** Characters of the key stored in clear as the lookup prefix (`pssr_` + 8). */
export const API_KEY_PREFIX_LENGTH = 13;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
