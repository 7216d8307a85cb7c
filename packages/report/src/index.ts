export { TrustReportWriter, REPORT_FILES, REPORT_SCHEMA, LIMITS_NOTE, UNITS_NOTE, summarizeFrames } from './report.js';
export type { ReportFrame, ReportModel, TrustReport, TrustReportOptions, TrustSummary } from './report.js';
export { renderPreview } from './preview.js';
export type { PreviewContent, PreviewPanel } from './preview.js';
export { calibrate, calibrateModel, CALIBRATION_SEEDS } from './calibrate.js';
export type { CalibrateModelOptions, CalibrateOptions, CalibrationResult, CalibrationSeriesInput } from './calibrate.js';
export { degradedSource } from './degraded.js';
export { absoluteError, tileMeans, tileSpearman } from './evidence.js';
