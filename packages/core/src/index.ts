export * from './types.js';
export * from './errors.js';
export * from './modelcard.js';
export * from './stats.js';
export * from './normalize.js';
export * from './frames.js';
export * from './tiling.js';
