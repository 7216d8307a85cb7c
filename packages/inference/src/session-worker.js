// onnxruntime-node sessions live in this worker thread. onnxruntime-node 1.29's `session.run` is
// synchronous native code behind a Promise (it blocks the calling thread for the whole inference), so
// running it here keeps the main event loop free for progress bars, I/O and queue lock renewal.
// Plain JavaScript on purpose: worker threads do not inherit a TypeScript loader registered at run time.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parentPort } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

// Errors reach the caller as exceptions; the native logger would print them a second time (and print a
// failed CUDA probe under --device auto, which must fall back quietly).
ort.env.logLevel = 'fatal';

/** One session per model file and provider, until unloaded (CUDA arenas are not returned). */
const sessions = new Map();

function cudaProviderPresent() {
  const binDir = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(binDir, 'libonnxruntime_providers_cuda.so')) && existsSync(join(binDir, 'libonnxruntime_providers_shared.so'));
}

async function create(path, provider, threads) {
  const key = `${path}\0${provider}`;
  let entry = sessions.get(key);
  if (!entry) {
    const options = { executionProviders: [provider === 'cuda' ? { name: 'cuda', deviceId: 0 } : 'cpu'], graphOptimizationLevel: 'all' };
    if (provider === 'cpu' && threads > 0) options.intraOpNumThreads = threads;
    const session = await ort.InferenceSession.create(path, options);
    entry = { session, input: session.inputNames[0], output: session.outputNames[0], inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata };
    sessions.set(key, entry);
  }
  return entry;
}

function shapeOf(meta) {
  return meta && meta.isTensor ? meta.shape.map((d) => (typeof d === 'number' ? d : null)) : null;
}

async function load({ path, device, threads, cudaPath }) {
  let cudaError = null;
  if (device === 'cuda' || device === 'auto') {
    if (!cudaProviderPresent()) {
      cudaError = 'the onnxruntime CUDA provider libraries are not installed next to libonnxruntime.so.1';
    } else {
      try {
        const file = cudaPath || path;
        const entry = await create(file, 'cuda', threads);
        return { provider: 'cuda', sessionPath: file, inputShape: shapeOf(entry.inputMetadata[0]), outputShape: shapeOf(entry.outputMetadata[0]) };
      } catch (err) {
        cudaError = String(err && err.message ? err.message : err).split('\n')[0];
      }
    }
    if (device === 'cuda') return { cudaError };
  }
  const entry = await create(path, 'cpu', threads);
  return { provider: 'cpu', sessionPath: path, inputShape: shapeOf(entry.inputMetadata[0]), outputShape: shapeOf(entry.outputMetadata[0]), cudaError };
}

function isOutOfMemory(err) {
  return /out of memory|failed to allocate|bfcarena|cudaErrorMemoryAllocation|CUDNN_STATUS_ALLOC_FAILED|CUBLAS_STATUS_ALLOC_FAILED|std::bad_alloc/i.test(String(err && err.message));
}

/**
 * Runs a batch; on out-of-memory splits it in halves and retries (the GPU README: cap work, halve on OOM).
 * Returns the output and the largest chunk that ran, so the engine shrinks its next batches.
 */
async function runBatch(entry, data, dims) {
  const n = dims[0];
  try {
    const result = await entry.session.run({ [entry.input]: new ort.Tensor('float32', data, dims) });
    const out = result[entry.output];
    return { data: out.data, dims: out.dims.slice(), ranBatch: n };
  } catch (err) {
    if (n <= 1 || !isOutOfMemory(err)) throw err;
    const half = Math.ceil(n / 2);
    const per = data.length / n;
    const a = await runBatch(entry, data.subarray(0, half * per), [half, ...dims.slice(1)]);
    const b = await runBatch(entry, data.subarray(half * per), [n - half, ...dims.slice(1)]);
    const joined = new Float32Array(a.data.length + b.data.length);
    joined.set(a.data, 0);
    joined.set(b.data, a.data.length);
    return { data: joined, dims: [n, ...a.dims.slice(1)], ranBatch: Math.min(a.ranBatch, b.ranBatch) };
  }
}

// Runs execute one at a time in arrival order (the engine posts the next batch before the current one ends,
// so the session never waits); the queue also makes each run's measured time its own.
let queue = Promise.resolve();

function run(msg) {
  const result = queue.then(() => runNow(msg));
  queue = result.catch(() => undefined);
  return result;
}

async function runNow({ path, provider, data, dims }) {
  const entry = sessions.get(`${path}\0${provider}`);
  if (!entry) throw new Error(`no session for ${path} (${provider})`);
  const start = performance.now();
  const out = await runBatch(entry, data, dims);
  const seconds = (performance.now() - start) / 1000;
  // Hand the output back without a copy when it owns its buffer; otherwise copy once.
  const owned = out.data.byteOffset === 0 && out.data.byteLength === out.data.buffer.byteLength ? out.data : out.data.slice();
  return { result: { data: owned, dims: out.dims, seconds, ranBatch: out.ranBatch }, transfer: [owned.buffer] };
}

/** Frees the sessions of a model file once the runs queued before this request have finished. */
async function unload({ path }) {
  await queue;
  for (const [key, entry] of sessions) {
    if (key.startsWith(`${path}\0`)) {
      sessions.delete(key);
      await entry.session.release();
    }
  }
}

parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'load') {
      parentPort.postMessage({ id: msg.id, ok: true, result: await load(msg) });
    } else if (msg.type === 'unload') {
      parentPort.postMessage({ id: msg.id, ok: true, result: await unload(msg) });
    } else if (msg.type === 'run') {
      const { result, transfer } = await run(msg);
      parentPort.postMessage({ id: msg.id, ok: true, result }, transfer);
    } else {
      throw new Error(`unknown request ${msg.type}`);
    }
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, error: String(err && err.message ? err.message : err), oom: isOutOfMemory(err) });
  }
});
