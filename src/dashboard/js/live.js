// The WebSocket to /ws: every message goes to the store. A dropped connection is retried with
// a growing, jittered wait; the first message of each connection is a full snapshot, so a
// reconnected page is exactly as current as a fresh one.

import { apply, setConnection } from './store.js';

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15000;

let socket = null;
let attempt = 0;
let timer = null;

function wsUrl() {
  const u = new URL('ws', document.baseURI);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  return u.href;
}

export function connect() {
  clearTimeout(timer);
  timer = null;
  if (socket) return;
  setConnection('connecting');
  const ws = new WebSocket(wsUrl());
  socket = ws;
  ws.addEventListener('message', (ev) => {
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
  });
  // An error is always followed by a close, which retries.
}

function retry() {
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
