import type { ObjectStore } from './types.js';

// TODO: implementation in progress; the interface (ObjectStore) is final.
export const LocalObjectStore = class {
  constructor(dir: string) { void dir; throw new Error('TODO'); }
} as unknown as new (dir: string) => ObjectStore;
