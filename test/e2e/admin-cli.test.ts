/** `pssr admin create-key` / `revoke-key` (packages/cli/src/commands/admin.ts) against the running API. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { isPssrError } from '@pssr/core';
import { registerAdminCommands } from '../../packages/cli/src/commands/admin.js';
import { startService, type TestService } from './support/service.js';

// The CLI's own commander (packages/cli depends on v14; the root has an older one).
type Program = Parameters<typeof registerAdminCommands>[0];
const { Command } = createRequire(new URL('../../packages/cli/package.json', import.meta.url))('commander') as { Command: new () => Program };
let svc: TestService;

before(async () => {
  svc = await startService('e2e_admin', { worker: false });
});
after(async () => {
  await svc?.close();
});

async function pssr(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const program = new Command();
  program.exitOverride();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerAdminCommands(program, { out: (l) => lines.push(l), databaseUrl: svc.tdb.url });
  await program.parseAsync(['node', 'pssr', ...args]);
  return lines;
}

test('create-key prints a working key as its last line; revoke-key turns it off', async () => {
  const out = await pssr('admin', 'create-key', '--group', 'Cardona Lab', '--user', 'sem-1');
  const key = out.at(-1)!;
  assert.match(key, /^pssr_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{43}$/);
  const ok = await fetch(`${svc.base}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(ok.status, 200);
  const forbidden = await fetch(`${svc.base}/admin/queues`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(forbidden.status, 403, 'not an admin key');

  const adminOut = await pssr('admin', 'create-key', '--group', 'Facility', '--user', 'ops', '--admin');
  const dash = await fetch(`${svc.base}/admin/queues`, { headers: { authorization: `Bearer ${adminOut.at(-1)}` } });
  assert.equal(dash.status, 200);

  // A second key for the same user is in the same group: it sees the same (empty) job list.
  const again = await pssr('admin', 'create-key', '--group', 'Cardona Lab', '--user', 'sem-1');
  assert.equal(again[0], out[0], 'same group');
  assert.notEqual(again.at(-1), key);

  const revoked = await pssr('admin', 'revoke-key', key.slice(0, 13));
  assert.match(revoked.at(-1)!, /^revoked pssr_/);
  const refused = await fetch(`${svc.base}/v1/jobs`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(refused.status, 401);
  const still = await fetch(`${svc.base}/v1/jobs`, { headers: { authorization: `Bearer ${again.at(-1)}` } });
  assert.equal(still.status, 200, 'other keys of the user keep working');
});

test('bad names and unknown keys are user errors (PssrError), not crashes', async () => {
  await assert.rejects(pssr('admin', 'create-key', '--group', '', '--user', 'x'), (e: unknown) => isPssrError(e) && e.code === 'INVALID_ARGUMENT');
  await assert.rejects(pssr('admin', 'create-key', '--group', 'lab', '--user', '../../etc'), (e: unknown) => isPssrError(e) && e.code === 'INVALID_ARGUMENT');
  await assert.rejects(pssr('admin', 'revoke-key', 'pssr_nothere1'), (e: unknown) => isPssrError(e) && e.code === 'INVALID_ARGUMENT');
  await assert.rejects(pssr('admin', 'create-key', '--group', 'lab'), /required option/);
});
