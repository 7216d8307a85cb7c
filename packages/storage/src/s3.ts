import type { ObjectStore, S3StoreConfig } from './types.js';

// TODO: implementation in progress; the interface (ObjectStore) is final.
export const S3ObjectStore = class {
  constructor(config: S3StoreConfig) { void config; throw new Error('TODO'); }
} as unknown as new (config: S3StoreConfig) => ObjectStore;
