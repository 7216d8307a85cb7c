/**
 * Multi-channel stacks through the service: an RGB TIFF is accepted at upload with `channels: 3`; a restore
 * job must name one channel (`options.channel`, checked against the stack at submission), and restores
 * exactly that channel.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RestoreEngine } from '@pssr/inference';
import { resolveModel } from '@pssr/models';
import { openTiffStack } from '@pssr/tiff';
import { craftTiff } from '../../packages/tiff/test/helpers/craft.js';
import { api, followEvents, startService, type TestService } from './support/service.js';

let svc: TestService;
let lab: { authorization: string; groupId: string };

/** A 24x24 RGB uint8 TIFF (chunky), each channel a different pattern. */
function rgbTiff(size: number): Buffer {
  const pixels = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const y = Math.floor(i / size);
    const x = i % size;
    pixels[3 * i] = (x * 9) % 256;
    pixels[3 * i + 1] = ((x * y) * 3 + 40) % 256;
    pixels[3 * i + 2] = (y * 11) % 256;
  }
  const tags = (dataOffset: number) => ({
    tags: [
      [256, 4, [size]], [257, 4, [size]], [258, 3, [8, 8, 8]], [259, 3, [1]], [262, 3, [2]], [273, 4, [dataOffset]],
      [277, 3, [3]], [278, 4, [size]], [279, 4, [pixels.length]], [284, 3, [1]],
    ] as Array<[number, number, number[]]>,
  });
  return craftTiff([tags(craftTiff([tags(0)]).length)], { tail: pixels });
}

before(async () => {
  svc = await startService('e2e_channels');
  lab = await svc.key('channel-lab');
});
after(async () => {
  await svc?.close();
});

test('an RGB stack is stored with its channel count; a restore must choose a channel and restores that one', async () => {
  const path = join(svc.dir, 'rgb.tif');
  await writeFile(path, rgbTiff(24));
  const up = await fetch(`${svc.base}/v1/stacks?name=rgb.tif`, { method: 'POST', headers: { ...lab, 'content-type': 'image/tiff' }, body: rgbTiff(24) });
  assert.equal(up.status, 201, await up.clone().text());
  const stack = (await up.json()) as { id: string; channels: number; width: number };
  assert.equal(stack.channels, 3);

  const none = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId: stack.id, model: 'em' });
  assert.equal(none.status, 400);
  assert.equal(none.json.code, 'INVALID_ARGUMENT');
  assert.match(none.json.detail, /has 3 channels; PSSR restores one: choose it with options\.channel \(0\.\.2\)/);
  const outOfRange = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId: stack.id, model: 'em', options: { channel: 3 } });
  assert.equal(outOfRange.status, 400);
  assert.match(outOfRange.json.detail, /options\.channel 3 does not exist: stack .* has 3 channels \(0\.\.2\)/);
  const train = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'train', stackIds: [stack.id], name: 'rgb', modality: 'em', steps: 1 });
  assert.equal(train.status, 400);

  const job = await api(svc.base, lab, 'POST', '/v1/jobs', { type: 'restore', stackId: stack.id, model: 'em', options: { channel: 1 } });
  assert.equal(job.status, 202, JSON.stringify(job.json));
  const done = (await followEvents(svc.base, lab, job.json.id)).at(-1)!.data;
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const out = await api(svc.base, lab, 'GET', `/v1/stacks/${done.outputStackId}`);
  assert.deepEqual([out.json.frames, out.json.height, out.json.width, out.json.channels], [1, 96, 96, 1]);

  // The service restored channel 1: the same pixels as restoring channel 1 here.
  const local = join(svc.dir, 'out.tif');
  await writeFile(local, Buffer.from(await (await fetch(`${svc.base}/v1/stacks/${done.outputStackId}/data?redirect=false`, { headers: lab })).arrayBuffer()));
  const engine = await RestoreEngine.load(await resolveModel('em'), { device: 'cpu' });
  const input = await openTiffStack(path, { channel: 1 });
  const frames: number[][] = [];
  await engine.restore(input, { info: engine.outputInfo(input.info), writeFrame: async (f) => void frames.push(Array.from(f)), commit: async () => {}, abort: async () => {} });
  await input.close();
  const served = await openTiffStack(local);
  assert.deepEqual(Array.from(await served.readFrame(0)), frames[0]);
  await served.close();
});
