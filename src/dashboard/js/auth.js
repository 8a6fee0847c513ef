// Who is signed in, and what their role lets the page offer. The server checks every call
// itself; hiding what a role may not use only spares a person buttons that would be refused.

import { api } from './api.js';

/** Lowest first: each role may do everything the ones before it may. */
export const ROLES = ['viewer', 'operator', 'admin'];

export const session = {
  /**
   * {username, role, via} while signed in, else null. `via` is "session", or "open" when the
   * server runs without accounts (everyone is an admin, and there is nothing to sign out of).
   */
  user: null,
  /** the last name signed in with, offered again when a session ends */
  lastUsername: '',
};

export function setUser(user) {
  session.user = user ? { username: user.username, role: user.role, via: user.via || 'session' } : null;
  if (user) session.lastUsername = user.username;
}

/** Whether the signed-in user has `role` or a higher one. */
export function atLeast(role) {
  const have = ROLES.indexOf(session.user?.role);
  return have >= 0 && have >= ROLES.indexOf(role);
}

/** Setting a space free or occupied by hand. */
export const mayMark = () => atLeast('operator');
/** Cameras, the space editor, users and tokens. */
export const mayAdminister = () => atLeast('admin');

/** The signed-in user, or null when there is no session. Other failures are thrown. */
export async function whoami() {
  try {
    return await api('api/auth/me', { anonymous: true });
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export function signIn(username, password) {
  return api('api/auth/login', { method: 'POST', body: { username, password }, anonymous: true });
}

export async function signOut() {
  try {
    await api('api/auth/logout', { method: 'POST', anonymous: true });
  } catch (e) {
    // Already ended on the server: the person is signed out either way.
    if (e.status !== 401) throw e;
  }
}
