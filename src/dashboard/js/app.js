// The page: one view at a time, chosen by the URL's hash, over one live connection.

import { connect } from './live.js';
import { store, subscribe } from './store.js';
import { duration } from './format.js';
import * as overview from './overview.js';
import * as camera from './camera.js';
import * as spaces from './spaces.js';
import * as sessions from './sessions.js';
import * as editor from './editor.js';

// Each view: mount(root, params) → a function that unmounts it.
const ROUTES = [
  { section: 'overview', pattern: /^#?\/?$/, view: overview },
  { section: 'camera', pattern: /^#\/camera(?:\/([^/]+))?$/, view: camera },
  { section: 'spaces', pattern: /^#\/spaces(?:\/(\d+))?$/, view: spaces },
  { section: 'sessions', pattern: /^#\/sessions$/, view: sessions },
  { section: 'editor', pattern: /^#\/editor(?:\/([^/]+))?$/, view: editor },
];

const root = document.getElementById('view');
let unmount = null;

function route() {
  const hash = location.hash;
  const found = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find((x) => x.m);
  if (!found) {
    location.replace('#/');
    return;
  }
  if (unmount) unmount();
  unmount = null;
  root.replaceChildren();
  const params = found.m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
  unmount = found.r.view.mount(root, params) || null;
  for (const a of document.querySelectorAll('nav.sections a')) {
    if (a.dataset.section === found.r.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `smartpark · ${found.r.section[0].toUpperCase()}${found.r.section.slice(1)}`;
}

function showConnection(state, retryIn) {
  const el = document.getElementById('connection');
  el.dataset.connection = state;
  const text = el.querySelector('.connection-text');
  text.textContent =
    state === 'live'
      ? 'Live'
      : state === 'connecting'
        ? 'Connecting…'
        : `Offline · retrying in ${duration(Math.max(1, (retryIn || 0) / 1000))}`;
  document.body.classList.toggle('stale', state !== 'live' && store.synced);
}

subscribe((change) => {
  if (change.kind === 'connection') showConnection(change.state, change.retryIn);
});

window.addEventListener('hashchange', route);
route();
connect();
