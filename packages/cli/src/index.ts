export { buildProgram, run } from './main.js';
export { formatUserError, reportError, EXIT_CANCELED, EXIT_INTERNAL, EXIT_OK, EXIT_USER } from './output.js';
export { QualityMeter, formatQuality } from './quality.js';
export type { QualityReport } from './quality.js';
