import type { ObjectStore, StorageConfig } from './types.js';
import { S3ObjectStore } from './s3.js';
import { LocalObjectStore } from './local.js';

export function createObjectStore(config: StorageConfig): ObjectStore {
  if (config.kind === 'local') return new LocalObjectStore(config.dir);
  const { kind: _kind, ...s3 } = config;
  return new S3ObjectStore(s3);
}
