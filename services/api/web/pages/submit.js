// Submit restore jobs (a stack, a model chosen from its card, options) and train jobs (stacks, modality,
// frames, budget). Both POST /v1/jobs and open the new job.
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { api } from '../api.js';
import { bytes, num, when } from '../format.js';
import { ErrorNote, useApi } from './parts.js';

function useReadyStacks() {
  return useApi('/v1/stacks?status=ready&limit=200');
}

function cardFacts(card) {
  const v = card.validation ?? {};
  return {
    modality: card.modality ?? '—',
    pixel: card.inputPixelSize ? `${card.inputPixelSize.value} ${card.inputPixelSize.unit}` : '—',
    frames: card.inputFrames ?? 1,
    psnr: v.psnr ? `${num(v.psnr.model)} dB (bicubic ${num(v.psnr.bicubic)})` : '—',
    ssim: v.ssim ? `${num(v.ssim.model, 3)} (bicubic ${num(v.ssim.bicubic, 3)})` : '—',
    data: v.data ?? '',
  };
}

export function ModelCard({ model, children }) {
  const f = cardFacts(model.latest.card);
  return html`<div class="model-card">
    <div class="model-title"><strong>${model.name}</strong> <span class="muted">v${model.latest.version}</span> <span class=${model.public ? 'badge' : 'badge own'}>${model.public ? 'bundled' : 'your group'}</span></div>
    <dl class="facts">
      <div><dt>Modality</dt><dd>${f.modality}</dd></div>
      <div><dt>Input pixel</dt><dd>${f.pixel}</dd></div>
      <div><dt>Frames in</dt><dd>${f.frames}</dd></div>
      <div><dt>Held-out PSNR</dt><dd>${f.psnr}</dd></div>
      <div><dt>Held-out SSIM</dt><dd>${f.ssim}</dd></div>
    </dl>
    ${f.data && html`<p class="hint">Validated on ${f.data}.</p>`}
    ${children}
  </div>`;
}

async function submitJob(body, setError) {
  setError(null);
  try {
    const job = await api('POST', '/v1/jobs', body);
    location.hash = `#/jobs/${job.id}`;
  } catch (err) {
    setError({ code: err.code, message: err.message });
  }
}

const optInt = (fd, name) => {
  const v = String(fd.get(name) ?? '').trim();
  return v === '' ? undefined : Number(v);
};

export function RestorePage({ query }) {
  const stacks = useReadyStacks();
  const models = useApi('/v1/models');
  const [error, setError] = useState(null);
  const [model, setModel] = useState('em');
  const submit = (e) => {
    e.preventDefault();
    const fd = new FormData(e.currentTarget);
    const options = {};
    const tile = optInt(fd, 'tileSize');
    const batch = optInt(fd, 'batchSize');
    if (tile !== undefined) options.tileSize = tile;
    if (batch !== undefined) options.batchSize = batch;
    const name = String(fd.get('name') ?? '').trim();
    void submitJob({ type: 'restore', stackId: String(fd.get('stackId')), model, ...(name ? { name } : {}), ...(Object.keys(options).length ? { options } : {}) }, setError);
  };
  const items = stacks.data?.items ?? [];
  return html`
    <h1>New restore</h1>
    <form class="card" onSubmit=${submit}>
      <label for="stack">Stack to restore</label>
      <select id="stack" name="stackId" required value=${query.get('stack') ?? undefined}>
        ${items.length === 0 && html`<option value="">No ready stacks: upload one first</option>`}
        ${items.map((s) => html`<option value=${s.id} selected=${s.id === query.get('stack')}>${s.name} — ${s.frames}×${s.height}×${s.width} ${s.dtype}, ${bytes(s.bytes)}, ${when(s.createdAt)}</option>`)}
      </select>
      <fieldset class="models">
        <legend>Model</legend>
        <${ErrorNote} error=${models.error} />
        ${(models.data?.items ?? []).map((m) => html`<label class=${`model-choice ${model === m.name ? 'chosen' : ''}`}>
          <input type="radio" name="model" value=${m.name} checked=${model === m.name} onChange=${() => setModel(m.name)} />
          <${ModelCard} model=${m} />
        </label>`)}
      </fieldset>
      <details>
        <summary>Options</summary>
        <label for="rname">Result name</label>
        <input id="rname" name="name" maxlength="255" placeholder="default: the input's name with -restored" />
        <label for="tile">Tile size (LR pixels incl. halo)</label>
        <input id="tile" name="tileSize" type="number" min="16" max="4096" placeholder="the model card's" />
        <label for="batch">Batch size (tiles per inference)</label>
        <input id="batch" name="batchSize" type="number" min="1" max="256" placeholder="automatic" />
      </details>
      <${ErrorNote} error=${error ?? stacks.error} />
      <button type="submit" disabled=${items.length === 0}>Start restore</button>
    </form>`;
}

