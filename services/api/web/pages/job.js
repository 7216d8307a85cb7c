// One job: status live from GET /v1/jobs/:id/events, timings, metrics, the error code and its message,
// cancel, downloads, and the trust verdict with its report and preview.
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { api, optional } from '../api.js';
import { bytes, duration, eta, modelName, num, seconds, shortId, when } from '../format.js';
import { ErrorNote, Progress, Status, memberName } from './parts.js';

const FINAL = ['succeeded', 'failed', 'canceled'];

function useLiveJob(id) {
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let source = null;
    api('GET', `/v1/jobs/${id}`).then(
      (j) => {
        setJob(j);
        if (FINAL.includes(j.status)) return;
        source = new EventSource(`/v1/jobs/${id}/events`);
        const full = (e) => setJob(JSON.parse(e.data));
        source.addEventListener('status', full);
        source.addEventListener('progress', (e) => {
          const p = JSON.parse(e.data);
          setJob((old) => (old ? { ...old, progress: p.progress, metrics: p.metrics, updatedAt: new Date().toISOString() } : old));
        });
        source.addEventListener('done', (e) => {
          full(e);
          source.close();
        });
      },
      (err) => setError({ code: err.code, message: err.message }),
    );
    return () => source?.close();
  }, [id]);
  return { job, setJob, error };
}

function Row({ label, children }) {
  return html`<div class="kv"><dt>${label}</dt><dd>${children}</dd></div>`;
}

function Stack({ id, label }) {
  const [stack, setStack] = useState(null);
  useEffect(() => {
    if (id) optional(`/v1/stacks/${id}`).then(setStack, () => setStack(null));
  }, [id]);
  if (!id) return html`<span>—</span>`;
  return html`<span>
    ${stack ? html`${stack.name} · ${stack.frames}×${stack.height}×${stack.width} ${stack.dtype} · ${bytes(stack.bytes)} ` : html`<code>${shortId(id)}</code> `}
    <a class="button small" href=${`/v1/stacks/${id}/data`} download aria-label=${`Download ${label}`}>Download</a>
  </span>`;
}

/** A correlation near 1 with enough digits to tell it from 1 (0.99986, not 1.000). */
function nearOne(r) {
  if (typeof r !== 'number' || !Number.isFinite(r)) return '—';
  return r < 1 ? r.toFixed(Math.min(8, Math.max(3, Math.ceil(-Math.log10(1 - r)) + 1))) : r.toFixed(3);
}

const small = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toPrecision(2) : '—');

