/**
 * One restore, as a list of named steps (engine.ts plans it): load and normalise frames -> cut a batch of
 * tiles -> run it (8 dihedral orientations with TTA) -> blend the outputs into their frames -> finish a
 * frame (denormalise, write, hand to onFrame) -> report progress. Batches are pipelined so the session
 * worker never waits for this thread; only a bounded window of frames is held.
 */
import { DIHEDRAL_COUNT, PssrError, TileBlender, denormalize, dihedral, dihedralShape, extractTile, frameWindow, normalizationRange, normalizeInto } from '@pssr/core';
import type { FrameArray, FrameSink, FrameSource, NormRange, TileRect, TileSpec } from '@pssr/core';
import type { ModelBundle, Precision, RestoreOptions, RestoreTiming } from './engine.js';
import { sessionHost } from './session-host.js';
import type { Provider, RunResult } from './session-host.js';

export interface RestorePlan {
  tile: TileSpec;
  rects: TileRect[];
  /** LR tile height and width (every tile of the plan has this size). */
  th: number;
  tw: number;
  tilesTotal: number;
  batchSize: number;
}

/** At most this many bytes of recycled HR accumulators are kept per engine. */
const SPARE_BYTES = 256 * 2 ** 20;

/** Batches posted to the session worker ahead of the one being blended. */
const PIPELINE_DEPTH = 2;

interface Batch {
  tiles: { frame: number; rect: TileRect }[];
  data: Float32Array;
}

/** A batch's network output: the mean over orientations and, with TTA, the per-pixel standard deviation. */
interface BatchOutput {
  mean: Float32Array;
  std: Float32Array | null;
  sessionSeconds: number;
  ranBatch: number;
}

interface InputFrame {
  raw: FrameArray;
  data: Float32Array;
  range: NormRange;
}

interface AssemblingFrame {
  blender: TileBlender;
  uncertainty: TileBlender | null;
  centre: InputFrame;
}

export class RestoreRun {
  private readonly started = performance.now();
  private readonly frames: number;
  private readonly height: number;
  private readonly width: number;
  private readonly inputFrames: number;
  private readonly tilesPerFrame: number;
  private readonly tta: boolean;
  /** Normalised input frames, kept while a window still needs them. */
  private readonly cache = new Map<number, InputFrame>();
  private readonly assembling = new Map<number, AssemblingFrame>();
  private batchSize: number;
  /** Next tile (frame * tilesPerFrame + rect index) to prepare. */
  private cursor = 0;
  private sessionSeconds = 0;
  private tilesDone = 0;
  private framesDone = 0;

  constructor(
    private readonly model: ModelBundle,
    /** The session that runs: its ONNX file (model.onnx or the fp16 variant), provider and precision. */
    private readonly session: { path: string; provider: Provider; precision: Precision },
    private readonly plan: RestorePlan,
    private readonly source: FrameSource,
    private readonly sink: FrameSink,
    private readonly opts: RestoreOptions,
    /** Recycled HR accumulators of this frame size (shared with later restores of the same engine). */
    private readonly spare: Float32Array[],
  ) {
    ({ frames: this.frames, height: this.height, width: this.width } = source.info);
    this.inputFrames = model.card.inputFrames;
    this.tilesPerFrame = plan.rects.length;
    this.batchSize = plan.batchSize;
    this.tta = opts.tta === true;
  }

  /**
   * The pipeline: up to PIPELINE_DEPTH batches are posted to the session worker while this thread cuts the
   * next batch and blends and writes the finished one. Results arrive in order.
   */
  async execute(): Promise<RestoreTiming> {
    const inflight: Promise<{ batch: Batch; output: BatchOutput }>[] = [];
    this.reportProgress(); // 0 of N: lets a progress bar appear before the first batch finishes
    try {
      while (this.cursor < this.plan.tilesTotal || inflight.length > 0) {
        throwIfCanceled(this.opts.signal);
        while (inflight.length < PIPELINE_DEPTH && this.cursor < this.plan.tilesTotal) {
          const batch = await this.prepareBatch();
          const next = this.runBatch(batch).then((output) => ({ batch, output }));
          next.catch(() => undefined); // handled when awaited below; never an unhandled rejection
          inflight.push(next);
        }
        const finished = await inflight.shift()!;
        await this.consumeBatch(finished.batch, finished.output);
      }
    } catch (err) {
      // Let runs in flight finish before returning, so the caller can abort the sink safely.
      await Promise.allSettled(inflight);
      throw err;
    }
    return this.timing();
  }

