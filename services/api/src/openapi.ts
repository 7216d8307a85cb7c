/**
 * The OpenAPI document, generated from the route schemas. `npm run openapi -w @pssr/api` writes it to
 * services/api/openapi.json (committed); test/openapi.test.ts fails when the code and that file drift apart.
 */
import { loadApiConfig } from '@pssr/config';
import { buildApp } from './app.js';
import type { AppClients } from './plugins/clients.js';

/** Clients that are never called: generating the document needs the routes, not the services. */
function offlineClients(): AppClients {
  const refuse = (what: string) =>
    new Proxy({}, { get: (_t, prop) => (prop === 'then' ? undefined : () => { throw new Error(`${what} is offline while generating OpenAPI`); }) });
  return { db: refuse('db') as AppClients['db'], store: refuse('store') as AppClients['store'], producer: refuse('producer') as AppClients['producer'], counters: refuse('counters') as AppClients['counters'] };
}

export async function generateOpenApi(): Promise<Record<string, unknown>> {
  const config = loadApiConfig({ REGISTER_BUNDLED_MODELS: 'false', QUEUE_RECONCILE_MS: '0', PSSR_DATA_DIR: '/nonexistent' });
  const app = await buildApp(config, { logger: false, clients: offlineClients(), adminDashboard: false });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

export function renderOpenApi(doc: Record<string, unknown>): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