// The verdict comes with the job (job.trust); the per-frame numbers and the preview from its report, while
// the result stack it describes exists.
function TrustReport({ job }) {
  const trust = job.trust;
  const [report, setReport] = useState(null);
  const [preview, setPreview] = useState(true);
  useEffect(() => {
    if (trust && trust.report) optional(trust.report).then(setReport, () => setReport(null));
  }, [job.id, trust && trust.report]);
  if (!trust) return null;
  const flagged = trust.flaggedFrames ?? [];
  const frames = report && Array.isArray(report.frames) ? report.frames : [];
  const warnings = (report && report.summary && report.summary.warnings) || [];
  const tta = frames.some((f) => typeof f.uncertainty === 'number');
  return html`<section class="card" aria-labelledby="trust-h" data-testid="trust">
    <h2 id="trust-h">Trust report</h2>
    <p class=${trust.status !== 'ok' || flagged.length > 0 ? 'warn' : 'ok'} data-testid="trust-verdict">${trust.status === 'ok' ? trust.verdict : `No trust report: ${trust.reason}`}</p>
    ${warnings.length > 0 && html`<ul class="warn">${warnings.map((w) => html`<li>${w}</li>`)}</ul>`}
    ${trust.status === 'ok' && !trust.report && html`<p>The report and its preview were deleted with the result stack.</p>`}
    ${report && report.stacks && html`<dl>
      ${report.stacks.consistency && html`<${Row} label="Consistency map (LR grid)"><${Stack} id=${report.stacks.consistency} label="the consistency map" /></${Row}>`}
      ${report.stacks.uncertainty && html`<${Row} label="Uncertainty map"><${Stack} id=${report.stacks.uncertainty} label="the uncertainty map" /></${Row}>`}
    </dl>`}
    ${trust.preview && preview && html`<figure><img src=${trust.preview} alt="Preview: bilinear input, restoration and the trust maps of the centre frame" onError=${() => setPreview(false)} /><figcaption>Centre frame: bilinear input, restoration, consistency${tta ? ' and uncertainty' : ''} maps</figcaption></figure>`}
    ${frames.length > 0 && html`<div class="table-wrap"><table>
      <caption class="sr-only">Per-frame trust statistics</caption>
      <thead><tr><th scope="col">Frame</th><th scope="col">Residual (RSE)</th><th scope="col">Correlation (RSP)</th><th scope="col">SNR input → restored</th>${tta && html`<th scope="col">Uncertainty</th>`}<th scope="col">Flags</th></tr></thead>
      <tbody>${frames.map((f) => html`<tr class=${f.flags && f.flags.length ? 'flagged' : ''} data-frame=${f.index}>
        <td>${f.index}</td><td>${small(f.rse)}</td><td>${nearOne(f.rsp)}</td>
        <td>${f.snr ? `${num(f.snr.bilinear, 1)} → ${num(f.snr.restored, 1)}` : '—'}</td>
        ${tta && html`<td>${small(f.uncertainty)}</td>`}
        <td>${f.flags && f.flags.length ? html`<ul class="flags">${f.flags.map((g) => html`<li><strong>${g.kind}</strong>: ${g.reason}</li>`)}</ul>` : '—'}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </section>`;
}

function Metrics({ job }) {
  const m = job.metrics ?? {};
  const t = m.timings ?? {};
  const rows = [];
  if (m.tiles !== undefined) rows.push(['Tiles', m.tiles]);
  if (m.megapixelsPerSecond !== undefined) rows.push(['Throughput', `${num(m.megapixelsPerSecond)} output MP/s`]);
  if (m.provider) rows.push(['Device', m.provider]);
  if (m.batchSize !== undefined) rows.push(['Batch size', m.batchSize]);
  if (m.model && m.model.sha256) rows.push(['Model sha256', html`<code class="hash">${m.model.sha256}</code>`]);
  if (m.inputSha256) rows.push(['Input sha256', html`<code class="hash">${m.inputSha256}</code>`]);
  if (m.outputSha256) rows.push(['Output sha256', html`<code class="hash">${m.outputSha256}</code>`]);
  for (const [k, v] of Object.entries(t)) if (typeof v === 'number') rows.push([`Time: ${k.replace(/Seconds$/, '')}`, duration(v)]);
  if (m.validation && typeof m.validation === 'object') {
    const v = m.validation;
    if (v.psnr) rows.push(['Validation PSNR (model / bicubic)', `${num(v.psnr.model)} / ${num(v.psnr.bicubic)} dB`]);
    if (v.ssim) rows.push(['Validation SSIM (model / bicubic)', `${num(v.ssim.model, 3)} / ${num(v.ssim.bicubic, 3)}`]);
  }
  if (m.steps !== undefined) rows.push(['Training steps', m.steps]);
  if (m.lastError) rows.push(['Last retried error', `${m.lastError.code}: ${m.lastError.message}`]);
  if (rows.length === 0) return null;
  return html`<section class="card" aria-labelledby="metrics-h"><h2 id="metrics-h">Metrics</h2><dl>${rows.map(([k, v]) => html`<${Row} label=${k}>${v}</${Row}>`)}</dl></section>`;
}

export function JobPage({ id, session }) {
  const { job, setJob, error } = useLiveJob(id);
  const [cancelError, setCancelError] = useState(null);
  if (error) return html`<h1>Job ${shortId(id)}</h1><${ErrorNote} error=${error} />`;
  if (!job) return html`<h1>Job ${shortId(id)}</h1><p>Loading…</p>`;
  const cancel = async () => {
    setCancelError(null);
    try {
      setJob(await api('DELETE', `/v1/jobs/${job.id}`));
    } catch (err) {
      setCancelError({ code: err.code, message: err.message });
    }
  };
  const active = !FINAL.includes(job.status);
  return html`
    <div class="heading">
      <h1>${job.type === 'restore' ? 'Restore' : 'Train'} job <code>${shortId(job.id)}</code></h1>
      <${Status} status=${job.status} />
    </div>
    <p><a href="#/jobs">← All jobs</a></p>
    <section class="card" aria-labelledby="summary-h">
      <h2 id="summary-h">Summary</h2>
      <dl>
        <${Row} label="Status"><span role="status" aria-live="polite" data-testid="job-status">${job.status}</span></${Row}>
        <${Row} label="Progress"><${Progress} value=${job.progress} label="Job progress" />${active && eta(job) !== null ? html` · about ${duration(eta(job))} left` : ''}</${Row}>
        <${Row} label="Model">${modelName(job)}</${Row}>
        <${Row} label="Submitted by">${memberName(session, job.userId)}</${Row}>
        <${Row} label="Queued">${when(job.queuedAt)}</${Row}>
        <${Row} label="Started">${when(job.startedAt)}${job.startedAt ? ` (waited ${duration(seconds(job.queuedAt, job.startedAt))})` : ''}</${Row}>
        <${Row} label="Finished">${when(job.finishedAt)}${job.finishedAt && job.startedAt ? ` (ran ${duration(seconds(job.startedAt, job.finishedAt))})` : ''}</${Row}>
        <${Row} label="Attempts">${job.attempts}${job.workerHost ? ` on ${job.workerHost}` : ''}</${Row}>
        <${Row} label="Input"><${Stack} id=${job.inputStackId} label="the input stack" /></${Row}>
        ${job.type === 'restore' && html`<${Row} label="Result"><${Stack} id=${job.outputStackId} label="the restored stack" /></${Row}>`}
        ${job.trainedModelId && html`<${Row} label="Trained model"><a href="#/models">${job.options.name}</a></${Row}>`}
      </dl>
      ${job.error && html`<div class="error-box" role="alert"><h3>Failed: <code>${job.error.code}</code></h3><p>${job.error.message}</p></div>`}
      ${active && html`<button type="button" class="danger" onClick=${cancel}>Cancel job</button>`}
      <${ErrorNote} error=${cancelError} />
    </section>
    <${TrustReport} job=${job} />
    <${Metrics} job=${job} />`;
}
