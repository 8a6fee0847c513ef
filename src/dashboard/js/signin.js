// The sign-in form, shown instead of the views until the server has given this browser a
// session (an HttpOnly cookie the page never sees), and again when that session ends.

import { h } from './dom.js';
import { signIn, session } from './auth.js';

const REASONS = {
  expired: 'Your session has ended. Sign in again to continue.',
  'signed-out': 'You are signed out.',
};

/** A wait rounded up, never down: "try again in 1 min" after 90 s would be refused again. */
function waitText(seconds) {
  return seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

/** `onSignedIn(user)` is called with the server's {username, role}. */
export function mount(root, { reason, onSignedIn }) {
  const username = h('input', {
    id: 'signin-username',
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    value: session.lastUsername,
    'aria-describedby': 'signin-error',
  });
  const password = h('input', {
    id: 'signin-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'aria-describedby': 'signin-error',
  });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in');
  // Filled only when something went wrong, so a screen reader hears exactly that.
  const error = h('p', { id: 'signin-error', class: 'signin-error', 'aria-live': 'assertive' });
  const form = h(
    'form',
    { id: 'signin-form', class: 'signin-form', 'aria-labelledby': 'signin-title' },
    h('div', { class: 'field' }, h('label', { for: 'signin-username' }, 'User name'), username),
    h('div', { class: 'field' }, h('label', { for: 'signin-password' }, 'Password'), password),
    error,
    submit,
  );
  root.append(
    h(
      'section',
      { class: 'card signin', 'data-view': 'signin' },
      h('h1', { id: 'signin-title' }, 'Sign in to smartpark'),
      REASONS[reason] ? h('p', { class: 'muted small', 'data-signin-reason': reason }, REASONS[reason]) : null,
      form,
    ),
  );

  let alive = true;
  let busy = false;
  let lockTimer = null;

  function showError(text) {
    error.textContent = text;
    for (const input of [username, password]) input.setAttribute('aria-invalid', String(Boolean(text)));
  }

  /** After too many failures the server refuses every try until the wait is over. */
  function lock(seconds) {
    submit.disabled = true;
    clearTimeout(lockTimer);
    lockTimer = setTimeout(() => {
      submit.disabled = false;
      lockTimer = null;
    }, seconds * 1000);
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy || lockTimer) return;
    busy = true;
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const user = await signIn(username.value.trim(), password.value);
      if (!alive) return;
      showError('');
      onSignedIn(user);
      return;
    } catch (err) {
      if (!alive) return;
      password.value = '';
      if (err.status === 401) {
        showError('Wrong user name or password.');
      } else if (err.status === 429) {
        const wait = err.retryAfter;
        showError(
          wait
            ? `Too many failed sign-ins. Try again in ${waitText(wait)}.`
            : 'Too many failed sign-ins. Wait a while, then try again.',
        );
        if (wait) lock(wait);
      } else {
        showError(`Not signed in: ${err.message}`);
      }
      password.focus();
    } finally {
      busy = false;
      if (alive) {
        submit.textContent = 'Sign in';
        if (!lockTimer) submit.disabled = false;
      }
    }
  });

  document.title = 'smartpark · Sign in';
  (username.value ? password : username).focus();

  return () => {
    alive = false;
    clearTimeout(lockTimer);
  };
}
