/**
 * @pssr/storage: the only package that imports the S3 SDK. Stacks, results and model files go through the
 * `ObjectStore` interface; `S3ObjectStore` talks to S3/MinIO, `LocalObjectStore` to a directory.
 */
export * from './types.js';
export { S3ObjectStore } from './s3.js';
export { LocalObjectStore } from './local.js';
export { createObjectStore } from './factory.js';
