/**
 * Regenerates the dashboard screenshots of the README (docs/dashboard/*.png) against a real API and worker:
 * `node --import tsx test/e2e/support/screenshots.ts`. Not a test: it asserts nothing and runs on demand.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startService } from './service.js';
import { launchBrowser } from './browser.js';
import { api } from './service.js';

const OUT = fileURLToPath(new URL('../../../docs/dashboard/', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/em-lr.tif', import.meta.url));

const svc = await startService('shots', { browserCors: true });
try {
  const ana = await svc.key('vision-lab', 'ana', true);
  const raj = await svc.key('vision-lab', 'raj');
  const kim = await svc.key('cryo-core', 'kim');
  const bytes = await readFile(EXAMPLE);
  const upload = async (auth: { authorization: string }, name: string) =>
    (await fetch(`${svc.base}/v1/stacks?name=${name}`, { method: 'POST', headers: { ...auth, 'content-type': 'image/tiff' }, body: bytes }).then((r) => r.json())) as { id: string };
  const restore = (auth: { authorization: string }, stackId: string, model = 'em', tileSize = 80) => api(svc.base, auth, 'POST', '/v1/jobs', { type: 'restore', stackId, model, options: { tileSize } });
  const s1 = await upload(ana, 'vnc-section-12.tif');
  const s2 = await upload(raj, 'vnc-section-13.tif');
  const done = await restore(ana, s1.id);
  const dropped = await restore(raj, s2.id);
  await api(svc.base, raj, 'DELETE', `/v1/jobs/${dropped.json.id}`);
  const wait = async (id: string) => {
    for (let i = 0; i < 2400; i++) {
      const j = await api(svc.base, ana, 'GET', `/v1/jobs/${id}`);
      if (['succeeded', 'failed', 'canceled'].includes(j.json.status)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  await wait(done.json.id);
  const browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  await page.goto(`${svc.base}/`);
  await page.getByLabel('API key').fill(ana.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();

  // Keep the worker busy so the list and the facility view show running and waiting jobs of two groups.
  const s3 = await upload(kim, 'cryo-grid-4.tif');
  for (let i = 0; i < 3; i++) await restore(ana, s1.id);
  for (let i = 0; i < 2; i++) await restore(kim, s3.id, 'fluo');
  await page.goto(`${svc.base}/dashboard/#/facility`);
  await page.getByText('running', { exact: false }).first().waitFor();
  await page.waitForTimeout(3500);
  await page.screenshot({ path: `${OUT}facility.png`, fullPage: true });
  await page.goto(`${svc.base}/dashboard/#/jobs`);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${OUT}jobs.png` });
  await page.goto(`${svc.base}/dashboard/#/jobs/${done.json.id}`);
  await page.getByTestId('job-status').waitFor();
  await page.waitForTimeout(800);
  await page.screenshot({ path: `${OUT}job.png`, fullPage: true });
  await page.goto(`${svc.base}/dashboard/#/upload`);
  const bad = `${svc.dir}/notes.tif`;
  await writeFile(bad, 'not an image\n');
  await page.locator('#files').setInputFiles([EXAMPLE, bad]);
  await page.locator('li.upload-done').waitFor();
  await page.locator('li.upload-error').waitFor();
  await page.screenshot({ path: `${OUT}upload.png` });
  await page.goto(`${svc.base}/dashboard/#/restore`);
  await page.getByRole('radio', { name: /em v/ }).waitFor();
  await page.screenshot({ path: `${OUT}restore.png`, fullPage: true });
  await page.setViewportSize({ width: 420, height: 900 });
  await page.goto(`${svc.base}/dashboard/#/jobs`);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${OUT}jobs-narrow.png` });
  await browser.close();
} finally {
  await svc.close();
}
