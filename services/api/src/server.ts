/**
 * The API process: parse the config, build the app, listen; on SIGTERM/SIGINT stop accepting, drain the
 * requests in flight (event streams are ended), close the clients, exit. `npm run api`.
 */
import { buildApp } from './app.js';
import { loadApiConfig } from '@pssr/config';

const config = loadApiConfig();
const app = await buildApp(config);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down: draining requests');
  const force = setTimeout(() => {
    app.log.error('drain took longer than 25 s; exiting');
    process.exit(1);
  }, 25_000);
  force.unref();
  try {
    await app.close();
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await app.listen({ host: config.host, port: config.port });
} catch (err) {
  app.log.error({ err }, 'could not start the API');
  process.exit(1);
}
