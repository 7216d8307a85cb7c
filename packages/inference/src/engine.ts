/**
 * The tiled restore engine (DESIGN.md "Restore"): normalise each LR frame as the card says, cut it into
 * overlapping reflect-padded tiles, run batches of tiles (across frames) through the ONNX session in the
 * session worker, blend the 4x outputs with a smooth window, map back to the input dtype with the centre
 * frame's range, and write frame by frame. Only a bounded window of frames is in memory at any time.
 */
import { PssrError, ResampledSink, ResampledSource, describePixelSizeMatch, pixelSizeMatch, planTiles, validateTileSpec } from '@pssr/core';
import type { FrameArray, FrameSink, FrameSource, ModelCard, StackInfo, TileSpec } from '@pssr/core';
import { RestoreRun } from './restore-run.js';
import type { RestorePlan } from './restore-run.js';
import { sessionHost } from './session-host.js';
import type { Device, Provider } from './session-host.js';

export type { Device } from './session-host.js';

/** A model to run: @pssr/models' ModelBundle (declared here structurally; inference imports only core). */
export interface ModelBundle {
  name: string;
  dir: string;
  onnxPath: string;
  /** fp16 copy of the network (card export.fp16), run on CUDA unless precision 'fp32' is asked for. */
  fp16Path?: string | null;
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
  precision: Precision;
  batchSize: number;
  /** LR tile edge (incl. halo) and tiles per frame actually used. */
  tileSize: number;
  tilesPerFrame: number;
  /** Whether each tile ran in the 8 dihedral orientations (8x the session time). */
  tta: boolean;
}

export interface RestoreOptions {
  batchSize?: number;
  /** LR tile edge including the halo; defaults to the card's (see defaultTileSize). */
  tileSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
  /** Test-time augmentation: run the 8 dihedral transforms of every tile, output their mean (8x the work). */
  tta?: boolean;
  /**
   * Called in frame order after each output frame is written (e.g. the trust report); with a matched pixel
   * size it sees the frames at the model's pixel size.
   */
  onFrame?: (frame: RestoredFrame) => void | Promise<void>;
  /**
   * When the input's pixel size is outside the card's range: resample the input to the model's pixel size
   * first and the output back (the output stays 4x the input). Default false: only `onWarning` is called.
   */
  matchPixelSize?: boolean;
  /** One-line warnings about the input (e.g. its pixel size is outside what the model was trained for). */
  onWarning?: (message: string) => void;
}

/** One finished output frame and what produced it. */
export interface RestoredFrame {
  index: number;
  /** The LR input frame (the centre frame of a 5-frame window), as read. */
  input: FrameArray;
  /** The output frame as written to the sink. */
  output: FrameArray;
  /** With `tta`: the per-pixel standard deviation of the 8 outputs, float32 at output size, in the input's intensity units. */
  uncertainty: Float32Array | null;
}

export interface LoadOptions {
  device?: Device;
  /** CPU threads for onnxruntime (0 or absent: onnxruntime's default, one per core). */
  threads?: number;
  /** 'auto' (default): the card's fp16 variant on CUDA, model.onnx (fp32) on the CPU. */
  precision?: 'auto' | Precision;
}

export type Precision = 'fp32' | 'fp16';

/** Output pixels per batch: enough to keep a GPU busy, small enough on CPU to pipeline and report often. */
const BATCH_OUTPUT_PIXELS: Record<Provider, number> = { cuda: 16 * 512 * 512, cpu: 2 * 512 * 512 };

/** Smallest default LR tile edge on the CPU (see defaultTileSize). */
const CPU_TILE = 512;

const engines = new Map<string, Promise<RestoreEngine>>();

export class RestoreEngine {
  /** Recycled HR accumulators of the last frame size restored. */
  private spareFrames: { size: number; buffers: Float32Array[] } = { size: 0, buffers: [] };

  private constructor(
    readonly model: ModelBundle,
    readonly provider: Provider,
    /** Why CUDA was not used under device 'auto' (null when it was, or was not tried). */
    readonly cudaUnavailableReason: string | null,
    /** The ONNX file the session runs: model.onnx, or the fp16 variant on CUDA. */
    readonly sessionPath: string,
    readonly precision: Precision,
  ) {}

