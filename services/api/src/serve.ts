/**
 * `npm run serve`: one command for a single machine. Applies pending database migrations, then runs the API
 * and one worker as two child processes (the services never import each other) and supervises them:
 * - a worker that dies is started again with exponential backoff (1 s, 2 s, ... 30 s; back to 1 s after it
 *   ran a minute), while the API keeps serving; its job is taken over by the new worker;
 * - if the API dies, the worker is drained and the command exits non-zero, so whatever runs it restarts it;
 * - SIGTERM/SIGINT are forwarded as SIGTERM (drain) to both; the command exits 0 when both stopped cleanly.
 * Production runs one process per container instead, with the platform's restart policy (README, k8s/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadApiConfig } from '@pssr/config';
import { migrate } from '@pssr/db';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A worker that ran this long is considered healthy: its next restart waits the first backoff again. */
const STABLE_AFTER_MS = 60_000;

const log = (message: string) => console.log(`[serve] ${message}`);

interface Child {
  name: 'api' | 'worker';
  entry: string;
  process: ChildProcess | null;
  startedAt: number;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | null;
}

const children: Child[] = [
  { name: 'api', entry: resolve(root, 'services/api/src/server.ts'), process: null, startedAt: 0, backoffMs: FIRST_BACKOFF_MS, restartTimer: null },
  { name: 'worker', entry: resolve(root, 'services/worker/src/main.ts'), process: null, startedAt: 0, backoffMs: FIRST_BACKOFF_MS, restartTimer: null },
];
let stopping = false;
let failed = false;

function start(child: Child): void {
  child.restartTimer = null;
  const proc = spawn(process.execPath, ['--import', 'tsx', child.entry], { cwd: root, stdio: 'inherit', env: process.env });
  child.process = proc;
  child.startedAt = Date.now();
  log(`${child.name} started (pid ${proc.pid ?? '?'})`);
  proc.on('exit', (code, signal) => onExit(child, code, signal));
}

function onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
  child.process = null;
  log(`${child.name} exited (${signal ?? `code ${code}`})`);
  if (stopping) return finishIfAllStopped(code !== 0 ? 1 : 0);
  if (child.name === 'api') {
    // Without the API nothing can be submitted or followed: stop, and exit non-zero so it is noticed.
    failed = true;
    stop();
    return;
  }
  if (Date.now() - child.startedAt >= STABLE_AFTER_MS) child.backoffMs = FIRST_BACKOFF_MS;
  log(`restarting the worker in ${child.backoffMs / 1000} s; the API keeps serving`);
  child.restartTimer = setTimeout(() => start(child), child.backoffMs);
  child.backoffMs = Math.min(child.backoffMs * 2, MAX_BACKOFF_MS);
}

function finishIfAllStopped(exitStatus: number): void {
  if (exitStatus !== 0) failed = true;
  if (children.every((c) => c.process === null)) process.exit(failed ? 1 : 0);
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) {
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = null;
    // SIGTERM drains both: the API ends event streams and finishes requests, the worker finishes its job.
    c.process?.kill('SIGTERM');
  }
  finishIfAllStopped(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const config = loadApiConfig();
const result = await migrate(config.databaseUrl, { log });
log(`database schema up to date (${result.applied.length} applied, ${result.skipped.length} already there)`);
for (const c of children) start(c);
