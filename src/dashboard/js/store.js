// What the page knows of the lot: the spaces, the cameras and the connection, kept current by
// the WebSocket (live.js). Views read it and subscribe to its changes.

import { api } from './api.js';

export const store = {
  /** id → space, as the API shows it */
  slots: new Map(),
  /** id → camera: the API's camera merged with the newest live status */
  cameras: new Map(),
  /** 'connecting' | 'live' | 'offline' */
  connection: 'connecting',
  /** whether a snapshot has arrived since the page loaded */
  synced: false,
  /**
   * false while the server cannot reach its database: the lot is the last one stored, and the
   * cameras' changes are held on the server until it returns
   */
  databaseUp: true,
};

const listeners = new Set();

/**
 * `fn(change)` is called on every change: {kind: 'snapshot'}, {kind: 'slot', slot},
 * {kind: 'slot_removed', id}, {kind: 'camera', camera}, {kind: 'camera_removed', id},
 * {kind: 'connection', state, retryIn?}, {kind: 'database', up}. Answers the unsubscribe
 * function.
 */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function emit(change) {
  for (const fn of [...listeners]) {
    try {
      fn(change);
    } catch (e) {
      console.error('a view failed on', change, e);
    }
  }
}

/** Spaces of one camera (or all), ordered by label as a person reads them. */
export function slotsOf(cameraId) {
  const all = [...store.slots.values()].filter((s) => !cameraId || s.camera_id === cameraId);
  return all.sort(byLabel);
}

const collator = new Intl.Collator(undefined, { numeric: true });
export function byLabel(a, b) {
  return a.camera_id === b.camera_id ? collator.compare(a.label, b.label) : collator.compare(a.camera_id, b.camera_id);
}

export function cameraList() {
  return [...store.cameras.values()].sort((a, b) => collator.compare(a.id, b.id));
}

/** Applies one WebSocket message. */
export function apply(msg) {
  switch (msg.type) {
    case 'snapshot':
      store.slots = new Map(msg.slots.map((s) => [s.id, s]));
      store.cameras = new Map(msg.cameras.map((c) => [c.id, { ...store.cameras.get(c.id), ...c }]));
      store.synced = true;
      // A server from before the field: its database is taken to be up.
      setDatabase(msg.database_up !== false);
      emit({ kind: 'snapshot' });
      // Asked while the database is out, the API would fail: asked when it is back instead.
      if (store.databaseUp) refreshCameraDetails();
      break;
    case 'slot':
      store.slots.set(msg.slot.id, msg.slot);
      emit({ kind: 'slot', slot: msg.slot });
      break;
    case 'slot_removed':
      store.slots.delete(msg.id);
      emit({ kind: 'slot_removed', id: msg.id });
      break;
    case 'camera': {
      const known = store.cameras.has(msg.camera.id);
      const camera = { ...store.cameras.get(msg.camera.id), ...msg.camera };
      store.cameras.set(camera.id, camera);
      emit({ kind: 'camera', camera });
      if (!known) refreshCameraDetails();
      break;
    }
    case 'camera_removed':
      store.cameras.delete(msg.id);
      emit({ kind: 'camera_removed', id: msg.id });
      break;
    case 'database':
      if (setDatabase(msg.up) && msg.up) refreshCameraDetails();
      break;
    default:
      // 'stats' and types added later: the page derives its counts from the spaces.
      break;
  }
}

/** Answers whether that is news. */
function setDatabase(up) {
  if (store.databaseUp === up) return false;
  store.databaseUp = up;
  emit({ kind: 'database', up });
  return true;
}

/** Names and sources are not in the live status; they come from the API. */
async function refreshCameraDetails() {
  try {
    const cameras = await api('api/cameras');
    for (const c of cameras) {
      if (!store.cameras.has(c.id)) continue;
      const camera = { ...c, ...store.cameras.get(c.id), name: c.name, source: c.source };
      store.cameras.set(c.id, camera);
      emit({ kind: 'camera', camera });
    }
  } catch (e) {
    console.warn('camera details', e);
  }
}

/** Forgets the lot, for signing out: the next user's page starts from its own snapshot. */
export function reset() {
  store.slots = new Map();
  store.cameras = new Map();
  store.connection = 'connecting';
  store.synced = false;
  store.databaseUp = true;
}

export function setConnection(state, retryIn) {
  store.connection = state;
  emit({ kind: 'connection', state, retryIn });
}
