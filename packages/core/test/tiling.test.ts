import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PssrError } from '../src/errors.js';
import type { TileSpec } from '../src/modelcard.js';
import { TileBlender, blendWidth, extractTile, planAxis, planTiles, reflectIndex } from '../src/tiling.js';

const SPECS: TileSpec[] = [
  { size: 128, halo: 16, multiple: 8 },
  { size: 48, halo: 8, multiple: 2 },
  { size: 32, halo: 4, multiple: 1 },
  { size: 16, halo: 0, multiple: 1 },
  { size: 12, halo: 4, multiple: 1 },
];
const EXTENTS = [1, 2, 7, 31, 32, 33, 95, 96, 97, 200, 256, 1000];

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('reflectIndex follows numpy reflect padding, folding as often as needed', () => {
  assert.deepEqual([-3, -2, -1, 0, 1, 2, 3, 4, 5].map((i) => reflectIndex(i, 4)), [3, 2, 1, 0, 1, 2, 3, 2, 1]);
  assert.deepEqual([-7, -6, 8, 9].map((i) => reflectIndex(i, 3)), [1, 2, 0, 1]);
  assert.deepEqual([-5, 0, 5].map((i) => reflectIndex(i, 1)), [0, 0, 0]);
});

test('planAxis covers every pixel with cores, keeps tiles within the card size and aligned to the multiple', () => {
  for (const spec of SPECS) {
    for (const extent of EXTENTS) {
      const p = planAxis(extent, spec);
      const label = `${JSON.stringify(spec)} extent ${extent}`;
      assert.ok(p.length <= spec.size, label);
      assert.equal(p.length % spec.multiple, 0, label);
      assert.equal(p.length, p.core + 2 * spec.halo, label);
      for (const s of p.starts) assert.equal((((s + spec.halo) % spec.multiple) + spec.multiple) % spec.multiple, 0, label);
      // cores (start + halo .. + core) cover 0..extent-1 and neighbours overlap by at least the blend width
      assert.equal(p.starts[0]! + spec.halo, 0, label);
      const last = p.starts[p.starts.length - 1]!;
      assert.ok(last + spec.halo + p.core >= extent, label);
      if (p.starts.length > 1) assert.ok(p.core - p.stride >= blendWidth(spec), label);
      // no point lies in more than two cores (the blender copies where a tile's weight is exactly one)
      if (p.starts.length > 1) assert.ok(2 * p.stride >= p.core, label);
      // the fewest tiles: one fewer could not cover the extent
      if (p.starts.length > 1) assert.ok(extent > spec.size - 2 * spec.halo, label);
    }
  }
});

test('planTiles gives one shape for every tile of a frame', () => {
  const rects = planTiles(200, 97, { size: 48, halo: 8, multiple: 2 });
  const shapes = new Set(rects.map((r) => `${r.h}x${r.w}`));
  assert.equal(shapes.size, 1);
  assert.equal(rects.length, planAxis(200, { size: 48, halo: 8, multiple: 2 }).starts.length * planAxis(97, { size: 48, halo: 8, multiple: 2 }).starts.length);
});

test('tile specs that cannot work are refused with a clear error', () => {
  assert.throws(() => planTiles(10, 10, { size: 30, halo: 16, multiple: 8 }), (e: unknown) => e instanceof PssrError && e.code === 'INVALID_ARGUMENT' && /tile size/.test(e.message));
  assert.throws(() => planTiles(10, 10, { size: 64, halo: 12, multiple: 8 }), /halo must be/);
  assert.throws(() => planTiles(0, 10, { size: 64, halo: 8, multiple: 8 }), /Cannot tile/);
});

