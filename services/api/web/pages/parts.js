// Pieces several pages use.
import { useEffect, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { api } from '../api.js';
import { percent } from '../format.js';

export function Status({ status }) {
  return html`<span class=${`status status-${status}`}>${status}</span>`;
}

export function Progress({ value, label }) {
  return html`<span class="progress"><progress max="1" value=${value ?? 0} aria-label=${label}></progress> <span>${percent(value)}</span></span>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<p role="alert" class="error">${error.code ? html`<code>${error.code}</code> ` : ''}${error.message}</p>`;
}

/** Loads `path` once (and again when `deps` change); returns { data, error, reload }. */
export function useApi(path, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  const load = () =>
    api('GET', path).then(
      (data) => setState({ data, error: null }),
      (err) => setState({ data: null, error: { code: err.code ?? null, message: err.message } }),
    );
  useEffect(() => {
    void load();
  }, deps);
  return { ...state, reload: load };
}

/** The group's members by id, from the session (jobs carry userId). */
export function memberName(session, userId) {
  return session.members.find((m) => m.id === userId)?.name ?? (userId === session.user.id ? session.user.name : userId.slice(0, 8));
}
