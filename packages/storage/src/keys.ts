import { StorageError } from './types.js';

/** Keys are relative `/`-separated paths; anything that could escape a directory or confuse S3 is refused. */
export function checkKey(key: string): string {
  const bad =
    key.length === 0 ||
    key.length > 1024 ||
    key.startsWith('/') ||
    key.includes('\\') ||
    /[\u0000-\u001f\u007f]/.test(key) ||
    key.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
  if (bad) throw new StorageError('INVALID_KEY', `object key ${JSON.stringify(key)} is not allowed (relative path, no empty, "." or ".." segments)`);
  return key;
}
