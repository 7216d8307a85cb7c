// Resumable stack uploads over the API's multipart protocol (POST /v1/stacks/uploads, PUT each part,
// POST .../complete). Each part goes where the API says: straight to S3 with a presigned URL, or through
// the API when the store cannot presign (local disk). Pause aborts the parts in flight; resume asks the API
// which parts arrived (GET /v1/stacks/uploads/:id) and sends only the missing ones. Completion is where
// the server validates the TIFF: its problem message is shown as the file's error.
import { api, ApiProblem, unsafeHeaders } from './api.js';

const MiB = 1024 * 1024;
const PARALLEL_PARTS = 3;
// Small parts make pause/resume lose little; S3 needs at least 5 MiB (all but the last part).
const PART_SIZE = 8 * MiB;

function putPart(part, blob, onLoaded, xhrs) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhrs.add(xhr);
    xhr.open('PUT', part.url);
    if (part.proxied) {
      xhr.setRequestHeader('content-type', 'application/octet-stream');
      for (const [k, v] of Object.entries(unsafeHeaders())) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => onLoaded(e.loaded);
    const done = () => xhrs.delete(xhr);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { detail: `Part ${part.partNumber} was refused (HTTP ${xhr.status}).` };
      }
      reject(new ApiProblem(xhr.status, body));
    };
    xhr.onerror = () => {
      done();
      reject(new Error(`Part ${part.partNumber} could not be sent (network error${part.proxied ? '' : ' or the storage server refused the browser: check its CORS rules'}).`));
    };
    xhr.onabort = () => {
      done();
      reject(new DOMException('paused', 'AbortError'));
    };
    xhr.send(blob);
  });
}

export class ResumableUpload {
  /** @param {File} file  @param {(u: ResumableUpload) => void} onChange */
  constructor(file, onChange) {
    this.file = file;
    this.onChange = onChange;
    this.state = 'queued'; // queued | uploading | paused | validating | done | error
    this.sent = 0;
    this.error = null;
    this.stack = null;
    this.upload = null;
    this.inFlight = new Map();
    this.xhrs = new Set();
  }

  get progress() {
    const inflight = [...this.inFlight.values()].reduce((a, b) => a + b, 0);
    return this.file.size ? Math.min(1, (this.sent + inflight) / this.file.size) : 0;
  }

  changed() {
    this.onChange(this);
  }

  async start() {
    if (this.file.size === 0) return this.fail(new Error('The file is empty (0 bytes): choose a TIFF stack.'));
    try {
      this.state = 'uploading';
      this.changed();
      this.upload = await api('POST', '/v1/stacks/uploads', { name: this.file.name, bytes: this.file.size, partSize: PART_SIZE });
      await this.sendMissing();
    } catch (err) {
      this.settle(err);
    }
  }

  pause() {
    if (this.state !== 'uploading') return;
    this.state = 'paused';
    for (const xhr of this.xhrs) xhr.abort();
    this.changed();
  }

  async resume() {
    if (this.state !== 'paused' && this.state !== 'error') return;
    if (!this.upload) return this.start();
    try {
      this.state = 'uploading';
      this.error = null;
      this.changed();
      this.upload = await api('GET', `/v1/stacks/uploads/${this.upload.id}`);
      await this.sendMissing();
    } catch (err) {
      this.settle(err);
    }
  }

  async sendMissing() {
    const u = this.upload;
    const missing = new Set(u.missing);
    this.sent = u.received.reduce((a, p) => a + p.size, 0);
    const queue = u.partUrls.filter((p) => missing.has(p.partNumber));
    const worker = async () => {
      while (queue.length > 0 && this.state === 'uploading') {
        const part = queue.shift();
        const start = (part.partNumber - 1) * u.partSize;
        const blob = this.file.slice(start, Math.min(start + u.partSize, this.file.size));
        await putPart(part, blob, (loaded) => {
          this.inFlight.set(part.partNumber, loaded);
          this.changed();
        }, this.xhrs).finally(() => this.inFlight.delete(part.partNumber));
        this.sent += blob.size;
        this.changed();
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, queue.length) }, worker));
    if (this.state !== 'uploading') return;
    this.state = 'validating';
    this.changed();
    this.stack = await api('POST', `/v1/stacks/uploads/${u.id}/complete`);
    this.state = 'done';
    this.changed();
  }

  settle(err) {
    if (err instanceof DOMException && err.name === 'AbortError') return; // paused
    if (err instanceof ApiProblem && err.code === 'UPLOAD_PARTS_MISSING' && this.state === 'validating') {
      this.state = 'paused';
      void this.resume();
      return;
    }
    this.fail(err);
  }

  fail(err) {
    this.state = 'error';
    this.error = err instanceof ApiProblem ? { code: err.code, message: err.message } : { code: null, message: String(err.message ?? err) };
    this.changed();
  }
}
