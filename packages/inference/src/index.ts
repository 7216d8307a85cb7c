export { RestoreEngine } from './engine.js';
export type { Device, LoadOptions, ModelBundle, Precision, RestoredFrame, RestoreOptions, RestoreProgress, RestoreTiming } from './engine.js';
export { verifyExport, EXPORT_CHECK_FILE } from './verify.js';
export { MemoryFrameSink, MemoryFrameSource } from './memory.js';
export { ONNXRUNTIME_VERSION } from './session-host.js';
