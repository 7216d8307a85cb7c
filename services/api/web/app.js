// The dashboard shell: sign-in, navigation and hash routes (#/jobs, #/jobs/<id>, #/upload, #/restore,
// #/train, #/models, #/facility). Preact + htm, ES modules straight from the server: no build step.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from 'htm/preact';
import { api, ApiProblem, onUnauthorized, setCsrfToken } from './api.js';
import { JobsPage } from './pages/jobs.js';
import { JobPage } from './pages/job.js';
import { UploadPage } from './pages/upload.js';
import { RestorePage, TrainPage } from './pages/submit.js';
import { ModelsPage } from './pages/models.js';
import { FacilityPage } from './pages/facility.js';

function parseRoute() {
  const [path, query = ''] = (location.hash.replace(/^#/, '') || '/jobs').split('?');
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(query) };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function SignIn({ onSignedIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const key = new FormData(e.currentTarget).get('key');
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api('POST', '/v1/session', { key: String(key ?? '') }, { allow401: true }));
    } catch (err) {
      setError(err instanceof ApiProblem ? err.message : 'The server could not be reached.');
    } finally {
      setBusy(false);
    }
  };
  return html`<main id="main" class="signin">
    <h1>PSSR restoration service</h1>
    <form onSubmit=${submit} class="card" aria-describedby="signin-help">
      <label for="key">API key</label>
      <input id="key" name="key" type="password" autocomplete="off" required spellcheck="false" placeholder="pssr_…" />
      <p id="signin-help" class="hint">Ask your facility for a key (<code>pssr admin create-key --group LAB --user NAME</code>). It is sent once, in the request body; the browser then keeps a session cookie.</p>
      ${error && html`<p role="alert" class="error">${error}</p>`}
      <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </main>`;
}

const NAV = [
  ['jobs', 'Jobs'],
  ['upload', 'Upload'],
  ['restore', 'Restore'],
  ['train', 'Train'],
  ['models', 'Models'],
];

function Shell({ session, onSignOut }) {
  const route = useRoute();
  const main = useRef(null);
  const page = route.parts[0] ?? 'jobs';
  useEffect(() => {
    // Move focus to the new page's heading so keyboard and screen-reader users land on it.
    const h = main.current && main.current.querySelector('h1');
    if (h) {
      h.setAttribute('tabindex', '-1');
      h.focus({ preventScroll: false });
    }
  }, [route.parts.join('/')]);
  const nav = session.isAdmin ? [...NAV, ['facility', 'Facility']] : NAV;
  let content;
  if (page === 'jobs' && route.parts[1]) content = html`<${JobPage} id=${route.parts[1]} session=${session} />`;
  else if (page === 'upload') content = html`<${UploadPage} />`;
  else if (page === 'restore') content = html`<${RestorePage} query=${route.query} />`;
  else if (page === 'train') content = html`<${TrainPage} />`;
  else if (page === 'models') content = html`<${ModelsPage} />`;
  else if (page === 'facility' && session.isAdmin) content = html`<${FacilityPage} />`;
  else content = html`<${JobsPage} session=${session} query=${route.query} />`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current?.querySelector('h1')?.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/jobs">PSSR</a>
      <nav aria-label="Main">
        <ul>
          ${nav.map(([id, label]) => html`<li><a href=${`#/${id}`} aria-current=${page === id ? 'page' : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <div class="who">
        <span><span class="sr-only">Signed in as </span>${session.user.name} · ${session.group.name}${session.isAdmin ? ' · admin' : ''}</span>
        <button type="button" class="secondary" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main id="main" ref=${main}>${content}</main>`;
}

function App() {
  const [session, setSession] = useState(undefined);
  const signedIn = (s) => {
    setCsrfToken(s ? s.csrfToken : null);
    setSession(s);
  };
  useEffect(() => {
    onUnauthorized(() => signedIn(null));
    api('GET', '/v1/session', undefined, { allow401: true }).then(signedIn, () => signedIn(null));
  }, []);
  const signOut = async () => {
    await api('DELETE', '/v1/session').catch(() => null);
    signedIn(null);
  };
  if (session === undefined) return html`<p class="boot">Loading…</p>`;
  if (session === null) return html`<${SignIn} onSignedIn=${signedIn} />`;
  return html`<${Shell} session=${session} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById('app'));
