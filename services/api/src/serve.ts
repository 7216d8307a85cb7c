/**
 * `npm run serve`: one command for a single machine. Applies pending database migrations, then runs the API
 * and one worker as two child processes (the services never import each other), forwards SIGTERM/SIGINT to
 * both and exits when either stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '@pssr/db';
import { loadApiConfig } from '@pssr/config';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const config = loadApiConfig();

const result = await migrate(config.databaseUrl, { log: (m) => console.log(`[serve] ${m}`) });
console.log(`[serve] database schema up to date (${result.applied.length} applied, ${result.skipped.length} already there)`);

const children: ChildProcess[] = [];
function start(name: string, entry: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: root, stdio: 'inherit', env: process.env });
  child.on('exit', (code, signal) => {
    console.log(`[serve] ${name} exited (${signal ?? code})`);
    stop('SIGTERM');
    process.exitCode = code ?? 1;
  });
  children.push(child);
  return child;
}

let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGTERM'));

start('api', resolve(root, 'services/api/src/server.ts'));
start('worker', resolve(root, 'services/worker/src/main.ts'));
