// The jobs list: filters, cursor pagination, and live rows from ONE server-sent event stream of the group's
// job changes (GET /v1/jobs/events, pushed by Postgres LISTEN/NOTIFY): no polling, per row or otherwise.
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { api } from '../api.js';
import { duration, eta, modelName, shortId, when } from '../format.js';
import { ErrorNote, Progress, Status, memberName } from './parts.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const PAGE = 20;

function matches(job, filter) {
  return (!filter.status || job.status === filter.status) && (!filter.type || job.type === filter.type);
}

export function JobsPage({ session }) {
  const [filter, setFilter] = useState({ status: '', type: '' });
  const [cursors, setCursors] = useState([null]); // cursor of each page visited; last = current
  const [page, setPage] = useState({ items: [], nextCursor: null });
  const [error, setError] = useState(null);
  const [live, setLive] = useState('connecting');
  const [reload, setReload] = useState(0);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (filter.status) q.set('status', filter.status);
    if (filter.type) q.set('type', filter.type);
    if (cursor) q.set('cursor', cursor);
    api('GET', `/v1/jobs?${q}`).then(
      (p) => {
        setPage(p);
        setError(null);
      },
      (err) => setError({ code: err.code, message: err.message }),
    );
  }, [filter.status, filter.type, cursor, reload]);

  useEffect(() => {
    const source = new EventSource('/v1/jobs/events');
    source.onopen = () => setLive('live');
    source.onerror = () => setLive('reconnecting');
    // The server may have missed changes (its feed reconnected): load the page again.
    source.addEventListener('resync', () => setReload((n) => n + 1));
    source.addEventListener('job', (e) => {
      const job = JSON.parse(e.data);
      setPage((p) => {
        const i = p.items.findIndex((j) => j.id === job.id);
        if (i >= 0) {
          const items = p.items.slice();
          items[i] = job;
          return { ...p, items: items.filter((j) => matches(j, filter)) };
        }
        // A job newer than the list's newest belongs at the top of the first page when it passes the filters.
        const newest = p.items[0];
        if (cursor === null && matches(job, filter) && (!newest || job.queuedAt >= newest.queuedAt)) return { ...p, items: [job, ...p.items].slice(0, PAGE) };
        return p;
      });
    });
    return () => source.close();
  }, [filter.status, filter.type, cursor]);

  const setF = (key) => (e) => {
    setFilter({ ...filter, [key]: e.currentTarget.value });
    setCursors([null]);
  };

  return html`
    <div class="heading">
      <h1>Jobs</h1>
      <span class="live" role="status">${live === 'live' ? '● live' : live === 'connecting' ? 'connecting…' : 'reconnecting…'}</span>
    </div>
    <form class="filters" onSubmit=${(e) => e.preventDefault()} aria-label="Filter jobs">
      <label>Status
        <select value=${filter.status} onChange=${setF('status')}>
          <option value="">any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </label>
      <label>Type
        <select value=${filter.type} onChange=${setF('type')}>
          <option value="">any</option>
          <option value="restore">restore</option>
          <option value="train">train</option>
        </select>
      </label>
      <a class="button" href="#/upload">Upload stacks</a>
      <a class="button" href="#/restore">New restore</a>
    </form>
    <${ErrorNote} error=${error} />
    <div class="table-wrap">
      <table class="jobs">
        <caption class="sr-only">Jobs of ${session.group.name}, newest first</caption>
        <thead><tr><th scope="col">Job</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">ETA</th><th scope="col">Model</th><th scope="col">Submitted by</th><th scope="col">Queued</th></tr></thead>
        <tbody>
          ${page.items.length === 0 && html`<tr><td colspan="8" class="empty">No jobs${filter.status || filter.type ? ' match these filters' : ' yet: upload a stack and start a restore'}.</td></tr>`}
          ${page.items.map((j) => html`<tr key=${j.id} data-job=${j.id}>
            <td><a href=${`#/jobs/${j.id}`}><code>${shortId(j.id)}</code></a>${j.options.name ? html` <span class="muted">${j.options.name}</span>` : ''}</td>
            <td>${j.type}</td>
            <td><${Status} status=${j.status} />${j.error ? html` <code class="code">${j.error.code}</code>` : ''}${j.trust && j.trust.flagged ? html` <span class="flag-badge" title=${j.trust.verdict}>flagged</span>` : ''}</td>
            <td><${Progress} value=${j.progress} label=${`Progress of job ${shortId(j.id)}`} /></td>
            <td>${j.status === 'running' ? duration(eta(j)) : '—'}</td>
            <td>${modelName(j)}</td>
            <td>${memberName(session, j.userId)}</td>
            <td>${when(j.queuedAt)}</td>
          </tr>`)}
        </tbody>
      </table>
    </div>
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>← Newer</button>
      <span>Page ${cursors.length}</span>
      <button type="button" class="secondary" disabled=${!page.nextCursor} onClick=${() => setCursors([...cursors, page.nextCursor])}>Older →</button>
    </nav>`;
}
