export * from './correlation.js';
export * from './consistency.js';
export * from './snr.js';
export * from './pixelsize.js';
export * from './flags.js';
export * from './assess.js';
