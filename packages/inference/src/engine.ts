/**
 * The tiled restore engine (DESIGN.md "Restore"): normalise each LR frame as the card says, cut it into
 * overlapping reflect-padded tiles, run batches of tiles (across frames) through the ONNX session in the
 * session worker, blend the 4x outputs with a smooth window, map back to the input dtype with the centre
 * frame's range, and write frame by frame. Only a bounded window of frames is in memory at any time.
 */
import {
  PssrError,
  TileBlender,
  denormalize,
  extractTile,
  frameWindow,
  normalizationRange,
  normalizeInto,
  planTiles,
  validateTileSpec,
} from '@pssr/core';
import type { FrameSink, FrameSource, ModelCard, NormRange, StackInfo, TileRect, TileSpec } from '@pssr/core';
import { sessionHost } from './session-host.js';
import type { Device, Provider, RunResult } from './session-host.js';

export type { Device } from './session-host.js';

/** A model to run: @pssr/models' ModelBundle (declared here structurally; inference imports only core). */
export interface ModelBundle {
  name: string;
  dir: string;
  onnxPath: string;
  card: ModelCard;
}

export interface RestoreProgress {
  framesDone: number;
  framesTotal: number;
  tilesDone: number;
  tilesTotal: number;
  elapsedSeconds: number;
  megapixelsPerSecond: number;
  etaSeconds: number | null;
}

export interface RestoreTiming {
  frames: number;
  tiles: number;
  outputMegapixels: number;
  /** Wall time of the whole restore (read, normalise, tile, run, blend, write). */
  seconds: number;
  /** Time inside session.run alone; seconds / sessionSeconds is the engine's overhead. */
  sessionSeconds: number;
  megapixelsPerSecond: number;
  provider: Provider;
  batchSize: number;
  /** LR tile edge (incl. halo) and tiles per frame actually used. */
  tileSize: number;
  tilesPerFrame: number;
}

export interface RestoreOptions {
  batchSize?: number;
  /** LR tile edge including the halo; defaults to the card's (see defaultTileSize). */
  tileSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
}

export interface LoadOptions {
  device?: Device;
  /** CPU threads for onnxruntime (0 or absent: onnxruntime's default, one per core). */
  threads?: number;
}

/** Output pixels per batch: enough to keep a GPU busy, small enough on CPU to pipeline and report often. */
const BATCH_OUTPUT_PIXELS: Record<Provider, number> = { cuda: 16 * 512 * 512, cpu: 2 * 512 * 512 };

/** Smallest default LR tile edge on the CPU (see defaultTileSize). */
const CPU_TILE = 512;

/** At most this many bytes of recycled HR accumulators are kept per engine. */
const SPARE_BYTES = 256 * 2 ** 20;

/** Batches posted to the session worker ahead of the one being blended. */
const PIPELINE_DEPTH = 2;

const engines = new Map<string, Promise<RestoreEngine>>();

export class RestoreEngine {
  /** Recycled HR accumulators of the last frame size restored. */
  private spareFrames: { size: number; buffers: Float32Array[] } = { size: 0, buffers: [] };

  private constructor(
    readonly model: ModelBundle,
    readonly provider: Provider,
    /** Why CUDA was not used under device 'auto' (null when it was, or was not tried). */
    readonly cudaUnavailableReason: string | null,
  ) {}

