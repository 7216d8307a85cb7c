/**
 * The main-thread side of the session worker (session-worker.js): one worker per process holding every
 * InferenceSession, requests and replies as messages with transferred buffers (no copies).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { PssrError } from '@pssr/core';

/** The onnxruntime-node version that runs the models (recorded in model cards' export checks). */
export const ONNXRUNTIME_VERSION: string = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;

export type Device = 'auto' | 'cpu' | 'cuda';
export type Provider = 'cuda' | 'cpu';

export interface LoadResult {
  provider?: Provider;
  /** The file the session was created from (the CUDA file when CUDA loaded). */
  sessionPath?: string;
  /** Static dims of the model's input/output (null where dynamic). */
  inputShape?: (number | null)[] | null;
  outputShape?: (number | null)[] | null;
  cudaError?: string | null;
}

export interface RunResult {
  data: Float32Array;
  dims: number[];
  /** Time spent inside session.run, measured in the worker. */
  seconds: number;
  /** The largest batch that ran (smaller than requested after an out-of-memory split). */
  ranBatch: number;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  oom?: boolean;
}

class SessionHost {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly loads = new Map<string, Promise<LoadResult>>();

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./session-worker.js', import.meta.url));
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      this.updateRef();
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new PssrError('INTERNAL', `onnxruntime: ${reply.error ?? 'unknown error'}`, false));
    });
    const failAll = (err: unknown) => {
      for (const p of this.pending.values()) p.reject(new PssrError('INTERNAL', `The inference worker stopped: ${String((err as Error)?.message ?? err)}`, false));
      this.pending.clear();
      this.worker = null;
      this.loads.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(`exit code ${code}`));
    this.worker = worker;
    this.updateRef();
    return worker;
  }

  /** The worker keeps the process alive only while a request is outstanding. */
  private updateRef(): void {
    if (!this.worker) return;
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private request<T>(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.updateRef();
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  /**
   * Creates (once per model file and device request) the session; says which provider it got. On CUDA the
   * session runs `cudaPath` when given (the fp16 variant), on the CPU always `path`.
   */
  load(path: string, device: Device, threads = 0, cudaPath: string | null = null): Promise<LoadResult> {
    const key = `${path}\0${device}\0${threads}\0${cudaPath ?? ''}`;
    let p = this.loads.get(key);
    if (!p) {
      p = this.request<LoadResult>({ type: 'load', path, device, threads, cudaPath });
      this.loads.set(key, p);
      p.catch(() => this.loads.delete(key));
    }
    return p;
  }

  /** Frees every session of a model file (after the runs already queued); a later load creates it anew. */
  async unload(path: string): Promise<void> {
    for (const key of this.loads.keys()) if (key.startsWith(`${path}\0`)) this.loads.delete(key);
    if (this.worker) await this.request<void>({ type: 'unload', path });
  }

  /** Runs one batch; `data` is transferred (unusable afterwards). */
  run(path: string, provider: Provider, data: Float32Array, dims: number[]): Promise<RunResult> {
    const buffer = data.buffer as ArrayBuffer;
    const whole = data.byteOffset === 0 && data.byteLength === buffer.byteLength;
    const payload = whole ? data : data.slice();
    return this.request<RunResult>({ type: 'run', path, provider, data: payload, dims }, [payload.buffer as ArrayBuffer]);
  }

  /** Stops the worker (and frees every session). Tests and short-lived tools only. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.loads.clear();
    if (w) await w.terminate();
  }
}

/** The process-wide host: one worker, one session per model and provider. */
export const sessionHost = new SessionHost();