  /** One engine (and one onnxruntime session) per model file and device for the life of the process. */
  static load(model: ModelBundle, opts: LoadOptions = {}): Promise<RestoreEngine> {
    const device = opts.device ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(device)) {
      return Promise.reject(new PssrError('INVALID_ARGUMENT', `Unknown device "${String(device)}"; allowed: auto, cpu, cuda.`));
    }
    const precision = opts.precision ?? 'auto';
    if (!['auto', 'fp32', 'fp16'].includes(precision)) {
      return Promise.reject(new PssrError('INVALID_ARGUMENT', `Unknown precision "${String(precision)}"; allowed: auto, fp32, fp16.`));
    }
    if (precision === 'fp16' && !model.fp16Path) {
      return Promise.reject(new PssrError('INVALID_ARGUMENT', `${model.dir}: the card has no fp16 variant (export.fp16); use precision auto or fp32.`));
    }
    const key = `${model.onnxPath}\0${model.card.sha256}\0${device}\0${opts.threads ?? 0}\0${precision}`;
    let p = engines.get(key);
    if (!p) {
      p = RestoreEngine.create(model, device, opts.threads ?? 0, precision);
      engines.set(key, p);
      p.catch(() => engines.delete(key));
    }
    return p;
  }

  /**
   * Frees the engines and sessions of a model (all devices): for models that are used once and deleted,
   * like a freshly trained model's calibration in a long-running worker. A later load starts afresh.
   */
  static async unload(model: ModelBundle): Promise<void> {
    for (const key of engines.keys()) if (key.startsWith(`${model.onnxPath}\0`)) engines.delete(key);
    for (const path of [model.onnxPath, model.fp16Path]) if (path) await sessionHost.unload(path);
  }

  private static async create(model: ModelBundle, device: Device, threads: number, precision: 'auto' | Precision): Promise<RestoreEngine> {
    validateTileSpec(model.card.tile, `${model.dir}/model.json tile`);
    // auto: fp16 only where CUDA loads; an explicit fp16 runs the variant on the CPU too (for checks).
    const fp16 = model.fp16Path ?? null;
    const cpuPath = precision === 'fp16' && fp16 ? fp16 : model.onnxPath;
    const cudaPath = precision === 'fp32' ? null : fp16;
    let loaded;
    try {
      loaded = await sessionHost.load(cpuPath, device, threads, cudaPath);
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
    const sessionPath = loaded.sessionPath ?? model.onnxPath;
    const ran: Precision = sessionPath === fp16 ? 'fp16' : 'fp32';
    return new RestoreEngine(model, loaded.provider, loaded.provider === 'cpu' ? (loaded.cudaError ?? null) : null, sessionPath, ran);
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
    const r = await sessionHost.run(this.sessionPath, this.provider, input, [batch, this.model.card.inputFrames, tileH, tileW]);
    return { output: r.data, seconds: r.seconds };
  }

  tileSpec(tileSize?: number): TileSpec {
    const card = this.model.card.tile;
    const spec = { ...card, size: tileSize ?? this.defaultTileSize() };
    validateTileSpec(spec, tileSize === undefined ? `${this.model.name} card tile` : '--tile');
    return spec;
  }

  /**
   * Restores `source` into `sink` (DESIGN.md "Restore"). With `tta`, every tile batch runs in the 8
   * dihedral orientations: the output is their mean and `onFrame` receives their per-pixel standard
   * deviation as the uncertainty map. The caller commits or aborts the sink.
   */
  async restore(source: FrameSource, sink: FrameSink, opts: RestoreOptions = {}): Promise<RestoreTiming> {
    const match = pixelSizeMatch(source.info.pixelSize, this.model.card);
    if (!match) return this.restoreTiles(source, sink, opts);
    if (!opts.matchPixelSize) {
      opts.onWarning?.(`${describePixelSizeMatch(match)}; results may be worse (pixel-size matching resamples to the model's first).`);
      return this.restoreTiles(source, sink, opts);
    }
    // Restore at the model's pixel size; the sink resamples each output frame back to 4x the input.
    const resampled = new ResampledSource(source, match);
    const { width: w, height: h } = source.info;
    opts.onWarning?.(`${describePixelSizeMatch(match)}: restoring it resampled to ${resampled.info.width}x${resampled.info.height}, output resampled back to ${4 * w}x${4 * h}.`);
    return this.restoreTiles(resampled, new ResampledSink(sink, this.outputInfo(resampled.info)), opts);
  }

  private restoreTiles(source: FrameSource, sink: FrameSink, opts: RestoreOptions): Promise<RestoreTiming> {
    const plan = this.planRestore(source.info, sink.info, opts);
    return new RestoreRun(this.model, { path: this.sessionPath, provider: this.provider, precision: this.precision }, plan, source, sink, opts, this.spareBuffers(16 * source.info.height * source.info.width)).execute();
  }

  /** Checks the request and fixes tiles and batch size (step 1 of a restore). */
  private planRestore(info: StackInfo, sinkInfo: StackInfo, opts: RestoreOptions): RestorePlan {
    const { frames: n, height: h, width: w, dtype } = info;
    if (!(n >= 1 && h >= 1 && w >= 1)) throw new PssrError('INVALID_ARGUMENT', `Cannot restore an empty stack (${n} frames of ${w}x${h}).`);
    const out = this.outputInfo(info);
    if (sinkInfo.height !== out.height || sinkInfo.width !== out.width || sinkInfo.dtype !== dtype) {
      throw new PssrError('INTERNAL', `The output must be ${out.width}x${out.height} ${dtype}; the sink is ${sinkInfo.width}x${sinkInfo.height} ${sinkInfo.dtype}.`, false);
    }
    if (opts.batchSize !== undefined && !(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) {
      throw new PssrError('INVALID_ARGUMENT', `Batch size must be a positive integer (got ${opts.batchSize}).`);
    }
    const tile = this.tileSpec(opts.tileSize);
    const rects = planTiles(h, w, tile);
    const th = rects[0]!.h;
    const tw = rects[0]!.w;
    const tilesTotal = n * rects.length;
    const batchSize = Math.min(opts.batchSize ?? this.defaultBatchSize(th, tw), tilesTotal);
    // Even batches (9 tiles at 4 per batch run as 3+3+3, not 4+4+1).
    return { tile, rects, th, tw, tilesTotal, batchSize: Math.ceil(tilesTotal / Math.ceil(tilesTotal / batchSize)) };
  }

  /**
   * HR accumulators are recycled (across restores too): allocating a fresh one per frame costs more in
   * page faults than blending.
   */
  private spareBuffers(size: number): Float32Array[] {
    if (this.spareFrames.size !== size) this.spareFrames = { size, buffers: [] };
    return this.spareFrames.buffers;
  }
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
