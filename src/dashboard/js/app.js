// The page: one view at a time, chosen by the URL's hash, over one live connection. Nothing of
// the lot is asked for before the server knows who is looking: signed out, the page is the
// sign-in form, and a session that ends while the page is open brings that form back.

import { onUnauthorized } from './api.js';
import { connect, disconnect } from './live.js';
import { store, subscribe, reset } from './store.js';
import { session, setUser, atLeast, whoami, signOut } from './auth.js';
import { h, notify } from './dom.js';
import { duration } from './format.js';
import * as signin from './signin.js';
import * as overview from './overview.js';
import * as camera from './camera.js';
import * as spaces from './spaces.js';
import * as sessions from './sessions.js';
import * as editor from './editor.js';
import * as users from './users.js';

// Each view: mount(root, params) → a function that unmounts it. `role`: the least role that
// may open it; `name`: what the note says a lesser role may not open.
const ROUTES = [
  { section: 'overview', pattern: /^#?\/?$/, view: overview },
  { section: 'camera', pattern: /^#\/camera(?:\/([^/]+))?$/, view: camera },
  { section: 'spaces', pattern: /^#\/spaces(?:\/(\d+))?$/, view: spaces },
  { section: 'sessions', pattern: /^#\/sessions$/, view: sessions },
  { section: 'editor', pattern: /^#\/editor(?:\/([^/]+))?$/, view: editor, role: 'admin', name: 'The space editor' },
  { section: 'users', pattern: /^#\/users$/, view: users, role: 'admin', name: 'Users and API tokens' },
];

const root = document.getElementById('view');
let unmount = null;

function show(mountView) {
  if (unmount) unmount();
  unmount = null;
  root.replaceChildren();
  unmount = mountView() || null;
}

function route() {
  if (!session.user) return;
  const hash = location.hash;
  const found = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find((x) => x.m);
  if (!found) {
    location.replace('#/');
    return;
  }
  const params = found.m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
  const allowed = !found.r.role || atLeast(found.r.role);
  show(() => (allowed ? found.r.view.mount(root, params) : refused(found.r)));
  for (const a of document.querySelectorAll('nav.sections a')) {
    if (a.dataset.section === found.r.section) {
      a.setAttribute('aria-current', 'page');
      // On a phone the sections scroll sideways: the current one is kept in sight.
      a.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    } else a.removeAttribute('aria-current');
  }
  document.title = `smartpark · ${found.r.section[0].toUpperCase()}${found.r.section.slice(1)}`;
}

/** What a link or a typed address to a view above the user's role shows instead. */
function refused(r) {
  root.append(
    h(
      'section',
      { class: 'card refused', 'data-refused': r.section },
      h('h1', {}, r.name),
      h('p', {}, `${r.name} needs the ${r.role} role. You are signed in as ${session.user.username}, with the ${session.user.role} role.`),
      h('p', {}, h('a', { href: '#/' }, 'Back to the overview')),
    ),
  );
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
  showStale();
}

const DATABASE_DOWN =
  'Database unreachable: the lot is shown as last stored; camera changes are held and will be stored when it returns. Spaces cannot be set by hand until then.';

/** The banner over every view while the server cannot reach its database. */
function showDatabase(up) {
  const el = document.getElementById('database-banner');
  document.body.dataset.database = up ? 'up' : 'down';
  el.textContent = up ? '' : DATABASE_DOWN;
  el.hidden = up;
  showStale();
}

/** The live figures are dimmed while they may be behind: offline, or the database out. */
function showStale() {
  document.body.classList.toggle('stale', store.synced && (store.connection !== 'live' || !store.databaseUp));
}

subscribe((change) => {
  if (change.kind === 'connection') showConnection(change.state, change.retryIn);
  if (change.kind === 'database') showDatabase(change.up);
});

/** The bar and the sections for the signed-in user. */
function showUser() {
  document.body.dataset.session = session.user ? 'signed-in' : 'signed-out';
  document.getElementById('account-name').textContent = session.user?.username || '';
  document.getElementById('account-role').textContent = session.user?.role || '';
  for (const a of document.querySelectorAll('nav.sections a[data-role]')) a.hidden = !atLeast(a.dataset.role);
  document.getElementById('sign-out').hidden = session.user?.via !== 'session';
}

function start(user) {
  setUser(user);
  showUser();
  route();
  connect();
}

/** `reason`: 'expired' when the server ended the session, 'signed-out' when the person did. */
function stop(reason) {
  disconnect();
  reset();
  setUser(null);
  showUser();
  showDatabase(true);
  showConnection('connecting');
  show(() => signin.mount(root, { reason, onSignedIn: start }));
}

onUnauthorized(() => {
  if (session.user) stop('expired');
});

document.getElementById('sign-out').addEventListener('click', async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    await signOut();
    // The next person starts at the overview, not at the last one's page.
    history.replaceState(null, '', '#/');
    stop('signed-out');
  } catch (err) {
    notify(`Not signed out: ${err.message}`, 'error');
  } finally {
    button.disabled = false;
  }
});

/** An admin who changed their own role sees the page their new role allows. */
window.addEventListener('smartpark:session', async () => {
  try {
    const user = await whoami();
    if (!user) stop('expired');
    else {
      setUser(user);
      showUser();
      route();
    }
  } catch (e) {
    notify(`Cannot check the session: ${e.message}`, 'error');
  }
});

async function boot() {
  let user;
  try {
    user = await whoami();
  } catch (e) {
    show(() => {
      const retry = h('button', { type: 'button', onclick: boot }, 'Try again');
      root.append(h('div', { class: 'error-state', role: 'alert' }, h('span', {}, `The server cannot tell who is signed in: ${e.message}`), retry));
    });
    return;
  }
  if (user) start(user);
  else stop(null);
}

window.addEventListener('hashchange', route);
boot();
