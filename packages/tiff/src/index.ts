export { DEFAULT_TIFF_LIMITS, type TiffLimits } from './limits.js';
export { inspectStack, inspectTiff, openTiffStack, type TiffStackReader } from './reader.js';
export type { TiffReadOptions } from './inspect.js';
export {
  CLASSIC_TIFF_MAX_BYTES,
  createTiffStackWriter,
  imagejDescription,
  planTiffWrite,
  type TiffWritePlan,
  type TiffWriterOptions,
} from './writer.js';
