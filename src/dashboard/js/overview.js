// Overview: the lot's free / occupied / total and occupancy, then each camera's, with every
// space as a tile. Counts are derived from the spaces the store holds, so they move with the
// same WebSocket message that moves a tile.

import { h, fill } from './dom.js';
import { store, subscribe, slotsOf, cameraList } from './store.js';
import { counts, percent, stateLabel, duration, since, slotSummary, sourceData, analysisWarning } from './format.js';
import { mayAdminister } from './auth.js';

export function mount(root) {
  const lot = h('section', { class: 'card lot live-data', 'aria-labelledby': 'lot-title' });
  const cameras = h('div', { class: 'cards live-data' });
  root.append(h('div', { class: 'stack' }, lot, cameras));
  /** slot id → its tile, so one change touches one element */
  let tiles = new Map();
  let frame = 0;

  function render() {
    frame = 0;
    const focused = document.activeElement?.dataset?.slotId;
    renderLot();
    tiles = new Map();
    const list = cameraList();
    if (!store.synced) {
      fill(cameras, h('p', { class: 'empty' }, 'Loading the lot…'));
      return;
    }
    if (list.length === 0) {
      fill(
        cameras,
        mayAdminister()
          ? h('p', { class: 'empty' }, 'No cameras yet. Add one through the API, then mark its spaces in the ', h('a', { href: '#/editor' }, 'editor'), '.')
          : h('p', { class: 'empty' }, 'No cameras yet.'),
      );
      return;
    }
    fill(cameras, list.map(cameraCard));
    if (focused) tiles.get(Number(focused))?.focus();
  }

  function renderLot() {
    const c = counts(store.slots.values());
    fill(
      lot,
      h('div', { class: 'row spread' }, h('h1', { id: 'lot-title' }, 'Whole lot'), h('span', { class: 'muted small' }, `${store.cameras.size} camera${store.cameras.size === 1 ? '' : 's'}`)),
      countsRow(c, 'data-count'),
      meter(c),
    );
  }

  function cameraCard(cam) {
    const slots = slotsOf(cam.id);
    const c = counts(slots);
    const grid = h('div', { class: 'tiles', role: 'group', 'aria-label': `Spaces of ${cam.name || cam.id}` }, slots.map(tile));
    return h(
      'section',
      { class: 'card', 'data-camera-id': cam.id, 'aria-label': `Camera ${cam.name || cam.id}` },
      h(
        'div',
        { class: 'row spread' },
        h('h2', {}, cam.name || cam.id),
        h('span', { class: 'badge', 'data-status': cam.status }, cam.status || 'unknown'),
      ),
      analysisWarning(cam),
      countsRow(c, 'data-camera-count', 'compact'),
      meter(c),
      slots.length ? grid : h('p', { class: 'muted small' }, 'No spaces marked yet.'),
      h(
        'div',
        { class: 'row small', style: { marginTop: '.75rem' } },
        h('a', { href: `#/camera/${encodeURIComponent(cam.id)}` }, 'Live view'),
        mayAdminister() ? h('a', { href: `#/editor/${encodeURIComponent(cam.id)}` }, 'Edit spaces') : null,
      ),
    );
  }

  function tile(slot) {
    const el = h('a', { class: 'tile', href: `#/spaces/${slot.id}` });
    setTile(el, slot);
    tiles.set(slot.id, el);
    return el;
  }

  function setTile(el, slot) {
    el.dataset.slotId = slot.id;
    el.dataset.state = slot.state;
    sourceData(el, slot);
    el.textContent = slot.label;
    const stay = slot.state === 'occupied' && slot.session_started_at ? `, parked ${duration(since(slot.session_started_at))}` : '';
    el.title = slotSummary(slot, stay);
    el.setAttribute('aria-label', el.title);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  const unsubscribe = subscribe((change) => {
    if (change.kind === 'slot') {
      const el = tiles.get(change.slot.id);
      if (el && el.closest('[data-camera-id]')?.dataset.cameraId === change.slot.camera_id && el.textContent === change.slot.label) {
        setTile(el, change.slot);
        refreshCounts(change.slot.camera_id);
        return;
      }
    }
    // The banner (app.js) says the database is out; the figures stay as they are.
    if (change.kind !== 'connection' && change.kind !== 'database') schedule();
  });

  function refreshCounts(cameraId) {
    const lotCounts = counts(store.slots.values());
    updateCounts(lot, lotCounts, 'data-count');
    const card = cameras.querySelector(`[data-camera-id="${CSS.escape(cameraId)}"]`);
    if (card) updateCounts(card, counts(slotsOf(cameraId)), 'data-camera-count');
  }

  render();
  return () => {
    unsubscribe();
    cancelAnimationFrame(frame);
  };
}

const SHOWN = ['free', 'occupied', 'total', 'unknown'];

function countsRow(c, attr, variant = '') {
  return h(
    'div',
    { class: `counts ${variant}` },
    SHOWN.map((k) =>
      h('div', { class: `count ${k}` }, h('span', { class: 'value', [attr]: k }, String(c[k] ?? 0)), h('span', { class: 'name' }, k === 'total' ? 'Total' : stateLabel(k))),
    ),
    h('div', { class: 'count' }, h('span', { class: 'value', 'data-occupancy': '' }, percent(c.occupancy)), h('span', { class: 'name' }, 'Occupancy')),
  );
}

function meter(c) {
  const occupied = c.total ? (c.occupied / c.total) * 100 : 0;
  return h(
    'div',
    { class: 'meter', role: 'meter', 'aria-label': 'Occupied share', 'aria-valuemin': 0, 'aria-valuemax': c.total, 'aria-valuenow': c.occupied },
    h('span', { style: { width: `${occupied}%` } }),
  );
}

function updateCounts(scope, c, attr) {
  for (const k of SHOWN) {
    const el = scope.querySelector(`[${attr}="${k}"]`);
    if (el) el.textContent = String(c[k] ?? 0);
  }
  const occ = scope.querySelector('[data-occupancy]');
  if (occ) occ.textContent = percent(c.occupancy);
  const m = scope.querySelector('.meter');
  if (m) {
    m.setAttribute('aria-valuenow', c.occupied);
    m.setAttribute('aria-valuemax', c.total);
    m.firstChild.style.width = `${c.total ? (c.occupied / c.total) * 100 : 0}%`;
  }
}
