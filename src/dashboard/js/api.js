// The HTTP API, by relative URLs: the page works wherever it is mounted (a reverse proxy's
// path prefix included).

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter = null) {
    super(detail ? `${detail}` : `${status} ${code}`);
    this.status = status;
    this.code = code;
    /** seconds, from a 429's Retry-After; null without one */
    this.retryAfter = retryAfter;
  }
}

let unauthorized = null;

/**
 * `fn(error)` is called when a call is refused for want of a session (expired, ended on the
 * server, or its user removed), so the page can ask to sign in again instead of showing every
 * view's error.
 */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** `api/...` resolved against the page, for <img src> and links. */
export function url(path) {
  return new URL(path.replace(/^\//, ''), document.baseURI).href;
}

/**
 * Calls the API and answers the parsed JSON (null for 204). A body that is an object is sent as
 * JSON; a string or Blob is sent as it is, with `type` as its content type. `anonymous` marks a
 * call that is made signed out (signing in, asking who is signed in): its 401 is an answer for
 * the caller, not a session that ended.
 */
export async function api(path, { method = 'GET', body, type, signal, anonymous = false } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Blob) {
      init.body = body;
      init.headers['Content-Type'] = type || 'application/octet-stream';
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    res = await fetch(url(path), init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok) {
    const retry = Number.parseInt(res.headers.get('Retry-After') || '', 10);
    const error = new ApiError(
      res.status,
      json?.error || 'error',
      json?.detail || text.slice(0, 200) || res.statusText,
      Number.isFinite(retry) ? retry : null,
    );
    if (res.status === 401 && !anonymous) unauthorized?.(error);
    throw error;
  }
  return json;
}

/** A query string from the fields that are set. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
