// Admins: the queues across groups in the order workers will start them (the fairness rule), the workers
// online (heartbeats) with device, running job and throughput, and the BullMQ board.
import { useEffect } from 'preact/hooks';
import { html } from 'htm/preact';
import { duration, num, percent, seconds, shortId, when } from '../format.js';
import { ErrorNote, useApi } from './parts.js';

const REFRESH_MS = 3000;

export function FacilityPage() {
  const facility = useApi('/v1/admin/facility');
  useEffect(() => {
    const t = setInterval(() => void facility.reload(), REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  const f = facility.data;
  return html`
    <div class="heading"><h1>Facility</h1><a class="button secondary" href="/admin/queues">BullMQ board</a></div>
    <${ErrorNote} error=${facility.error} />
    ${f && html`
      <section class="card" aria-labelledby="workers-h">
        <h2 id="workers-h">Workers online (${f.workers.length})</h2>
        <div class="table-wrap"><table>
          <thead><tr><th scope="col">Worker</th><th scope="col">Device</th><th scope="col">Queues</th><th scope="col">Running</th><th scope="col">Throughput</th><th scope="col">Done / failed</th><th scope="col">Last beat</th></tr></thead>
          <tbody>
            ${f.workers.length === 0 && html`<tr><td colspan="7" class="empty">No worker has sent a heartbeat in the last few seconds.</td></tr>`}
            ${f.workers.map((w) => html`<tr>
              <td>${w.id}</td>
              <td>${w.device}${w.provider && w.provider !== w.device ? ` (ran on ${w.provider})` : ''}</td>
              <td>${w.queues.join(', ')} ×${w.concurrency}</td>
              <td>${w.running.length === 0 ? 'idle' : w.running.map((r) => html`<div><code>${shortId(r.jobId)}</code> ${r.type} · ${r.group}/${r.user} · ${percent(r.progress)} · ${duration(seconds(r.since, new Date().toISOString()))}</div>`)}</td>
              <td>${w.running[0]?.megapixelsPerSecond != null ? `${num(w.running[0].megapixelsPerSecond)} MP/s now` : w.lastMegapixelsPerSecond != null ? `${num(w.lastMegapixelsPerSecond)} MP/s last job` : '—'}</td>
              <td>${w.succeeded} / ${w.failed}</td>
              <td>${when(w.lastBeatAt)}</td>
            </tr>`)}
          </tbody>
        </table></div>
      </section>
      ${f.queues.map((q) => html`<section class="card" aria-labelledby=${`q-${q.queue}`}>
        <h2 id=${`q-${q.queue}`}>${q.queue} queue${q.paused ? ' (paused)' : ''}: ${q.active} running, ${q.jobs.filter((j) => j.state === 'waiting').length} waiting</h2>
        <p class="hint">In start order. Fair share: each job's priority is 1 + the jobs its group already had waiting, so every group's k-th job starts before any group's (k+1)-th.</p>
        <div class="table-wrap"><table>
          <thead><tr><th scope="col">#</th><th scope="col">Job</th><th scope="col">Group</th><th scope="col">User</th><th scope="col">Model</th><th scope="col">Priority</th><th scope="col">State</th><th scope="col">Queued</th></tr></thead>
          <tbody>
            ${q.jobs.length === 0 && html`<tr><td colspan="8" class="empty">Nothing waiting.</td></tr>`}
            ${q.jobs.map((j) => html`<tr><td>${j.position}</td><td><code>${shortId(j.jobId)}</code></td><td>${j.group}</td><td>${j.user}</td><td>${j.model ?? '—'}</td><td>${j.priority}</td><td>${j.state === 'delayed' ? 'retrying soon' : 'waiting'}</td><td>${when(j.queuedAt)}</td></tr>`)}
          </tbody>
        </table></div>
      </section>`)}`}`;
}
