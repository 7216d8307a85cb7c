/**
 * The worker process (`npm run worker`): one per GPU on a cluster. SIGTERM: stop taking jobs and let the
 * running ones finish (give it a termination grace period longer than a job); a second SIGTERM/SIGINT hands
 * running jobs back at once (they are retried by another worker).
 */
import { loadWorkerConfig } from '@pssr/config';
import { startWorker } from './worker.js';

const config = loadWorkerConfig();
const worker = await startWorker(config);
const log = worker.deps.log;

let signals = 0;
function onSignal(signal: string): void {
  signals += 1;
  const force = signals > 1;
  log.info({ signal, force }, force ? 'handing running jobs back' : 'finishing running jobs, then exiting');
  worker.close({ force }).then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
}
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));
