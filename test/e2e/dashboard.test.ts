/**
 * The web dashboard as a person uses it, in Debian's headless Chromium (playwright-core) against the real
 * API and worker (real Postgres, Redis, and s3rver with browser CORS so parts go straight to S3): sign in with
 * a key, upload the bundled example, see a bad file refused with the server's message, submit a restore,
 * watch it finish live in a jobs list opened beforehand (one change stream, no reload), open its page,
 * download the result and compare it byte for byte with the API's, read its trust report (and a flagged one's reasons),
 * sign out (the session dies server-side), and a second group sees none of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startService, type TestService } from './support/service.js';
import { launchBrowser } from './support/browser.js';
import { makeFluoLrStack, makePatternStack } from './support/stacks.js';

/** The bundled em model's version, as the jobs list shows it (model@version). */
const emVersion = (JSON.parse(await readFile(fileURLToPath(new URL('../../packages/models/em/model.json', import.meta.url)), 'utf8')) as { version: string }).version;

const EXAMPLE = fileURLToPath(new URL('../../examples/em-lr.tif', import.meta.url));
let svc: TestService;
let browser: Browser;

before(async () => {
  svc = await startService('dashboard', { browserCors: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await svc?.close();
});

async function signIn(context: BrowserContext, key: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${svc.base}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return page;
}

test('sign in, upload, restore live, download byte for byte; a second group sees nothing', { timeout: 480_000 }, async () => {
  const a = await svc.key('lab-a', 'ana');
  const b = await svc.key('lab-b', 'ben');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const errors: string[] = [];
  context.on('weberror', (e) => errors.push(e.error().message));

  // A wrong key is refused on the sign-in form, with the API's message.
  const probe = await context.newPage();
  await probe.goto(`${svc.base}/`);
  await probe.getByLabel('API key').fill('pssr_00000000_not-a-real-key');
  await probe.getByRole('button', { name: 'Sign in' }).click();
  await probe.getByRole('alert').filter({ hasText: 'unknown or revoked' }).waitFor();
  await probe.close();

  const page = await signIn(context, a.key);
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'pssr_session');
  assert.ok(cookie, 'a session cookie was set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.doesNotMatch(page.url(), /pssr_/, 'the key never appears in a URL');

  // Upload the example and a file that is not a TIFF.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Upload' }).click();
  const bad = join(svc.dir, 'notes.tif');
  await writeFile(bad, 'these are my notes, not an image\n');
  await page.locator('#files').setInputFiles([EXAMPLE, bad]);
  const good = page.locator('li[data-file="em-lr.tif"]');
  await good.locator('.upload-state', { hasText: 'ready' }).waitFor({ timeout: 30_000 });
  const refused = page.locator('li[data-file="notes.tif"]').getByRole('alert');
  await refused.waitFor({ timeout: 30_000 });
  const refusal = await refused.innerText();
  assert.match(refusal, /notes\.tif was not accepted: NOT_A_TIFF "?notes\.tif"?: .*not a TIFF/);
  assert.doesNotMatch(refusal, /spool|\/tmp\//, 'no server path in the message');

  // A jobs list opened before the job exists: it must show the job and its end without a reload.
  const list = await context.newPage();
  await list.goto(`${svc.base}/dashboard/#/jobs`);
  await list.getByRole('status').filter({ hasText: 'live' }).waitFor();

  await good.getByRole('link', { name: 'Restore this stack' }).click();
  await page.getByRole('heading', { name: 'New restore' }).waitFor();
  await page.getByRole('radio', { name: /em v/ }).check();
  await page.getByText('Options').click();
  await page.getByLabel('Tile size').fill('80');
  await page.getByRole('button', { name: 'Start restore' }).click();
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  const jobId = page.url().split('/').pop()!;

  const row = list.locator(`tr[data-job="${jobId}"]`);
  await row.waitFor({ timeout: 30_000 });
  // A final status, seen in the list without a reload (the machine may be busy: allow minutes).
  await row.locator('.status-succeeded, .status-failed, .status-canceled').waitFor({ timeout: 300_000 });
  const outcome = (await (await fetch(`${svc.base}/v1/jobs/${jobId}`, { headers: { authorization: a.authorization } })).json()) as { status: string; error: unknown };
  assert.equal(outcome.status, 'succeeded', `the restore ended ${outcome.status}: ${JSON.stringify(outcome.error)}`);
  await row.getByText('succeeded').waitFor();
  assert.match(await row.innerText(), new RegExp(`restore[\\s\\S]*em@${emVersion.replace(/\./g, '\\.')}[\\s\\S]*ana`));
  await list.close();

  // The job page (followed live too) shows the result with its download link.
  await page.getByTestId('job-status').filter({ hasText: 'succeeded' }).waitFor({ timeout: 60_000 });
  const job = (await (await fetch(`${svc.base}/v1/jobs/${jobId}`, { headers: { authorization: a.authorization } })).json()) as { status: string; outputStackId: string };
  assert.equal(job.status, 'succeeded');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the restored stack' }).click()]);
  const viaBrowser = await readFile((await download.path())!);
  const viaApi = Buffer.from(await (await fetch(`${svc.base}/v1/stacks/${job.outputStackId}/data?redirect=false`, { headers: { authorization: a.authorization } })).arrayBuffer());
  assert.ok(viaApi.length > 1_000_000, 'the result is a 4x stack');
  assert.ok(viaBrowser.equals(viaApi), 'the browser download equals the API bytes');

  // The trust panel: the verdict, a row of numbers per frame and the preview (held-out EM: nothing flagged).
  const trust = page.getByTestId('trust');
  await trust.getByTestId('trust-verdict').filter({ hasText: /3 frames checked, none flagged/ }).waitFor({ timeout: 30_000 });
  await trust.locator('tr[data-frame]').nth(2).waitFor();
  const rows = await trust.locator('tr[data-frame]').allInnerTexts();
  assert.equal(rows.length, 3);
  for (const r of rows) assert.match(r, /^\d\s+[\d.e-]+\s+0\.9\d+\s+[\d.]+ → [\d.]+\s+—$/, `a frame row of numbers: ${JSON.stringify(r)}`);
  const loaded = await trust.getByRole('img', { name: /Preview/ }).evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth > 0);
  assert.ok(loaded, 'the preview image loaded');

  // A flagged restore (fluorescence through em, with TTA): the list marks it, its page says why, per frame.
  const fluo = await makeFluoLrStack(svc.dir);
  const up = await fetch(`${svc.base}/v1/stacks?name=hela.tif`, { method: 'POST', headers: { authorization: a.authorization, 'content-type': 'image/tiff' }, body: await readFile(fluo.path) });
  const submitted = (await (await fetch(`${svc.base}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: a.authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'restore', stackId: ((await up.json()) as { id: string }).id, model: 'em', options: { tta: true } }),
  })).json()) as { id: string };
  await page.goto(`${svc.base}/dashboard/#/jobs/${submitted.id}`);
  await page.getByTestId('job-status').filter({ hasText: 'succeeded' }).waitFor({ timeout: 300_000 });
  await page.getByTestId('trust-verdict').filter({ hasText: /FLAGGED 1 of 1 frame/ }).waitFor({ timeout: 30_000 });
  const flaggedRow = page.locator('tr.flagged[data-frame="0"]');
  await flaggedRow.waitFor();
  assert.match(await flaggedRow.innerText(), /the input may not be the kind of data em was trained on/);
  assert.equal(await page.getByRole('columnheader', { name: 'Uncertainty' }).count(), 1, 'TTA adds the uncertainty column');
  // Its maps download as stacks (float32 TIFFs for Fiji).
  const [map] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the uncertainty map' }).click()]);
  assert.match(map.suggestedFilename(), /\.uncertainty\.tif$/);
  await page.goto(`${svc.base}/dashboard/#/jobs`);
  await page.locator(`tr[data-job="${submitted.id}"] .flag-badge`).waitFor();
  assert.equal(await page.locator(`tr[data-job="${jobId}"] .flag-badge`).count(), 0, 'the clean restore is not marked');

  // Signing out kills the session server-side: the old cookie no longer authenticates.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
  const stale = await fetch(`${svc.base}/v1/jobs`, { headers: { cookie: `pssr_session=${cookie.value}` } });
  assert.equal(stale.status, 401);

  // Another group: no jobs, and the job's page and its data are not found.
  const other = await signIn(await browser.newContext(), b.key);
  await other.getByText(/No jobs yet/).waitFor();
  await other.goto(`${svc.base}/dashboard/#/jobs/${jobId}`);
  await other.getByRole('alert').filter({ hasText: 'JOB_NOT_FOUND' }).waitFor();
  const foreign = await other.evaluate(async (id) => (await fetch(`/v1/stacks/${id}/data`)).status, job.outputStackId);
  assert.equal(foreign, 404);
  assert.deepEqual(errors, [], 'no script errors in the pages');
});

test('a large upload pauses and resumes part by part, and the stack is the file', { timeout: 180_000 }, async () => {
  const c = await svc.key('lab-c', 'cy');
  const context = await browser.newContext();
  const page = await signIn(context, c.key);
  const big = join(svc.dir, 'big.tif');
  await makePatternStack(big, 20, 1024, 1024); // 20 MiB: three 8 MiB parts
  // Hold each part on its way to S3, so the upload is still running when Pause is pressed.
  let parts = 0;
  await context.route(/partNumber=/, async (route) => {
    parts += 1;
    await new Promise((r) => setTimeout(r, 1500));
    await route.continue().catch(() => undefined); // aborted by Pause
  });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Upload' }).click();
  await page.locator('#files').setInputFiles(big);
  const item = page.locator('li[data-file="big.tif"]');
  await item.getByRole('button', { name: 'Pause big.tif' }).click();
  await item.locator('.upload-state', { hasText: 'paused' }).waitFor();
  const sentBeforeResume = parts;
  await item.getByRole('button', { name: 'Resume big.tif' }).click();
  await item.locator('.upload-state', { hasText: 'ready' }).waitFor({ timeout: 120_000 });
  assert.ok(parts > sentBeforeResume, 'resume sent the missing parts');

  const stacks = (await (await fetch(`${svc.base}/v1/stacks?status=ready`, { headers: { authorization: c.authorization } })).json()) as { items: { name: string; sha256: string; bytes: number }[] };
  const stack = stacks.items.find((s) => s.name === 'big.tif');
  const file = await readFile(big);
  assert.equal(stack?.bytes, file.length);
  assert.equal(stack?.sha256, createHash('sha256').update(file).digest('hex'));
  await context.close();
});
