/**
 * The worker process (`npm run worker`): one per GPU on a cluster. SIGTERM stops taking jobs and lets the
 * running ones finish (give it a termination grace period longer than a job), however many SIGTERMs arrive:
 * a container runtime, a supervisor and a process group may each deliver one, and none of them means
 * "abandon". A second Ctrl-C (SIGINT) from a person hands running jobs back at once (they are retried).
 */
import { loadWorkerConfig } from '@pssr/config';
import { startWorker } from './worker.js';

const config = loadWorkerConfig();
const worker = await startWorker(config);
const log = worker.deps.log;

let draining = false;
let interrupts = 0;
function onSignal(signal: 'SIGTERM' | 'SIGINT'): void {
  if (signal === 'SIGINT') interrupts += 1;
  const force = interrupts > 1;
  if (draining && !force) {
    log.info({ signal }, 'already finishing running jobs; a second Ctrl-C hands them back');
    return;
  }
  draining = true;
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
