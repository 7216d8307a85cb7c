// Drag and drop (or choose) one or many TIFF stacks; each uploads resumably with its own progress bar,
// pause/resume, and the server's message when it refuses a file.
import { useRef, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { ResumableUpload } from '../upload.js';
import { bytes, percent } from '../format.js';

const STATE_TEXT = { queued: 'queued', uploading: 'uploading', paused: 'paused', validating: 'checking the TIFF…', done: 'ready', error: 'refused' };

export function UploadPage() {
  const [uploads, setUploads] = useState([]);
  const [, force] = useState(0);
  const [over, setOver] = useState(false);
  const input = useRef(null);

  const add = (files) => {
    const fresh = [...files].map((f) => new ResumableUpload(f, () => force((n) => n + 1)));
    setUploads((u) => [...u, ...fresh]);
    for (const u of fresh) void u.start();
  };
  const onDrop = (e) => {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer?.files?.length) add(e.dataTransfer.files);
  };

  return html`
    <h1>Upload stacks</h1>
    <div class=${`dropzone ${over ? 'over' : ''}`} onDragOver=${(e) => { e.preventDefault(); setOver(true); }} onDragLeave=${() => setOver(false)} onDrop=${onDrop}>
      <p>Drop TIFF stacks here, or</p>
      <label class="button" for="files">Choose files…</label>
      <input id="files" ref=${input} type="file" multiple accept=".tif,.tiff,image/tiff" class="visually-hidden-input"
        onChange=${(e) => { add(e.currentTarget.files); e.currentTarget.value = ''; }} />
      <p class="hint">8/16-bit or float32 grayscale TIFF, single or multi-page, classic or BigTIFF. Large files upload in 8 MiB parts: pause and resume at any time.</p>
    </div>
    ${uploads.length > 0 && html`<ul class="uploads" aria-label="Uploads">
      ${uploads.map((u, i) => html`<li key=${i} class=${`upload upload-${u.state}`} data-file=${u.file.name}>
        <div class="upload-head">
          <strong>${u.file.name}</strong> <span class="muted">${bytes(u.file.size)}</span>
          <span class="upload-state" role="status">${STATE_TEXT[u.state]}</span>
        </div>
        <progress max="1" value=${u.progress} aria-label=${`Upload of ${u.file.name}`}></progress> <span>${percent(u.progress)}</span>
        <div class="upload-actions">
          ${u.state === 'uploading' && html`<button type="button" class="secondary small" onClick=${() => u.pause()} aria-label=${`Pause ${u.file.name}`}>Pause</button>`}
          ${(u.state === 'paused' || (u.state === 'error' && !u.error?.code)) && html`<button type="button" class="small" onClick=${() => void u.resume()} aria-label=${`Resume ${u.file.name}`}>Resume</button>`}
          ${u.state === 'done' && html`<span>${u.stack.frames} frame${u.stack.frames === 1 ? '' : 's'}, ${u.stack.width}×${u.stack.height} ${u.stack.dtype} · <a href=${`#/restore?stack=${u.stack.id}`}>Restore this stack</a></span>`}
        </div>
        ${u.error && html`<p role="alert" class="error"><strong>${u.file.name}</strong> was not accepted: ${u.error.code ? html`<code>${u.error.code}</code> ` : ''}${u.error.message}</p>`}
      </li>`)}
    </ul>`}`;
}
