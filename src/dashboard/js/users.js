// Users and API tokens, an admin's page: who may sign in and with which role, and the tokens
// that scripts use instead of a session. A token's secret is shown once, as it is created: the
// server keeps only what checks it, so a lost secret is revoked and replaced, never shown again.

import { h, fill, notify } from './dom.js';
import { api, query } from './api.js';
import { ROLES, session } from './auth.js';
import { clock } from './format.js';

// The server's rule; checked here too so the form says so before sending.
const MIN_PASSWORD_CHARS = 8;
const AUDIT_ROWS = 20;
const ROLE_LABELS = { viewer: 'Viewer', operator: 'Operator', admin: 'Admin' };

const userPath = (name) => `api/users/${encodeURIComponent(name)}`;
const tokenPath = (id) => `api/tokens/${encodeURIComponent(String(id))}`;

function roleOptions(selected) {
  return ROLES.map((r) => h('option', { value: r, selected: r === selected }, ROLE_LABELS[r] || r));
}

/** An audit record's detail as one line; an empty one says nothing. */
function detailText(detail) {
  if (detail === null || detail === undefined) return '';
  if (typeof detail === 'string') return detail;
  return Object.keys(detail).length ? JSON.stringify(detail) : '';
}

function field(id, label, input) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

export function mount(root) {
  let alive = true;
  const ctrl = new AbortController();

  // ---- Layout --------------------------------------------------------------------------------

  const usersTitle = h('h2', { id: 'users-title', tabindex: -1 }, 'Users');
  // Each table may scroll sideways on a phone: the wrapper takes the keyboard focus so that
  // scrolling works without a mouse.
  const usersTable = h('div', { class: 'table-wrap', 'data-admin': 'users', tabindex: '0', role: 'region', 'aria-labelledby': 'users-title' });
  const newName = h('input', { id: 'user-new-name', name: 'username', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true });
  const newPassword = h('input', { id: 'user-new-password', name: 'password', type: 'password', autocomplete: 'new-password', minlength: MIN_PASSWORD_CHARS, required: true, 'aria-describedby': 'user-password-hint' });
  const newRole = h('select', { id: 'user-new-role', name: 'role' }, roleOptions('viewer'));
  const userError = h('p', { id: 'user-form-error', class: 'field-error', 'aria-live': 'polite' });
  const userForm = h(
    'form',
    { id: 'user-form', class: 'admin-form', 'aria-labelledby': 'user-form-title', onsubmit: addUser },
    h('h3', { id: 'user-form-title' }, 'Add a user'),
    h(
      'div',
      { class: 'filters' },
      field('user-new-name', 'User name', newName),
      field('user-new-password', 'Password', newPassword),
      field('user-new-role', 'Role', newRole),
      h('button', { type: 'submit', class: 'primary', 'data-action': 'add-user' }, 'Add user'),
    ),
    h('p', { id: 'user-password-hint', class: 'muted small' }, `At least ${MIN_PASSWORD_CHARS} characters.`),
    userError,
  );

  const tokensTitle = h('h2', { id: 'tokens-title', tabindex: -1 }, 'API tokens');
  const tokensTable = h('div', { class: 'table-wrap', 'data-admin': 'tokens', tabindex: '0', role: 'region', 'aria-labelledby': 'tokens-title' });
  const tokenName = h('input', { id: 'token-new-name', name: 'name', autocomplete: 'off', required: true });
  const tokenRole = h('select', { id: 'token-new-role', name: 'role' }, roleOptions('viewer'));
  const tokenError = h('p', { id: 'token-form-error', class: 'field-error', 'aria-live': 'polite' });
  const created = h('div', { id: 'token-created' });
  const tokenForm = h(
    'form',
    { id: 'token-form', class: 'admin-form', 'aria-labelledby': 'token-form-title', onsubmit: createToken },
    h('h3', { id: 'token-form-title' }, 'Create a token'),
    h(
      'div',
      { class: 'filters' },
      field('token-new-name', 'Name (what uses it)', tokenName),
      field('token-new-role', 'Role', tokenRole),
      h('button', { type: 'submit', class: 'primary', 'data-action': 'create-token' }, 'Create token'),
    ),
    tokenError,
  );

  // Focusable, as in the sessions view: on a phone the table scrolls sideways, and a keyboard
  // can scroll only what it can reach; the other tables have buttons to reach them by.
  const auditTable = h('div', { class: 'table-wrap', 'data-admin': 'audit', tabindex: '0', role: 'region', 'aria-labelledby': 'audit-title' });
  const dialog = h('dialog', { id: 'password-dialog', 'aria-labelledby': 'password-dialog-title' });

  root.append(
    h(
      'div',
      { class: 'stack users-view', 'data-view': 'users' },
      h('div', {}, h('h1', {}, 'Users and API tokens'), h('p', { class: 'muted small' }, 'A viewer sees everything; an operator may also mark spaces free or occupied; an admin may also change cameras, spaces, users and tokens.')),
      h('section', { class: 'card', 'aria-labelledby': 'users-title' }, usersTitle, usersTable, userForm),
      h('section', { class: 'card', 'aria-labelledby': 'tokens-title' }, tokensTitle, h('p', { class: 'muted small' }, 'A script sends its token as “Authorization: Bearer …”.'), tokensTable, created, tokenForm),
      h('section', { class: 'card', 'aria-labelledby': 'audit-title' }, h('h2', { id: 'audit-title' }, 'Recent changes'), auditTable),
      dialog,
    ),
  );

  // ---- Lists ---------------------------------------------------------------------------------

  function failed(where, what, e, retry) {
    fill(where, h('div', { class: 'error-state', role: 'alert' }, h('span', {}, `Cannot load ${what}: ${e.message}`), h('button', { type: 'button', onclick: retry }, 'Try again')));
  }

  function table(head, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted' }, empty);
    return h(
      'table',
      { class: 'data admin-table' },
      h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows),
    );
  }

  async function loadUsers() {
    try {
      const list = await api('api/users', { signal: ctrl.signal });
      if (alive) fill(usersTable, table(['User', 'Role', 'Created', 'Actions'], list.map(userRow), 'No users.'));
    } catch (e) {
      if (e.name !== 'AbortError' && alive) failed(usersTable, 'the users', e, loadUsers);
    }
  }

  function userRow(u) {
    const me = u.username === session.user?.username;
    const role = h('select', { 'aria-label': `Role of ${u.username}`, 'data-action': 'role' }, roleOptions(u.role));
    role.addEventListener('change', () => changeRole(u, role));
    return h(
      'tr',
      { 'data-username': u.username },
      h('th', { scope: 'row' }, u.username, me ? h('span', { class: 'muted small' }, ' (you)') : null),
      h('td', {}, role),
      h('td', {}, clock(u.created_at)),
      h(
        'td',
        { class: 'actions' },
        h('button', { type: 'button', 'data-action': 'set-password', 'aria-label': `Set password of ${u.username}`, onclick: () => openPassword(u) }, 'Set password'),
        h('button', { type: 'button', class: 'danger', 'data-action': 'remove-user', 'aria-label': `Remove ${u.username}`, onclick: () => removeUser(u) }, 'Remove'),
      ),
    );
  }

  async function loadTokens() {
    try {
      const list = await api('api/tokens', { signal: ctrl.signal });
      if (alive) fill(tokensTable, table(['Name', 'Role', 'Created', 'By', 'Last used', 'Actions'], list.map(tokenRow), 'No tokens.'));
    } catch (e) {
      if (e.name !== 'AbortError' && alive) failed(tokensTable, 'the tokens', e, loadTokens);
    }
  }

  function tokenRow(t) {
    return h(
      'tr',
      { 'data-token-id': t.id },
      h('th', { scope: 'row' }, t.name),
      h('td', {}, ROLE_LABELS[t.role] || t.role),
      h('td', {}, clock(t.created_at)),
      h('td', {}, t.declared ? 'configuration' : t.created_by || '–'),
      h('td', {}, t.last_used_at ? clock(t.last_used_at) : 'never'),
      // A declared token is changed in auth.tokens, where it comes from; the server refuses it here.
      h('td', { class: 'actions' }, t.declared
        ? 'in auth.tokens'
        : h('button', { type: 'button', class: 'danger', 'data-action': 'revoke-token', 'aria-label': `Revoke ${t.name}`, onclick: () => revokeToken(t) }, 'Revoke')),
    );
  }

  async function loadAudit() {
    try {
      const page = await api(`api/audit${query({ limit: AUDIT_ROWS })}`, { signal: ctrl.signal });
      if (!alive) return;
      const rows = (page.items || []).map((a) =>
        h(
          'tr',
          { 'data-audit-id': a.id },
          h('td', {}, clock(a.at)),
          h('td', {}, a.actor || '–'),
          h('td', {}, a.action),
          h('td', {}, a.target ?? ''),
          h('td', { class: 'audit-detail' }, detailText(a.detail)),
        ),
      );
      fill(auditTable, table(['When', 'Who', 'What', 'Target', 'Detail'], rows, 'Nothing yet.'));
    } catch (e) {
      if (e.name !== 'AbortError' && alive) failed(auditTable, 'the recent changes', e, loadAudit);
    }
  }

  /** After a change: the lists, and the record of it. */
  function reload(...loaders) {
    for (const load of [...loaders, loadAudit]) load();
  }

  // ---- Users ---------------------------------------------------------------------------------

  async function addUser(e) {
    e.preventDefault();
    const username = newName.value.trim();
    if ([...newPassword.value].length < MIN_PASSWORD_CHARS) {
      userError.textContent = `A password has at least ${MIN_PASSWORD_CHARS} characters.`;
      newPassword.focus();
      return;
    }
    userError.textContent = '';
    try {
      await api('api/users', { method: 'POST', body: { username, password: newPassword.value, role: newRole.value } });
      notify(`User ${username} added, as ${newRole.value}`);
      userForm.reset();
      newName.focus();
      reload(loadUsers);
    } catch (err) {
      userError.textContent = err.status === 409 ? `There is already a user named “${username}”.` : `Not added: ${err.message}`;
    }
  }

  async function changeRole(u, select) {
    const role = select.value;
    const me = u.username === session.user?.username;
    if (me && role !== 'admin' && !window.confirm(`Give up your own admin role? This page closes for you.`)) {
      select.value = u.role;
      return;
    }
    try {
      const changed = await api(userPath(u.username), { method: 'PATCH', body: { role } });
      u.role = changed?.role || role;
      notify(`${u.username} is now ${ROLE_LABELS[u.role] || u.role}`);
      // The page's own offer follows the role the server now gives this person.
      if (me) window.dispatchEvent(new Event('smartpark:session'));
      else reload(loadUsers);
    } catch (err) {
      select.value = u.role;
      notify(`${u.username} keeps the ${u.role} role: ${err.message}`, 'error');
    }
  }

  async function removeUser(u) {
    const me = u.username === session.user?.username;
    const question = me
      ? `Remove your own user ${u.username}? You are signed out at once.`
      : `Remove user ${u.username}? They are signed out at once.`;
    if (!window.confirm(question)) return;
    try {
      await api(userPath(u.username), { method: 'DELETE' });
      notify(`User ${u.username} removed`);
      usersTitle.focus();
      reload(loadUsers);
    } catch (err) {
      notify(`${u.username} was not removed: ${err.message}`, 'error');
    }
  }

  function openPassword(u) {
    const input = h('input', { id: 'password-new', name: 'new-password', type: 'password', autocomplete: 'new-password', minlength: MIN_PASSWORD_CHARS, required: true });
    const error = h('p', { class: 'field-error', 'aria-live': 'polite' });
    const save = h('button', { type: 'submit', class: 'primary', 'data-action': 'save-password' }, 'Save');
    const form = h(
      'form',
      { class: 'dialog-body admin-form' },
      h('h2', { id: 'password-dialog-title' }, `New password for ${u.username}`),
      // Lets a password manager file the new password under the right name.
      h('input', { type: 'text', name: 'username', autocomplete: 'username', value: u.username, hidden: true, readonly: true }),
      field('password-new', `Password (at least ${MIN_PASSWORD_CHARS} characters)`, input),
      error,
      h('div', { class: 'row', style: { justifyContent: 'flex-end' } }, h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'), save),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if ([...input.value].length < MIN_PASSWORD_CHARS) {
        error.textContent = `A password has at least ${MIN_PASSWORD_CHARS} characters.`;
        input.focus();
        return;
      }
      save.disabled = true;
      try {
        await api(userPath(u.username), { method: 'PATCH', body: { password: input.value } });
        dialog.close();
        notify(`Password of ${u.username} changed`);
        reload();
      } catch (err) {
        error.textContent = `Not changed: ${err.message}`;
      } finally {
        save.disabled = false;
      }
    });
    fill(dialog, form);
    dialog.showModal();
    input.focus();
  }

  // ---- Tokens --------------------------------------------------------------------------------

  async function createToken(e) {
    e.preventDefault();
    const name = tokenName.value.trim();
    tokenError.textContent = '';
    try {
      const t = await api('api/tokens', { method: 'POST', body: { name, role: tokenRole.value } });
      tokenForm.reset();
      showSecret(t);
      reload(loadTokens);
    } catch (err) {
      tokenError.textContent = `Not created: ${err.message}`;
    }
  }

  function showSecret(t) {
    const secret = h('input', { id: 'token-secret', class: 'secret', readonly: true, value: t.token, spellcheck: 'false', autocomplete: 'off' });
    const copied = h('span', { class: 'small', 'aria-live': 'polite' });
    const copy = h('button', { type: 'button', id: 'token-copy', 'data-action': 'copy-token' }, 'Copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(t.token);
        copied.textContent = 'Copied.';
      } catch {
        // The clipboard needs a secure origin (https or localhost); selecting is the fallback.
        secret.select();
        copied.textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
      }
    });
    const done = h('button', { type: 'button', 'data-action': 'dismiss-token', onclick: () => (created.replaceChildren(), tokenName.focus()) }, 'Done');
    fill(
      created,
      h(
        'div',
        { class: 'token-secret', 'data-token-id': t.id },
        h('p', {}, h('strong', {}, `Token “${t.name}” (${ROLE_LABELS[t.role] || t.role}) created. Copy its secret now: it is not shown again.`)),
        field('token-secret', `Secret of ${t.name}`, secret),
        h('div', { class: 'row' }, copy, done, copied),
      ),
    );
    secret.focus();
    secret.select();
  }

  async function revokeToken(t) {
    const question = `Revoke token ${t.name}? Whatever uses it is refused from now on.`;
    if (!window.confirm(question)) return;
    try {
      await api(tokenPath(t.id), { method: 'DELETE' });
      notify(`Token ${t.name} revoked`);
      if (created.querySelector(`[data-token-id="${CSS.escape(String(t.id))}"]`)) created.replaceChildren();
      tokensTitle.focus();
      reload(loadTokens);
    } catch (err) {
      notify(`Token ${t.name} was not revoked: ${err.message}`, 'error');
    }
  }

  fill(usersTable, h('p', { class: 'muted' }, 'Loading…'));
  fill(tokensTable, h('p', { class: 'muted' }, 'Loading…'));
  fill(auditTable, h('p', { class: 'muted' }, 'Loading…'));
  reload(loadUsers, loadTokens);

  return () => {
    alive = false;
    ctrl.abort();
    if (dialog.open) dialog.close();
  };
}