test('extractTile copies inside the frame and reflect-pads outside it', () => {
  const h = 5;
  const w = 6;
  const frame = Float32Array.from({ length: h * w }, (_, i) => i);
  const inner = extractTile(frame, h, w, { y: 1, x: 2, h: 2, w: 3 });
  assert.deepEqual([...inner], [8, 9, 10, 14, 15, 16]);
  const padded = extractTile(frame, h, w, { y: -2, x: -2, h: 9, w: 10 });
  for (let i = 0; i < 9; i++) {
    for (let j = 0; j < 10; j++) {
      assert.equal(padded[i * 10 + j], reflectIndex(i - 2, h) * w + reflectIndex(j - 2, w));
    }
  }
  const out = new Float32Array(100).fill(-1);
  assert.equal(extractTile(frame, h, w, { y: 0, x: 0, h: 2, w: 2 }, out), out);
  assert.deepEqual([...out.subarray(0, 5)], [0, 1, 6, 7, -1]);
});

/** HR tiles cut from a known HR image must blend back to exactly that image (weights sum to one). */
function blendExactCrops(h: number, w: number, spec: TileSpec): number {
  const rnd = lcg(h * 1000 + w);
  const H = 4 * h;
  const W = 4 * w;
  const hr = Float32Array.from({ length: H * W }, () => rnd() * 100);
  const blender = new TileBlender(h, w, spec, 4);
  for (const r of planTiles(h, w, spec)) {
    blender.add(r, extractTile(hr, H, W, { y: 4 * r.y, x: 4 * r.x, h: 4 * r.h, w: 4 * r.w }));
  }
  assert.equal(blender.pending, 0);
  const out = blender.result();
  let maxDiff = 0;
  for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - hr[i]!));
  return maxDiff;
}

test('TileBlender reproduces the image when every tile is exact (interior and borders)', () => {
  for (const spec of SPECS) {
    for (const [h, w] of [[1, 1], [7, 33], [96, 97], [130, 61]] as const) {
      // values up to 100 in float32: a few ulps
      assert.ok(blendExactCrops(h, w, spec) < 1e-4, `${JSON.stringify(spec)} ${h}x${w}`);
    }
  }
});

test('TileBlender cross-fades tiles that disagree smoothly: no step at tile borders', () => {
  const spec: TileSpec = { size: 48, halo: 8, multiple: 2 };
  const h = 100;
  const w = 100;
  const blender = new TileBlender(h, w, spec, 4);
  const rects = planTiles(h, w, spec);
  const rnd = lcg(7);
  const offsets = rects.map(() => rnd() * 10);
  rects.forEach((r, k) => blender.add(r, new Float32Array(16 * r.h * r.w).fill(offsets[k]!)));
  const out = blender.result();
  const W = 4 * w;
  // A raised cosine over `overlap` LR px = 4*overlap HR px changes by at most (pi/2)/(4*overlap) of the jump
  // per HR pixel; a hard seam would change by the whole jump.
  const p = planAxis(w, spec);
  const overlap = p.core - p.stride;
  const maxJump = Math.max(...offsets) - Math.min(...offsets);
  const bound = (maxJump * Math.PI) / 2 / (4 * overlap) + 1e-4;
  let maxStep = 0;
  for (let i = 0; i < 4 * h; i++) {
    for (let j = 1; j < W; j++) maxStep = Math.max(maxStep, Math.abs(out[i * W + j]! - out[i * W + j - 1]!));
  }
  for (let i = 1; i < 4 * h; i++) {
    for (let j = 0; j < W; j++) maxStep = Math.max(maxStep, Math.abs(out[i * W + j]! - out[(i - 1) * W + j]!));
  }
  assert.ok(maxJump > 5);
  assert.ok(maxStep <= bound, `max step ${maxStep} > ${bound}`);
  // and every output is a convex combination of the tile values
  for (const v of out) assert.ok(v >= Math.min(...offsets) - 1e-4 && v <= Math.max(...offsets) + 1e-4);
});

test('TileBlender refuses a tile that is not in its plan', () => {
  const blender = new TileBlender(50, 50, { size: 32, halo: 4, multiple: 1 }, 4);
  assert.throws(() => blender.add({ y: 3, x: -4, h: 32, w: 32 }, new Float32Array(128 * 128)), /not part of this frame/);
});
