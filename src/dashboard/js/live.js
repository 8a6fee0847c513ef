// The WebSocket to /ws: every message goes to the store. A dropped connection is retried with
// a growing, jittered wait; the first message of each connection is a full snapshot, so a
// reconnected page is exactly as current as a fresh one. Signed out, there is no connection
// and no retrying: the server refuses the upgrade without a session.

import { api } from './api.js';
import { apply, setConnection } from './store.js';

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15000;

let socket = null;
let attempt = 0;
let timer = null;
let stopped = true;

function wsUrl() {
  const u = new URL('ws', document.baseURI);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  return u.href;
}

export function connect() {
  stopped = false;
  clearTimeout(timer);
  timer = null;
  if (socket) return;
  setConnection('connecting');
  const ws = new WebSocket(wsUrl());
  socket = ws;
  let opened = false;
  ws.addEventListener('open', () => {
    opened = true;
  });
  ws.addEventListener('message', (ev) => {
    // A socket closed by disconnect() may still deliver what it had received.
    if (socket !== ws) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      console.warn('not JSON from /ws', ev.data);
      return;
    }
    if (msg.type === 'snapshot') {
      attempt = 0;
      setConnection('live');
    }
    apply(msg);
  });
  ws.addEventListener('close', () => {
    if (socket !== ws) return;
    socket = null;
    retry();
    // A refused upgrade looks to the page like a server that is down. The API tells them apart:
    // its 401 signs the page out (api.js), which ends these retries.
    if (!opened) api('api/auth/me').catch(() => {});
  });
  // An error is always followed by a close, which retries.
}

/** Closes the connection for good, until the next connect(). */
export function disconnect() {
  stopped = true;
  clearTimeout(timer);
  timer = null;
  attempt = 0;
  const ws = socket;
  socket = null;
  ws?.close();
}

function retry() {
  if (stopped) return;
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  const wait = Math.round(base / 2 + Math.random() * (base / 2));
  attempt += 1;
  setConnection('offline', wait);
  timer = setTimeout(connect, wait);
}

/** Back on the network or back to the tab: try now instead of waiting out the backoff. */
function retryNow() {
  if (!socket && timer) connect();
}

window.addEventListener('online', retryNow);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') retryNow();
});