  /** One engine (and one onnxruntime session) per model file and device for the life of the process. */
  static load(model: ModelBundle, opts: LoadOptions = {}): Promise<RestoreEngine> {
    const device = opts.device ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(device)) {
      return Promise.reject(new PssrError('INVALID_ARGUMENT', `Unknown device "${String(device)}"; allowed: auto, cpu, cuda.`));
    }
    const key = `${model.onnxPath}\0${model.card.sha256}\0${device}\0${opts.threads ?? 0}`;
    let p = engines.get(key);
    if (!p) {
      p = RestoreEngine.create(model, device, opts.threads ?? 0);
      engines.set(key, p);
      p.catch(() => engines.delete(key));
    }
    return p;
  }

  private static async create(model: ModelBundle, device: Device, threads: number): Promise<RestoreEngine> {
    validateTileSpec(model.card.tile, `${model.dir}/model.json tile`);
    let loaded;
    try {
      loaded = await sessionHost.load(model.onnxPath, device, threads);
    } catch (err) {
      throw new PssrError('MODEL_CARD_INVALID', `Cannot load ${model.onnxPath}: ${firstLine(err)}`, true, { cause: err });
    }
    if (!loaded.provider) {
      throw new PssrError(
        'DEVICE_UNAVAILABLE',
        `CUDA was requested but cannot be used: ${loaded.cudaError ?? 'unknown reason'}.\nSet up the CUDA provider as packages/inference/README.md says, or use --device auto or --device cpu.`,
      );
    }
    const frames = loaded.inputShape?.[1];
    if (loaded.inputShape && (loaded.inputShape.length !== 4 || (typeof frames === 'number' && frames !== model.card.inputFrames))) {
      throw new PssrError(
        'MODEL_CARD_INVALID',
        `${model.dir}: the card says inputFrames ${model.card.inputFrames} but model.onnx takes input of shape [${loaded.inputShape.map((d) => d ?? '?').join(', ')}].`,
      );
    }
    return new RestoreEngine(model, loaded.provider, loaded.provider === 'cpu' ? (loaded.cudaError ?? null) : null);
  }

  /** 4x height and width, pixel size divided by 4. */
  outputInfo(input: StackInfo): StackInfo {
    const out: StackInfo = { ...input, height: input.height * 4, width: input.width * 4 };
    if (input.pixelSize) out.pixelSize = { ...input.pixelSize, x: input.pixelSize.x / 4, y: input.pixelSize.y / 4 };
    return out;
  }

  /**
   * The LR tile edge used when none is given. CUDA: the card's (many small tiles per batch keep a GPU
   * busy). CPU: at least CPU_TILE, because the halo is recomputed for every tile and large tiles waste less
   * (measured on 2 cores with a 32-wide, 6-block fast network: 4.3-4.8 MP/s with 128 px tiles, 8.4 MP/s
   * with one 288 px tile per 256 px frame).
   */
  defaultTileSize(): number {
    const { size, multiple } = this.model.card.tile;
    if (this.provider === 'cuda') return size;
    return Math.max(size, Math.floor(CPU_TILE / multiple) * multiple);
  }

  /** Tiles per batch from the device's budget of output pixels per batch (at least 1). */
  defaultBatchSize(tileH: number, tileW: number): number {
    return Math.max(1, Math.min(64, Math.floor(BATCH_OUTPUT_PIXELS[this.provider] / (16 * tileH * tileW))));
  }

  /**
   * Runs one batch of already normalised tiles ([batch, inputFrames, tileH, tileW]) through the session
   * and nothing else: for benchmarks (the pure session time of a restore's tiles) and diagnostics.
   * `input` is transferred to the session worker and unusable afterwards.
   */
  async runBatch(input: Float32Array, batch: number, tileH: number, tileW: number): Promise<{ output: Float32Array; seconds: number }> {
    const r = await sessionHost.run(this.model.onnxPath, this.provider, input, [batch, this.model.card.inputFrames, tileH, tileW]);
    return { output: r.data, seconds: r.seconds };
  }

  tileSpec(tileSize?: number): TileSpec {
    const card = this.model.card.tile;
    const spec = { ...card, size: tileSize ?? this.defaultTileSize() };
    validateTileSpec(spec, tileSize === undefined ? `${this.model.name} card tile` : '--tile');
    return spec;
  }

  async restore(source: FrameSource, sink: FrameSink, opts: RestoreOptions = {}): Promise<RestoreTiming> {
    const started = performance.now();
    const { card } = this.model;
    const info = source.info;
    const { frames: n, height: h, width: w, dtype } = info;
    if (!(n >= 1 && h >= 1 && w >= 1)) throw new PssrError('INVALID_ARGUMENT', `Cannot restore an empty stack (${n} frames of ${w}x${h}).`);
    const out = this.outputInfo(info);
    if (sink.info.height !== out.height || sink.info.width !== out.width || sink.info.dtype !== dtype) {
      throw new PssrError('INTERNAL', `The output must be ${out.width}x${out.height} ${dtype}; the sink is ${sink.info.width}x${sink.info.height} ${sink.info.dtype}.`, false);
    }
    if (opts.batchSize !== undefined && !(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) {
      throw new PssrError('INVALID_ARGUMENT', `Batch size must be a positive integer (got ${opts.batchSize}).`);
    }
    const tile = this.tileSpec(opts.tileSize);
    const rects = planTiles(h, w, tile);
    const th = rects[0]!.h;
    const tw = rects[0]!.w;
    const frameSize = th * tw;
    const F = card.inputFrames;
    const tilesPerFrame = rects.length;
    const tilesTotal = n * tilesPerFrame;
    let batchSize = Math.min(opts.batchSize ?? this.defaultBatchSize(th, tw), tilesTotal);
    // Even batches (9 tiles at 4 per batch run as 3+3+3, not 4+4+1).
    batchSize = Math.ceil(tilesTotal / Math.ceil(tilesTotal / batchSize));
    const outMegapixels = (n * 16 * h * w) / 1e6;
    const signal = opts.signal;

    // Normalised input frames, kept while a window still needs them.
    const cache = new Map<number, { data: Float32Array; range: NormRange }>();
    const loadFrame = async (i: number) => {
      let entry = cache.get(i);
      if (!entry) {
        const raw = await source.readFrame(i);
        if (raw.length !== h * w) {
          throw new PssrError('FRAME_SIZE_MISMATCH', `Frame ${i + 1} has ${raw.length} pixels; the stack's frames are ${w}x${h}.`);
        }
        const range = normalizationRange(raw, card.normalization);
        entry = { data: normalizeInto(raw, range), range };
        cache.set(i, entry);
      }
      return entry;
    };
    // Frames being assembled: their blender and the centre frame's range for denormalisation.
    const assembling = new Map<number, { blender: TileBlender; range: NormRange }>();
    // HR accumulators are recycled (across restores too): allocating a fresh one per frame costs more in
    // page faults than blending.
    const spareFrames = this.spareFrames.size === 16 * h * w ? this.spareFrames.buffers : [];
    this.spareFrames = { size: 16 * h * w, buffers: spareFrames };

    let cursor = 0; // next tile (frame * tilesPerFrame + rect index) to prepare
    interface Batch { tiles: { frame: number; rect: TileRect }[]; data: Float32Array }
    const prepare = async (): Promise<Batch> => {
      const count = Math.min(batchSize, tilesTotal - cursor);
      const data = new Float32Array(count * F * frameSize);
      const tiles: Batch['tiles'] = [];
      for (let b = 0; b < count; b++, cursor++) {
        const t = Math.floor(cursor / tilesPerFrame);
        const rect = rects[cursor % tilesPerFrame]!;
        const window = frameWindow(t, n, F);
        if (!assembling.has(t)) {
          for (const k of cache.keys()) if (k < Math.min(...window)) cache.delete(k);
          const centre = await loadFrame(t);
          assembling.set(t, { blender: new TileBlender(h, w, tile, 4, spareFrames.pop()), range: centre.range });
        }
        for (let c = 0; c < F; c++) {
          const src = await loadFrame(window[c]!);
          extractTile(src.data, h, w, rect, data.subarray((b * F + c) * frameSize, (b * F + c + 1) * frameSize));
        }
        tiles.push({ frame: t, rect });
      }
      return { tiles, data };
    };

    let sessionSeconds = 0;
    let tilesDone = 0;
    let framesDone = 0;
    const progress = () => {
      if (!opts.onProgress) return;
      const elapsed = (performance.now() - started) / 1000;
      opts.onProgress({
        framesDone,
        framesTotal: n,
        tilesDone,
        tilesTotal,
        elapsedSeconds: elapsed,
        megapixelsPerSecond: elapsed > 0 ? (outMegapixels * tilesDone) / tilesTotal / elapsed : 0,
        etaSeconds: tilesDone > 0 ? (elapsed * (tilesTotal - tilesDone)) / tilesDone : null,
      });
    };
    const consume = async (batch: Batch, result: RunResult) => {
      sessionSeconds += result.seconds;
      if (result.ranBatch < batch.tiles.length) batchSize = result.ranBatch; // out-of-memory split: stay smaller
      const hrSize = 16 * frameSize;
      if (result.data.length !== batch.tiles.length * hrSize) {
        throw new PssrError('MODEL_CARD_INVALID', `${this.model.onnxPath} returned [${result.dims.join(', ')}] for ${batch.tiles.length} tiles of ${tw}x${th}; a 4x model must return [${batch.tiles.length}, 1, ${4 * th}, ${4 * tw}].`);
      }
      for (let b = 0; b < batch.tiles.length; b++) {
        const { frame, rect } = batch.tiles[b]!;
        const state = assembling.get(frame)!;
        state.blender.add(rect, result.data.subarray(b * hrSize, (b + 1) * hrSize));
        tilesDone++;
        if (state.blender.pending === 0) {
          assembling.delete(frame);
          const hr = state.blender.result();
          const restored = denormalize(hr, state.range, dtype);
          if (spareFrames.length < PIPELINE_DEPTH + 1 && hr.length * 4 * (spareFrames.length + 1) <= SPARE_BYTES) spareFrames.push(hr);
          await sink.writeFrame(restored);
          framesDone++;
        }
      }
      progress();
    };

    const run = (batch: Batch) =>
      sessionHost.run(this.model.onnxPath, this.provider, batch.data, [batch.tiles.length, F, th, tw]).then((result) => ({ batch, result }));

    // Pipeline: up to PIPELINE_DEPTH batches are posted to the session worker, so it never waits for this
    // thread; meanwhile this thread reads/normalises/cuts the next batch and blends and writes the finished
    // one. Results arrive in order.
    const inflight: Promise<{ batch: Batch; result: RunResult }>[] = [];
    progress(); // 0 of N: lets a progress bar appear before the first batch finishes
    try {
      while (cursor < tilesTotal || inflight.length > 0) {
        throwIfCanceled(signal);
        while (inflight.length < PIPELINE_DEPTH && cursor < tilesTotal) {
          const next = run(await prepare());
          next.catch(() => undefined); // handled when awaited below; never an unhandled rejection
          inflight.push(next);
        }
        const finished = await inflight.shift()!;
        await consume(finished.batch, finished.result);
      }
    } catch (err) {
      // Let runs in flight finish before returning, so the caller can abort the sink safely.
      await Promise.allSettled(inflight);
      throw err;
    }

    const seconds = (performance.now() - started) / 1000;
    return {
      frames: n,
      tiles: tilesTotal,
      outputMegapixels: outMegapixels,
      seconds,
      sessionSeconds,
      megapixelsPerSecond: outMegapixels / seconds,
      provider: this.provider,
      batchSize,
      tileSize: Math.max(th, tw),
      tilesPerFrame,
    };
  }
}

function throwIfCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PssrError('CANCELED', 'Restore canceled.');
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
