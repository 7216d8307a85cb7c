export { parseModelCard } from './card.js';
export { bundledModelsDir, listBundledModels, loadModelDir, resolveModel, sha256File, writeCardCalibration, MODEL_FILE, CARD_FILE } from './lookup.js';
export type { ModelBundle } from './lookup.js';
