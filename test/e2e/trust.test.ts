/**
 * Trust reports end to end over HTTP (issue 8), with the API, a worker and the bundled, calibrated em model:
 * a restore job of held-out EM has a report (not flagged) and a preview PNG; fluorescence restored with em
 * and `tta` is flagged, has the uncertainty stack, and counts on /metrics; another group sees 404.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openTiffStack } from '@pssr/tiff';
import { api, followEvents, startService, type TestService } from './support/service.js';
import { makeEmStack, makeFluoLrStack } from './support/stacks.js';

let svc: TestService;
let labA: { authorization: string; groupId: string };
let labB: { authorization: string; groupId: string };

before(async () => {
  svc = await startService('e2e_trust');
  labA = await svc.key('lab-a');
  labB = await svc.key('lab-b');
});
after(async () => {
  await svc?.close();
});

async function upload(path: string, name: string): Promise<string> {
  const res = await fetch(`${svc.base}/v1/stacks?name=${name}`, { method: 'POST', headers: { ...labA, 'content-type': 'image/tiff' }, body: await readFile(path) });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

/** Submits a restore with em and follows it to its final job view. */
async function restore(stackId: string, options: Record<string, unknown> = {}): Promise<any> {
  const submit = await api(svc.base, labA, 'POST', '/v1/jobs', { type: 'restore', stackId, model: 'em', options });
  assert.equal(submit.status, 202, JSON.stringify(submit.json));
  const events = await followEvents(svc.base, labA, submit.json.id);
  const done = events.at(-1)!.data;
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  return done;
}

const scrape = () => fetch(`${svc.base}/metrics`).then((r) => r.text());
const flaggedCount = (text: string) => Number(/^pssr_restore_frames_flagged_total\{model="em"\} (\d+)$/m.exec(text)?.[1] ?? 0);

test('a restore of held-out EM: the report, its consistency stack and the preview PNG', async () => {
  const lr = await makeEmStack(svc.dir, { frames: 2, lrSize: 64 });
  const done = await restore(await upload(lr.path, 'vnc.tif'));
  assert.equal(done.trust.status, 'ok');
  assert.equal(done.trust.flagged, done.trust.flaggedFrames.length > 0);
  assert.deepEqual([done.trust.report, done.trust.preview], [`/v1/jobs/${done.id}/report`, `/v1/jobs/${done.id}/preview.png`]);

  const report = await api(svc.base, labA, 'GET', done.trust.report);
  assert.equal(report.status, 200, JSON.stringify(report.json));
  assert.equal(report.json.jobId, done.id);
  assert.equal(report.json.schema, 'pssr-trust-report/1');
  assert.equal(report.json.summary.verdict, done.trust.verdict);
  assert.ok(report.json.pixelSize.status, 'the pixel-size check is in the report');
  assert.equal(report.json.frames.length, 2);
  assert.equal(report.json.stacks.uncertainty, null);
  assert.equal(report.json.preview, done.trust.preview);
  const map = await api(svc.base, labA, 'GET', `/v1/stacks/${report.json.stacks.consistency}`);
  assert.deepEqual([map.json.frames, map.json.height, map.json.width, map.json.dtype, map.json.status], [2, 64, 64, 'float32', 'ready']);

  const png = await fetch(`${svc.base}${done.trust.preview}`, { headers: labA });
  assert.equal(png.status, 200);
  assert.equal(png.headers.get('content-type'), 'image/png');
  const bytes = Buffer.from(await png.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(bytes.readUInt32BE(16) > 384, `the preview is wider than one panel (${bytes.readUInt32BE(16)} px)`);

  for (const path of [done.trust.report, done.trust.preview, `/v1/stacks/${report.json.stacks.consistency}`]) {
    const other = await api(svc.base, labB, 'GET', path);
    assert.equal(other.status, 404, `${path} is not visible to another group`);
  }

  // Deleting the result deletes the report that describes it; its map stacks stay, as stacks of their own.
  const keys = (await svc.tdb.db.jobs.report(done.id))!;
  assert.ok(await svc.store.exists(keys.reportKey));
  assert.equal((await api(svc.base, labA, 'DELETE', `/v1/stacks/${done.outputStackId}`)).status, 204);
  assert.equal(await svc.tdb.db.jobs.report(done.id), null);
  for (const key of [keys.reportKey, keys.previewKey]) assert.equal(await svc.store.exists(key), false, `${key} was deleted`);
  const gone = await api(svc.base, labA, 'GET', done.trust.report);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.code, 'REPORT_NOT_FOUND');
  assert.match(gone.json.detail, /deleted with its result stack/);
  const view = await api(svc.base, labA, 'GET', `/v1/jobs/${done.id}`);
  assert.deepEqual([view.json.trust.report, view.json.trust.preview, view.json.trust.verdict], [null, null, done.trust.verdict]);
  assert.equal((await api(svc.base, labA, 'GET', `/v1/stacks/${report.json.stacks.consistency}`)).status, 200);
});

test('fluorescence restored with em and tta: flagged, the uncertainty stack, and the flagged-frame counter increments', async () => {
  const before = flaggedCount(await scrape());
  const lr = await makeFluoLrStack(svc.dir);
  const done = await restore(await upload(lr.path, 'hela.tif'), { tta: true });
  assert.equal(done.options.tta, true);
  assert.equal(done.trust.flagged, true, done.trust.verdict);
  assert.deepEqual(done.trust.flaggedFrames, [0]);
  assert.match(done.trust.verdict, /the input may not be the kind of data em was trained on/);

  const report = await api(svc.base, labA, 'GET', done.trust.report);
  assert.equal(report.json.tta, true);
  assert.ok(report.json.frames[0].flags.length >= 1);
  const u = await api(svc.base, labA, 'GET', `/v1/stacks/${report.json.stacks.uncertainty}`);
  assert.deepEqual([u.json.frames, u.json.height, u.json.width, u.json.dtype], [1, 4 * lr.info.height, 4 * lr.info.width, 'float32']);
  const data = await fetch(`${svc.base}/v1/stacks/${report.json.stacks.uncertainty}/data`, { headers: labA });
  assert.equal(data.status, 200);
  const local = join(svc.dir, 'uncertainty.tif');
  await writeFile(local, Buffer.from(await data.arrayBuffer()));
  const r = await openTiffStack(local);
  assert.ok((await r.readFrame(0)).some((v) => v > 0), 'the uncertainty map is not empty');
  await r.close();

  const text = await scrape();
  assert.equal(flaggedCount(text), before + 1, 'one more flagged em frame');
  assert.match(text, /^pssr_restore_frames_checked_total\{model="em"\} 3$/m);
});

test('an invalid tta value is a clear 400 naming the field', async () => {
  const bad = await api(svc.base, labA, 'POST', '/v1/jobs', { type: 'restore', stackId: '00000000-0000-4000-8000-000000000000', model: 'em', options: { tta: 'yes' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.code, 'VALIDATION_FAILED');
  assert.match(bad.json.detail, /options\.tta/);
});
