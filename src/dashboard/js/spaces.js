// Spaces: every space with its state, since when, and the current stay; one opens into its
// history of parking sessions with their entry and exit captures, and can be set by hand (an
// operator's or an admin's page only).

import { h, fill, notify } from './dom.js';
import { api, query } from './api.js';
import { store, subscribe, slotsOf, cameraList } from './store.js';
import { STATES, stateLabel, clock, duration, since, setBy, pendingText, sourceData } from './format.js';
import { captureThumb } from './thumbs.js';
import { mayMark, mayAdminister } from './auth.js';

const HISTORY_PAGE = 20;

export function mount(root, [openId]) {
  const filters = { camera: '', state: '', text: '' };
  const cameraSelect = h('select', { id: 'spaces-camera' });
  const stateSelect = h('select', { id: 'spaces-state' }, h('option', { value: '' }, 'All states'), STATES.map((s) => h('option', { value: s }, stateLabel(s))));
  const search = h('input', { id: 'spaces-search', type: 'search', placeholder: 'Label', autocomplete: 'off' });
  const list = h('div', { class: 'space-list live-data', role: 'group', 'aria-label': 'Spaces' });
  const count = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const dialog = h('dialog', { 'aria-labelledby': 'space-dialog-title' });

  root.append(
    h('div', { class: 'row spread' }, h('h1', {}, 'Spaces'), count),
    h(
      'div',
      { class: 'filters' },
      h('div', { class: 'field' }, h('label', { for: 'spaces-camera' }, 'Camera'), cameraSelect),
      h('div', { class: 'field' }, h('label', { for: 'spaces-state' }, 'State'), stateSelect),
      h('div', { class: 'field' }, h('label', { for: 'spaces-search' }, 'Find a space'), search),
    ),
    list,
    dialog,
  );

  cameraSelect.addEventListener('change', () => ((filters.camera = cameraSelect.value), render()));
  stateSelect.addEventListener('change', () => ((filters.state = stateSelect.value), render()));
  search.addEventListener('input', () => ((filters.text = search.value.trim().toLowerCase()), render()));

  function renderCameras() {
    fill(cameraSelect, h('option', { value: '' }, 'All cameras'), cameraList().map((c) => h('option', { value: c.id, selected: c.id === filters.camera }, c.name || c.id)));
  }

  let cards = new Map();
  function render() {
    const focused = document.activeElement?.dataset?.slotId;
    const shown = slotsOf(filters.camera || undefined).filter(matches);
    cards = new Map();
    count.textContent = `${shown.length} of ${store.slots.size} spaces`;
    if (!store.synced) fill(list, h('p', { class: 'empty' }, 'Loading…'));
    else if (!shown.length) fill(list, h('p', { class: 'empty' }, store.slots.size ? 'No space matches.' : mayAdminister() ? 'No spaces yet: mark them in the editor.' : 'No spaces yet.'));
    else fill(list, shown.map(card));
    if (focused) cards.get(Number(focused))?.focus();
  }

  function card(slot) {
    const el = h('button', { type: 'button', class: 'space' });
    el.addEventListener('click', () => openHistory(slot.id));
    setCard(el, slot);
    cards.set(slot.id, el);
    return el;
  }

  function setCard(el, slot) {
    el.dataset.slotId = slot.id;
    el.dataset.state = slot.state;
    sourceData(el, slot);
    const cam = store.cameras.get(slot.camera_id);
    const who = setBy(slot);
    fill(
      el,
      h('span', { class: 'row spread' }, h('span', { class: 'label' }, slot.label), h('span', { class: 'badge', 'data-state': slot.state }, stateLabel(slot.state))),
      h('span', { class: 'muted small' }, cam?.name || slot.camera_id),
      h('span', { class: 'small' }, `since ${clock(slot.since)}`),
      h('span', { class: 'small', 'data-stay-since': slot.state === 'occupied' ? slot.session_started_at || '' : '' }, stayText(slot)),
      who ? h('span', { class: 'small set-by', 'data-set-by': slot.source }, who) : null,
      slot.held ? h('span', { class: 'small pending', 'data-held': slot.held }, pendingText(slot)) : null,
    );
  }

  function matches(slot) {
    return (!filters.camera || slot.camera_id === filters.camera) && (!filters.state || slot.state === filters.state) && (!filters.text || slot.label.toLowerCase().includes(filters.text));
  }

  const unsubscribe = subscribe((change) => {
    if (change.kind === 'connection' || change.kind === 'database') return;
    if (change.kind === 'slot') {
      const el = cards.get(change.slot.id);
      if (el && matches(change.slot)) setCard(el, change.slot);
      else render();
      if (dialog.open && Number(dialog.dataset.slotId) === change.slot.id) openHistory(change.slot.id, true);
      return;
    }
    if (change.kind === 'snapshot' || change.kind.startsWith('camera')) renderCameras();
    // A deep link opens the history before the snapshot has named the space.
    if (change.kind === 'snapshot' && dialog.open) openHistory(Number(dialog.dataset.slotId), true);
    render();
  });

  // Stays grow while the page is open.
  const tick = setInterval(() => {
    for (const el of list.querySelectorAll('[data-stay-since]')) {
      if (el.dataset.staySince) el.textContent = `parked ${duration(since(el.dataset.staySince))}`;
    }
  }, 1000);

  let loading = null;
  async function openHistory(id, refresh = false) {
    const slot = store.slots.get(id);
    dialog.dataset.slotId = id;
    if (!refresh) {
      fill(dialog, h('div', { class: 'dialog-body' }, h('p', {}, 'Loading…')));
      if (!dialog.open) dialog.showModal();
    }
    loading?.abort();
    loading = new AbortController();
    try {
      const page = await api(`api/sessions${query({ slot: id, limit: HISTORY_PAGE })}`, { signal: loading.signal });
      fill(dialog, historyBody(slot || { id, label: String(id), state: 'unknown' }, page.items, Boolean(page.next_cursor)));
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(dialog, h('div', { class: 'dialog-body' }, h('p', { role: 'alert' }, `Cannot load the history: ${e.message}`), closeButton()));
    }
  }

  function closeButton() {
    return h('button', { type: 'button', onclick: () => dialog.close() }, 'Close');
  }

  function historyBody(slot, items, more) {
    const set = async (state) => {
      try {
        await api(`api/slots/${slot.id}`, { method: 'PUT', body: { state } });
        notify(`Space ${slot.label} set ${stateLabel(state).toLowerCase()}`);
      } catch (e) {
        notify(`Space ${slot.label}: ${e.message}`, 'error');
      }
    };
    return h(
      'div',
      { class: 'dialog-body' },
      h(
        'div',
        { class: 'row spread' },
        h('h2', { id: 'space-dialog-title' }, `Space ${slot.label}`),
        h('span', { class: 'badge', 'data-slot-id': slot.id, 'data-state': slot.state }, stateLabel(slot.state)),
      ),
      h('p', { class: 'muted small' }, `${store.cameras.get(slot.camera_id)?.name || slot.camera_id || ''} · ${stateLabel(slot.state)} since ${clock(slot.since)} · ${stayText(slot)}`),
      setBy(slot) ? h('p', { class: 'small set-by', 'data-set-by': slot.source }, setByText(slot)) : null,
      slot.held ? h('p', { class: 'small pending', 'data-held': slot.held }, `${pendingText(slot)}: the camera has seen this since; it is stored when the database is back`) : null,
      mayMark()
        ? h(
            'div',
            { class: 'row', style: { margin: '.5rem 0 1rem' } },
            h('span', { class: 'small muted' }, 'Correct by hand:'),
            h('button', { type: 'button', 'data-action': 'mark-free', onclick: () => set('free'), disabled: slot.state === 'free' }, 'Mark free'),
            h('button', { type: 'button', 'data-action': 'mark-occupied', onclick: () => set('occupied'), disabled: slot.state === 'occupied' }, 'Mark occupied'),
          )
        : null,
      h('h3', {}, 'Parking sessions'),
      items.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'data' },
              h('thead', {}, h('tr', {}, ['Entered', 'Left', 'Duration', 'Source', 'Captures'].map((t) => h('th', { scope: 'col', class: t === 'Duration' ? 'num' : null }, t)))),
              h(
                'tbody',
                {},
                items.map((s) =>
                  h(
                    'tr',
                    { 'data-session-id': s.id },
                    h('td', {}, clock(s.started_at)),
                    h('td', {}, s.ended_at ? clock(s.ended_at) : h('span', { class: 'badge', 'data-state': 'occupied' }, 'parked')),
                    h('td', { class: 'num' }, duration(s.duration_s ?? since(s.started_at))),
                    h('td', {}, s.end_source && s.end_source !== s.source ? `${s.source} → ${s.end_source}` : s.source),
                    h('td', {}, h('div', { class: 'thumbs' }, captureThumb(s.entry_capture_id, 'Entry', slot.label), captureThumb(s.exit_capture_id, 'Exit', slot.label))),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No parking sessions yet.'),
      more ? h('p', { class: 'small' }, h('a', { href: `#/sessions` }, 'Older sessions on the sessions page')) : null,
      h('div', { class: 'row', style: { marginTop: '1rem', justifyContent: 'flex-end' } }, closeButton()),
    );
  }

  dialog.addEventListener('close', () => {
    loading?.abort();
    // A deep link (#/spaces/7) closes back to the list without a new history entry.
    if (/^#\/spaces\/\d+$/.test(location.hash)) history.replaceState(null, '', '#/spaces');
  });

  renderCameras();
  render();
  if (openId) openHistory(Number(openId));

  return () => {
    unsubscribe();
    clearInterval(tick);
    loading?.abort();
    if (dialog.open) dialog.close();
  };
}

function stayText(slot) {
  if (slot.state === 'occupied' && slot.session_started_at) return `parked ${duration(since(slot.session_started_at))}`;
  return slot.state === 'free' ? 'no car' : 'state not known';
}

/** Who set the state, as a sentence; a change by hand says what it means for the detector. */
function setByText(slot) {
  const who = setBy(slot);
  const text = `${who[0].toUpperCase()}${who.slice(1)}`;
  return slot.source === 'manual' ? `${text}: it holds against the detector until the camera sees the space change.` : `${text}.`;
}
