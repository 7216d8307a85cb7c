/**
 * `npm run serve` (services/api/src/serve.ts) as an operator starts it: a child process on a free port with
 * a fresh (unmigrated) database schema, its own Redis prefix and local-disk storage in a temp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { DATABASE_URL, REDIS_URL, dropRedisPrefix, tempDir, uniqueName, waitFor, withSchema } from './env.js';

const SERVE = fileURLToPath(new URL('../../../services/api/src/serve.ts', import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  base: string;
  databaseUrl: string;
  dir: { path: string; remove(): Promise<void> };
  /** Everything the command printed so far (stdout and stderr). */
  output(): string;
  /** The command's exit code. */
  exited: Promise<number | null>;
  /** Kills the command if it still runs, then drops its schema, Redis keys and folder. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Starts serve and waits until its API answers /ready. */
export async function startServe(tag: string): Promise<ServeProcess> {
  const schema = uniqueName(tag);
  const prefix = uniqueName(tag);
  const dir = await tempDir(tag);
  const port = await freePort();
  const databaseUrl = withSchema(DATABASE_URL, schema);
  const child = spawn(process.execPath, ['--import', 'tsx', SERVE], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      PSSR_DATA_DIR: join(dir.path, 'data'),
      UPLOAD_TMP_DIR: join(dir.path, 'spool'),
      WORKER_TMP_DIR: join(dir.path, 'worker'),
      WORKER_DEVICE: 'cpu',
      WORKER_THREADS: '1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    await dropRedisPrefix(prefix);
    await dir.remove();
  };
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${base}/ready`).catch(() => null))?.status === 200, { timeoutMs: 90_000, intervalMs: 300, what: `serve to be ready\n${output}` });
  } catch (err) {
    await close();
    throw err;
  }
  return { child, base, databaseUrl, dir, output: () => output, exited, close };
}