  /** Reads and normalises input frame i once (the card's normalisation, per whole frame). */
  private async loadFrame(i: number): Promise<InputFrame> {
    let entry = this.cache.get(i);
    if (!entry) {
      const raw = await this.source.readFrame(i);
      if (raw.length !== this.height * this.width) {
        throw new PssrError('FRAME_SIZE_MISMATCH', `Frame ${i + 1} has ${raw.length} pixels; the stack's frames are ${this.width}x${this.height}.`);
      }
      const range = normalizationRange(raw, this.model.card.normalization);
      entry = { raw, data: normalizeInto(raw, range), range };
      this.cache.set(i, entry);
    }
    return entry;
  }

  /** Cuts the next batch of tiles ([count, inputFrames, th, tw]), opening frames as they start. */
  private async prepareBatch(): Promise<Batch> {
    const { th, tw, tilesTotal, rects, tile } = this.plan;
    const F = this.inputFrames;
    const frameSize = th * tw;
    const count = Math.min(this.batchSize, tilesTotal - this.cursor);
    const data = new Float32Array(count * F * frameSize);
    const tiles: Batch['tiles'] = [];
    for (let b = 0; b < count; b++, this.cursor++) {
      const t = Math.floor(this.cursor / this.tilesPerFrame);
      const rect = rects[this.cursor % this.tilesPerFrame]!;
      const window = frameWindow(t, this.frames, F as 1 | 5);
      if (!this.assembling.has(t)) {
        for (const k of this.cache.keys()) if (k < Math.min(...window)) this.cache.delete(k);
        const centre = await this.loadFrame(t);
        this.assembling.set(t, {
          blender: new TileBlender(this.height, this.width, tile, 4, this.spare.pop()),
          uncertainty: this.tta ? new TileBlender(this.height, this.width, tile, 4, this.spare.pop()) : null,
          centre,
        });
      }
      for (let c = 0; c < F; c++) {
        const src = await this.loadFrame(window[c]!);
        extractTile(src.data, this.height, this.width, rect, data.subarray((b * F + c) * frameSize, (b * F + c + 1) * frameSize));
      }
      tiles.push({ frame: t, rect });
    }
    return { tiles, data };
  }

  /** Runs a batch through the session: once, or in the 8 dihedral orientations (mean and standard deviation). */
  private async runBatch(batch: Batch): Promise<BatchOutput> {
    const { th, tw } = this.plan;
    const n = batch.tiles.length;
    if (!this.tta) {
      const r = await this.runSession(batch.data, n, th, tw);
      this.checkOutput(r, n);
      return { mean: r.data, std: null, sessionSeconds: r.seconds, ranBatch: r.ranBatch };
    }
    const planes = n * this.inputFrames;
    const runs = Array.from({ length: DIHEDRAL_COUNT }, (_, g) => {
      const [h, w] = dihedralShape(g, th, tw);
      return this.runSession(dihedral(batch.data, planes, th, tw, g), n, h, w).then((r) => ({ g, r }));
    });
    const hrSize = 16 * th * tw;
    const sum = new Float64Array(n * hrSize);
    const sumSq = new Float64Array(n * hrSize);
    let seconds = 0;
    let ranBatch = n;
    for (const run of runs) {
      const { g, r } = await run;
      this.checkOutput(r, n);
      const [h, w] = dihedralShape(g, th, tw);
      const back = dihedral(r.data, n, 4 * h, 4 * w, g, true);
      for (let i = 0; i < back.length; i++) {
        const v = back[i]!;
        sum[i]! += v;
        sumSq[i]! += v * v;
      }
      seconds += r.seconds;
      ranBatch = Math.min(ranBatch, r.ranBatch);
    }
    const mean = new Float32Array(n * hrSize);
    const std = new Float32Array(n * hrSize);
    for (let i = 0; i < mean.length; i++) {
      const m = sum[i]! / DIHEDRAL_COUNT;
      mean[i] = m;
      std[i] = Math.sqrt(Math.max(0, sumSq[i]! / DIHEDRAL_COUNT - m * m));
    }
    return { mean, std, sessionSeconds: seconds, ranBatch };
  }

