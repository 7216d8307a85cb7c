export { startWorker, failureOf, type RunningWorker, type StartWorkerOptions } from './worker.js';
export { processRestore, resultStorageKey } from './restore.js';
export { processTrain, modelStorageKey } from './train.js';
