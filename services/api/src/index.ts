export { buildApp, registerBundledModels, API_VERSION, type BuildAppOptions } from './app.js';
export { ApiError, toProblem, type ApiErrorCode, type Problem } from './errors.js';
export type { AppClients } from './plugins/clients.js';