  private runSession(data: Float32Array, n: number, h: number, w: number): Promise<RunResult> {
    return sessionHost.run(this.session.path, this.session.provider, data, [n, this.inputFrames, h, w]);
  }

  private checkOutput(result: RunResult, n: number): void {
    const { th, tw } = this.plan;
    if (result.data.length !== n * 16 * th * tw) {
      throw new PssrError('MODEL_CARD_INVALID', `${this.model.onnxPath} returned [${result.dims.join(', ')}] for ${n} tiles of ${tw}x${th}; a 4x model must return [${n}, 1, ${4 * th}, ${4 * tw}].`);
    }
  }

  /** Blends a batch's tiles into their frames and finishes every frame that is complete. */
  private async consumeBatch(batch: Batch, output: BatchOutput): Promise<void> {
    this.sessionSeconds += output.sessionSeconds;
    if (output.ranBatch < batch.tiles.length) this.batchSize = output.ranBatch; // out-of-memory split: stay smaller
    const hrSize = 16 * this.plan.th * this.plan.tw;
    for (let b = 0; b < batch.tiles.length; b++) {
      const { frame, rect } = batch.tiles[b]!;
      const state = this.assembling.get(frame)!;
      state.blender.add(rect, output.mean.subarray(b * hrSize, (b + 1) * hrSize));
      if (output.std) state.uncertainty!.add(rect, output.std.subarray(b * hrSize, (b + 1) * hrSize));
      this.tilesDone++;
      if (state.blender.pending === 0) await this.finishFrame(frame, state);
    }
    this.reportProgress();
  }

  /** Denormalises a complete frame with its centre frame's range, writes it and hands it to onFrame. */
  private async finishFrame(index: number, state: AssemblingFrame): Promise<void> {
    this.assembling.delete(index);
    const { range, raw } = state.centre;
    const hr = state.blender.result();
    const output = denormalize(hr, range, this.sink.info.dtype);
    let uncertainty: Float32Array | null = null;
    if (state.uncertainty) {
      const std = state.uncertainty.result();
      const span = range.hi - range.lo;
      uncertainty = new Float32Array(std.length);
      for (let i = 0; i < std.length; i++) uncertainty[i] = std[i]! * span;
      this.recycle(std);
    }
    this.recycle(hr);
    await this.sink.writeFrame(output);
    this.framesDone++;
    if (this.opts.onFrame) await this.opts.onFrame({ index, input: raw, output, uncertainty });
  }

  private recycle(buffer: Float32Array): void {
    const keep = PIPELINE_DEPTH + 1 + (this.tta ? PIPELINE_DEPTH + 1 : 0);
    if (this.spare.length < keep && buffer.length * 4 * (this.spare.length + 1) <= SPARE_BYTES) this.spare.push(buffer);
  }

  private reportProgress(): void {
    if (!this.opts.onProgress) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const { tilesTotal } = this.plan;
    this.opts.onProgress({
      framesDone: this.framesDone,
      framesTotal: this.frames,
      tilesDone: this.tilesDone,
      tilesTotal,
      elapsedSeconds: elapsed,
      megapixelsPerSecond: elapsed > 0 ? (this.outputMegapixels() * this.tilesDone) / tilesTotal / elapsed : 0,
      etaSeconds: this.tilesDone > 0 ? (elapsed * (tilesTotal - this.tilesDone)) / this.tilesDone : null,
    });
  }

  private outputMegapixels(): number {
    return (this.frames * 16 * this.height * this.width) / 1e6;
  }

  private timing(): RestoreTiming {
    const seconds = (performance.now() - this.started) / 1000;
    return {
      frames: this.frames,
      tiles: this.plan.tilesTotal,
      outputMegapixels: this.outputMegapixels(),
      seconds,
      sessionSeconds: this.sessionSeconds,
      megapixelsPerSecond: this.outputMegapixels() / seconds,
      provider: this.session.provider,
      precision: this.session.precision,
      batchSize: this.batchSize,
      tileSize: Math.max(this.plan.th, this.plan.tw),
      tilesPerFrame: this.tilesPerFrame,
      tta: this.tta,
    };
  }
}

function throwIfCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PssrError('CANCELED', 'Restore canceled.');
}