export function TrainPage() {
  const stacks = useReadyStacks();
  const models = useApi('/v1/models');
  const [error, setError] = useState(null);
  const [budget, setBudget] = useState('minutes');
  const submit = (e) => {
    e.preventDefault();
    const fd = new FormData(e.currentTarget);
    const stackIds = fd.getAll('stackIds').map(String);
    if (stackIds.length === 0) return setError({ code: null, message: 'Choose at least one high-resolution stack to train on.' });
    const amount = Number(fd.get('amount'));
    const init = String(fd.get('init') ?? '');
    void submitJob({
      type: 'train',
      stackIds,
      name: String(fd.get('name') ?? '').trim(),
      modality: String(fd.get('modality')),
      frames: Number(fd.get('frames')),
      ...(budget === 'minutes' ? { minutes: amount } : { steps: Math.round(amount) }),
      ...(init ? { init } : {}),
    }, setError);
  };
  const items = stacks.data?.items ?? [];
  return html`
    <h1>Train a model</h1>
    <form class="card" onSubmit=${submit}>
      <fieldset>
        <legend>High-resolution stacks to train on</legend>
        ${items.length === 0 && html`<p>No ready stacks: upload high-resolution stacks first.</p>`}
        <ul class="checks">${items.map((s) => html`<li><label><input type="checkbox" name="stackIds" value=${s.id} /> ${s.name} <span class="muted">${s.frames}×${s.height}×${s.width} ${s.dtype}</span></label></li>`)}</ul>
      </fieldset>
      <label for="mname">Model name</label>
      <input id="mname" name="name" required pattern="[a-z0-9][a-z0-9._-]{0,63}" aria-describedby="mname-help" />
      <p id="mname-help" class="hint">Lower case letters, digits, dot, dash, underscore; restores can then use it by name.</p>
      <label for="modality">Modality (degradation applied to the HR images)</label>
      <select id="modality" name="modality"><option value="em">em (Gaussian noise, 4x downsampling)</option><option value="fluo">fluo (salt-and-pepper + Gaussian, 4x)</option></select>
      <label for="frames">Frames per input</label>
      <select id="frames" name="frames"><option value="1">1 (single frame)</option><option value="5">5 (time-lapse, t-2..t+2)</option></select>
      <fieldset class="inline">
        <legend>Budget</legend>
        <label><input type="radio" name="budget" checked=${budget === 'minutes'} onChange=${() => setBudget('minutes')} /> minutes</label>
        <label><input type="radio" name="budget" checked=${budget === 'steps'} onChange=${() => setBudget('steps')} /> steps</label>
        <label for="amount" class="sr-only">Budget in ${budget}</label>
        <input id="amount" name="amount" type="number" min="0.1" step="any" required value=${budget === 'minutes' ? '10' : '500'} />
      </fieldset>
      <label for="init">Start from (fine-tune)</label>
      <select id="init" name="init"><option value="">nothing (from scratch)</option>${(models.data?.items ?? []).map((m) => html`<option value=${m.name}>${m.name}</option>`)}</select>
      <${ErrorNote} error=${error ?? stacks.error} />
      <button type="submit">Start training</button>
    </form>`;
}
