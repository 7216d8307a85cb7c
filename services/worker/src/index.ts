export { startWorker, failureOf, type RunningWorker, type StartWorkerOptions } from './worker.js';
export { processRestore } from './restore.js';
export { resultStorageKey } from './context.js';
export { processTrain, modelStorageKey } from './train.js';
