// The dashboard's only door to the server: the same /v1 routes as any client, with the session cookie
// (sent by the browser, same origin) and the CSRF token on every state-changing request.

let csrfToken = null;
let onSignedOut = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

/** Called when any request answers 401 (the session expired or was signed out elsewhere). */
export function onUnauthorized(fn) {
  onSignedOut = fn;
}

/** A problem+json answer: `code` is the API's stable error code, `message` its human detail. */
export class ApiProblem extends Error {
  constructor(status, body) {
    super(body && typeof body.detail === 'string' ? body.detail : `The server answered HTTP ${status}.`);
    this.status = status;
    this.code = body && typeof body.code === 'string' ? body.code : `HTTP_${status}`;
    this.body = body;
  }
}

export function unsafeHeaders() {
  return csrfToken ? { 'x-csrf-token': csrfToken } : {};
}

export async function api(method, path, body, { signal, allow401 = false } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') Object.assign(headers, unsafeHeaders());
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(signal ? { signal } : {}),
  });
  if (res.status === 204) return null;
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    if (res.status === 401 && !allow401) onSignedOut();
    throw new ApiProblem(res.status, json);
  }
  return json;
}

/** GET that answers null on 404 (optional resources such as a job's trust report). */
export async function optional(path) {
  try {
    return await api('GET', path);
  } catch (err) {
    if (err instanceof ApiProblem && err.status === 404) return null;
    throw err;
  }
}
