// Small formatting helpers shared by the pages.

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function seconds(fromIso, toIso) {
  if (!fromIso || !toIso) return null;
  return (new Date(toIso).getTime() - new Date(fromIso).getTime()) / 1000;
}

export const shortId = (id) => (id ? id.slice(0, 8) : '—');

export const percent = (p) => `${Math.round((p ?? 0) * 100)}%`;

export function num(v, digits = 2) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

/**
 * Remaining time of a running job from its own record: the run so far (startedAt to the last update, both
 * server clocks) scaled by the progress still to go. Null until there is progress to extrapolate from.
 */
export function eta(job) {
  if (job.status !== 'running' || !job.startedAt || !(job.progress > 0.01) || job.progress >= 1) return null;
  const elapsed = seconds(job.startedAt, job.updatedAt);
  return elapsed === null ? null : (elapsed * (1 - job.progress)) / job.progress;
}

export function modelName(job) {
  const m = job.metrics && job.metrics.model;
  if (m && typeof m === 'object' && m.name) return `${m.name}${m.version ? `@${m.version}` : ''}`;
  if (job.type === 'train') return `→ ${job.options.name ?? ''}`;
  return job.options.model ?? '—';
}
