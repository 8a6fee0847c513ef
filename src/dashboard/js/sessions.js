// Sessions and statistics: today's headline figures, charts of the lot's history, and every
// parking stay, filtered and paged. The spaces' live changes (from the store) drive the
// refreshes, so a car that arrives shows up here within a second or two without polling.

import { api, query } from './api.js';
import { h, fill, clear } from './dom.js';
import { store, subscribe, slotsOf, cameraList } from './store.js';
import { duration, clock, since } from './format.js';
import { createChart, chartsAvailable, COLORS } from './charts.js';
import { captureThumb } from './thumbs.js';

const PAGE_SIZES = [25, 50, 100];
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

// Changes are coalesced: the first change schedules the refresh and those that follow join it.
// A debounce that restarted on every change would never fire while the detector keeps moving
// spaces.
const SESSIONS_AFTER_CHANGE_MS = 1000;
const HISTORY_AFTER_CHANGE_MS = 5000;
const HISTORY_EVERY_MS = 60_000;

const timeFormat = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });
const longFormat = new Intl.DateTimeFormat([], {
  weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
});
const fullFormat = new Intl.DateTimeFormat([], { dateStyle: 'full', timeStyle: 'medium' });
// The server cuts days at midnight UTC, so a day bucket is named by its UTC date: in the
// viewer's zone its start would read as the evening before, west of Greenwich.
const dayFormat = new Intl.DateTimeFormat([], { weekday: 'short', month: 'short', day: 'numeric', timeZone: 'UTC' });
const longDayFormat = new Intl.DateTimeFormat([], {
  weekday: 'long', month: 'long', day: 'numeric', timeZone: 'UTC',
});

// "Last 24 h" leaves `from` to the server, whose default is the 24 hours up to now. The others
// are aligned to whole buckets, since the server widens a `from` inside a bucket to the bucket's
// start (and so would answer 61 minutes, or 8 days).
const RANGES = [
  {
    id: 'hour', label: 'Last hour', phrase: 'last hour', bucket: 'minute', unit: 'minute',
    from: (now) => Math.floor(now / MINUTE) * MINUTE - 59 * MINUTE,
    tick: (d) => timeFormat.format(d), title: (d) => longFormat.format(d),
  },
  {
    id: 'day', label: 'Last 24 h', phrase: 'last 24 h', bucket: 'hour', unit: 'hour',
    from: null,
    tick: (d) => timeFormat.format(d), title: (d) => longFormat.format(d),
  },
  {
    id: 'week', label: 'Last 7 days', phrase: 'last 7 days', bucket: 'day', unit: 'day',
    from: (now) => Math.floor(now / DAY) * DAY - 6 * DAY,
    tick: (d) => dayFormat.format(d), title: (d) => `${longDayFormat.format(d)} (UTC day)`,
  },
];

function zoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'your time zone';
  } catch {
    return 'your time zone';
  }
}

/** A datetime-local value (the viewer's wall clock) as RFC 3339 UTC; '' when unset or invalid. */
function toRfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function cameraName(id) {
  return store.cameras.get(id)?.name || id;
}

/** A stay still running, to the second below an hour: "42 min" alone would tick once a minute. */
function liveDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds ?? 0));
  if (s < 60 || s >= 3600) return duration(s);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** Axis ticks of the average stay, in minutes: 2.5 → "2.5 min", 180 → "3 h". */
function minutesTick(value) {
  return value >= 120 && value % 60 === 0 ? `${value / 60} h` : `${Math.round(value * 10) / 10} min`;
}

export function mount(root) {
  const filters = { camera: '', slot: '', from: '', to: '', open: false, limit: PAGE_SIZES[0] };
  let cursor = null;
  /** cursors of the pages before this one; its length is this page's number less one */
  let previous = [];
  let nextCursor = null;
  let items = [];
  let range = RANGES[1];
  let alive = true;

  const controllers = new Set();
  const timers = new Set();
  let listController = null;
  let historyController = null;
  let sessionsSoon = null;
  let historySoon = null;
  let ticker = null;
  const rows = new Map(); // session id → {key, tr}, so a refresh keeps unchanged rows (and focus)
  const charts = {};

  // ---- Layout ----------------------------------------------------------------------------

  const figure = (name, label) =>
    h('div', { class: 'count', 'data-figure': name },
      h('span', { class: 'value' }, '–'),
      h('span', { class: 'name' }, label));
  const figures = {
    sessions: figure('sessions-today', 'Sessions today'),
    stay: figure('average-stay-today', 'Average stay today'),
    parked: figure('parked-now', 'Parked now'),
  };

  const rangeButtons = RANGES.map((r) =>
    h('button', {
      type: 'button', 'data-range': r.id, 'aria-pressed': String(r === range),
      onclick: () => chooseRange(r),
    }, r.label));

  const historyStatus = h('div', { class: 'history-status' });
  const chartGrid = h('div', { class: 'chart-grid' });

  const cameraSelect = h('select', { id: 'sessions-camera', name: 'camera' });
  const slotSelect = h('select', { id: 'sessions-slot', name: 'slot' });
  const fromInput = h('input', { id: 'sessions-from', name: 'from', type: 'datetime-local' });
  const toInput = h('input', { id: 'sessions-to', name: 'to', type: 'datetime-local', 'aria-describedby': 'sessions-range-error' });
  const openInput = h('input', { id: 'sessions-open', name: 'open', type: 'checkbox' });
  const limitSelect = h('select', { id: 'sessions-limit', name: 'limit' },
    PAGE_SIZES.map((n) => h('option', { value: String(n) }, String(n))));
  const clearButton = h('button', { type: 'button', class: 'sessions-clear', onclick: clearFilters }, 'Clear filters');
  const rangeError = h('p', { class: 'field-error small', id: 'sessions-range-error', role: 'alert', hidden: true });

  const field = (id, label, control, extra = '') =>
    h('div', { class: `field ${extra}`.trim() }, h('label', { for: id }, label), control);

  const form = h('form', {
    class: 'filters sessions-filters', role: 'search', 'aria-label': 'Filter parking sessions',
    onsubmit: (e) => e.preventDefault(),
  },
    field('sessions-camera', 'Camera', cameraSelect),
    field('sessions-slot', 'Space', slotSelect),
    field('sessions-from', 'From', fromInput, 'when'),
    field('sessions-to', 'To', toInput, 'when'),
    h('div', { class: 'field check' }, openInput, h('label', { for: 'sessions-open' }, 'Only current stays')),
    field('sessions-limit', 'Per page', limitSelect, 'per-page'),
  );

  const pageInfo = h('span', { class: 'page-info muted small', 'aria-live': 'polite' });
  const newerButton = h('button', { type: 'button', class: 'page-newer', onclick: newer, disabled: true }, '← Newer');
  const olderButton = h('button', { type: 'button', class: 'page-older', onclick: older, disabled: true }, 'Older →');
  const caption = h('caption', { class: 'visually-hidden' }, 'Parking sessions, newest first');
  const tbody = h('tbody');
  const table = h('table', { class: 'data sessions-table' },
    caption,
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Space'),
      h('th', { scope: 'col' }, 'Entered'),
      h('th', { scope: 'col' }, 'Left'),
      h('th', { scope: 'col', class: 'num' }, 'Duration'),
      h('th', { scope: 'col' }, 'Sources'),
      h('th', { scope: 'col' }, 'Captures'))),
    tbody);
  // Focusable, so that a keyboard can scroll the table sideways on a narrow screen.
  const tableWrap = h('div', {
    class: 'table-wrap sessions-table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'sessions-list-title',
  });
  const listState = h('div', { class: 'sessions-state' });

  const view = h('div', { class: 'stack sessions-view', 'data-view': 'sessions' },
    h('div', { class: 'row spread' },
      h('h1', {}, 'Sessions & statistics'),
      h('p', { class: 'muted small tz-note' }, `Times in ${zoneName()}`)),
    h('section', { class: 'card headline', 'aria-labelledby': 'sessions-today-title' },
      h('h2', { id: 'sessions-today-title', class: 'visually-hidden' }, 'Today'),
      h('div', { class: 'counts' }, figures.sessions, figures.stay, figures.parked),
      h('p', { class: 'muted small' }, '“Today” is the UTC day; the average is over the stays that ended today.')),
    h('section', { class: 'history stack', 'aria-labelledby': 'sessions-history-title' },
      h('div', { class: 'row spread' },
        h('h2', { id: 'sessions-history-title' }, 'History'),
        h('div', { class: 'range', role: 'group', 'aria-label': 'History range' }, rangeButtons)),
      historyStatus,
      chartGrid),
    h('section', { class: 'card sessions-list', 'aria-labelledby': 'sessions-list-title' },
      h('div', { class: 'row spread sessions-head' }, h('h2', { id: 'sessions-list-title' }, 'Parking sessions'), clearButton),
      form,
      rangeError,
      listState,
      tableWrap,
      h('nav', { class: 'pager', 'aria-label': 'Pages of sessions' }, newerButton, pageInfo, olderButton)),
  );
  root.append(view);

  // ---- Filters ---------------------------------------------------------------------------

  let optionsKey = '';
  /** The selects follow the store; rebuilt only when cameras or spaces really change, since
   *  rebuilding closes a select the user has open. */
  function syncOptions() {
    const cams = cameraList();
    const spaces = slotsOf(filters.camera || undefined);
    const key = JSON.stringify([cams.map((c) => [c.id, c.name]), spaces.map((s) => [s.id, s.label, s.camera_id]), filters.camera]);
    if (key === optionsKey) return false;
    optionsKey = key;

    const camOptions = [h('option', { value: '' }, 'All cameras'),
      ...cams.map((c) => h('option', { value: c.id }, c.name || c.id))];
    // A chosen camera that has since gone stays listed, so the filter shown is the one applied.
    if (filters.camera && !cams.some((c) => c.id === filters.camera)) {
      camOptions.push(h('option', { value: filters.camera }, `${filters.camera} (removed)`));
    }
    fill(cameraSelect, camOptions);
    cameraSelect.value = filters.camera;

    const slotOptions = [h('option', { value: '' }, 'All spaces')];
    const byCamera = !filters.camera && cams.length > 1;
    if (byCamera) {
      for (const c of cams) {
        const own = spaces.filter((s) => s.camera_id === c.id);
        if (own.length) slotOptions.push(h('optgroup', { label: c.name || c.id }, own.map(slotOption)));
      }
      const orphans = spaces.filter((s) => !store.cameras.has(s.camera_id));
      slotOptions.push(...orphans.map(slotOption));
    } else {
      slotOptions.push(...spaces.map(slotOption));
    }
    if (filters.slot && !spaces.some((s) => String(s.id) === filters.slot)) {
      slotOptions.push(h('option', { value: filters.slot }, `Space #${filters.slot}`));
    }
    fill(slotSelect, slotOptions);
    slotSelect.value = filters.slot;
    return true;
  }

  function slotOption(s) {
    return h('option', { value: String(s.id) }, s.label);
  }

  function readFilters() {
    filters.camera = cameraSelect.value;
    filters.slot = slotSelect.value;
    filters.from = fromInput.value;
    filters.to = toInput.value;
    filters.open = openInput.checked;
    filters.limit = Number(limitSelect.value) || PAGE_SIZES[0];
  }

  function filtersChanged(e) {
    if (e.target === cameraSelect) {
      filters.camera = cameraSelect.value;
      // A space of another camera would filter everything out.
      const slot = store.slots.get(Number(slotSelect.value));
      if (filters.camera && slot && slot.camera_id !== filters.camera) slotSelect.value = '';
      filters.slot = slotSelect.value;
      syncOptions();
    }
    readFilters();
    firstPage();
  }
  for (const el of [cameraSelect, slotSelect, fromInput, toInput, openInput, limitSelect]) {
    el.addEventListener('change', filtersChanged);
  }

  function clearFilters() {
    cameraSelect.value = '';
    slotSelect.value = '';
    fromInput.value = '';
    toInput.value = '';
    openInput.checked = false;
    // The page size is a preference, not a filter: it stays.
    readFilters();
    syncOptions();
    firstPage();
  }

  function anyFilter() {
    return Boolean(filters.camera || filters.slot || filters.from || filters.to || filters.open);
  }

  /** The query, or null with the reason shown when the interval is backwards. */
  function sessionQuery() {
    const from = toRfc3339(filters.from);
    const to = toRfc3339(filters.to);
    const backwards = from && to && from >= to;
    toInput.setCustomValidity(backwards ? '“To” must be after “From”.' : '');
    if (backwards) toInput.setAttribute('aria-invalid', 'true');
    else toInput.removeAttribute('aria-invalid');
    rangeError.hidden = !backwards;
    rangeError.textContent = backwards ? '“To” must be after “From”.' : '';
    if (backwards) return null;
    return query({
      camera: filters.camera, slot: filters.slot, from, to,
      open: filters.open ? 'true' : '', limit: filters.limit, cursor,
    });
  }

  // ---- The list --------------------------------------------------------------------------

  function firstPage() {
    cursor = null;
    previous = [];
    loadSessions();
  }

  // Clicks while a page loads are dropped: a second "Older" would push the same cursor twice.
  let paging = false;

  function older() {
    if (!nextCursor || paging) return;
    previous.push(cursor);
    cursor = nextCursor;
    loadSessions({ focus: olderButton });
  }

  function newer() {
    if (!previous.length || paging) return;
    cursor = previous.pop();
    loadSessions({ focus: newerButton });
  }

  /** `quiet`: a live refresh, which neither dims the table nor replaces it with an error. */
  async function loadSessions({ quiet = false, focus = null } = {}) {
    const q = sessionQuery();
    listController?.abort();
    if (q === null) {
      listController = null;
      return;
    }
    const ctrl = new AbortController();
    listController = ctrl;
    controllers.add(ctrl);
    paging = !quiet;
    if (!quiet) tableWrap.setAttribute('aria-busy', 'true');
    if (!quiet && !items.length) showState(h('p', { class: 'empty' }, 'Loading sessions…'));
    try {
      const page = await api(`api/sessions${q}`, { signal: ctrl.signal });
      if (!alive || ctrl !== listController) return;
      items = page.items || [];
      nextCursor = page.next_cursor || null;
      renderList();
    } catch (e) {
      if (e.name === 'AbortError' || !alive) return;
      if (quiet && items.length) {
        // The rows shown are still true up to a moment ago; a line says they may be stale.
        showState(errorBox(`Could not refresh the sessions: ${e.message}`));
      } else {
        items = [];
        nextCursor = null;
        renderRows();
        showState(errorBox(`Could not load the sessions: ${e.message}`));
        updatePager();
      }
    } finally {
      controllers.delete(ctrl);
      if (ctrl === listController) {
        listController = null;
        paging = false;
        tableWrap.removeAttribute('aria-busy');
      }
    }
    // On the first or last page the button just pressed is disabled, which drops focus to
    // <body>; it goes to the other button, or to the table, so the keyboard keeps its place.
    if (focus && alive && focus.disabled && [focus, document.body, null].includes(document.activeElement)) {
      const other = focus === olderButton ? newerButton : olderButton;
      (other.disabled ? tableWrap : other).focus();
    }
  }

  function errorBox(text) {
    return h('div', { class: 'error-state', role: 'alert' },
      h('span', {}, text),
      h('button', { type: 'button', class: 'primary sessions-retry', onclick: () => loadSessions() }, 'Retry'));
  }

  function showState(...children) {
    fill(listState, ...children);
  }

  function renderList() {
    renderRows();
    updatePager();
    if (items.length) {
      clear(listState);
      return;
    }
    if (previous.length) {
      showState(h('p', { class: 'empty' }, 'No older sessions.'));
    } else if (anyFilter()) {
      showState(h('div', { class: 'empty' },
        h('p', {}, 'No parking sessions match these filters.'),
        h('button', { type: 'button', onclick: clearFilters }, 'Clear filters')));
    } else {
      showState(h('p', { class: 'empty' }, 'No parking sessions yet: a stay begins when a space becomes occupied.'));
    }
  }

  function updatePager() {
    const page = previous.length + 1;
    newerButton.disabled = previous.length === 0;
    olderButton.disabled = !nextCursor;
    const n = items.length;
    pageInfo.textContent = n ? `Page ${page} · ${n} ${n === 1 ? 'stay' : 'stays'}` : `Page ${page}`;
    caption.textContent = `Parking sessions, newest first, page ${page}`;
  }

  function renderRows() {
    const seen = new Set();
    const trs = items.map((s) => {
      // The camera's name is part of the key: names arrive after the first snapshot.
      const key = JSON.stringify([s, cameraName(s.camera_id)]);
      seen.add(s.id);
      const known = rows.get(s.id);
      if (known && known.key === key) return known.tr;
      const tr = sessionRow(s);
      rows.set(s.id, { key, tr });
      return tr;
    });
    for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
    // Rows already in place are left alone, so a live refresh keeps focus and loaded images.
    trs.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    while (tbody.children.length > trs.length) tbody.lastElementChild.remove();
    if (items.length && !table.isConnected) fill(tableWrap, table);
    if (!items.length && table.isConnected) clear(tableWrap);
    tick();
    setTicking(items.some((s) => !s.ended_at));
  }

  function when(time) {
    return h('time', { datetime: time, title: fullFormat.format(new Date(time)) }, clock(time));
  }

  function sessionRow(s) {
    const open = !s.ended_at;
    return h('tr', { 'data-session-id': String(s.id), 'data-open': open ? 'true' : 'false' },
      h('td', { class: 'session-space' },
        h('span', { class: 'space-label' }, s.slot_label),
        h('span', { class: 'camera-name muted small', title: cameraName(s.camera_id) }, cameraName(s.camera_id))),
      h('td', { class: 'session-start' }, when(s.started_at)),
      h('td', { class: 'session-end' },
        open ? h('span', { class: 'badge', 'data-state': 'occupied' }, 'Parked') : when(s.ended_at)),
      h('td', { class: 'num session-duration', 'data-started-at': open ? s.started_at : null },
        open ? liveDuration(since(s.started_at)) : duration(s.duration_s)),
      h('td', { class: 'session-sources small' },
        h('span', { title: 'what began the stay' }, s.source),
        h('span', { class: 'muted', 'aria-hidden': 'true' }, ' → '),
        h('span', { class: 'visually-hidden' }, ', ended by '),
        open ? h('span', { class: 'muted' }, '…') : h('span', { title: 'what ended it' }, s.end_source || '–')),
      h('td', { class: 'session-captures' },
        h('div', { class: 'thumbs' },
          captureThumb(s.entry_capture_id, 'Entry', s.slot_label),
          captureThumb(s.exit_capture_id, 'Exit', s.slot_label),
          s.entry_capture_id == null && s.exit_capture_id == null ? h('span', { class: 'muted' }, '–') : null)));
  }

  function tick() {
    const now = Date.now();
    for (const td of tbody.querySelectorAll('td[data-started-at]')) {
      const text = liveDuration(since(td.dataset.startedAt, now));
      if (td.textContent !== text) td.textContent = text;
    }
  }

  function setTicking(on) {
    if (on && !ticker) ticker = setInterval(tick, 1000);
    if (!on && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  function refreshSessionsSoon() {
    if (sessionsSoon) return;
    sessionsSoon = later(() => {
      sessionsSoon = null;
      loadSessions({ quiet: true });
    }, SESSIONS_AFTER_CHANGE_MS);
  }

  // ---- Headline figures and history ------------------------------------------------------

  function chooseRange(r) {
    if (r === range) return;
    range = r;
    for (const b of rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === r.id));
    loadHistory();
  }

  const chartSpecs = [
    {
      id: 'occupancy', title: 'Occupancy', note: '% of the spaces occupied',
      kind: 'line', series: [{ label: 'Occupancy', color: COLORS.occupied, fill: true }],
      y: { min: 0, max: 100, tick: (v) => `${v}%` },
      value: (v) => `${Math.round(v)}%`,
    },
    {
      id: 'arrivals', title: () => `Arrivals per ${range.unit}`, note: 'stays begun and ended',
      kind: 'bar',
      series: [{ label: 'Arrivals', color: COLORS.occupied }, { label: 'Departures', color: COLORS.free }],
      y: { integer: true, suggestedMax: 4 },
      value: (v) => String(v),
    },
    {
      id: 'stay', title: 'Average stay', note: 'of the stays that ended, in minutes',
      kind: 'line', series: [{ label: 'Average stay', color: COLORS.accent, points: true }],
      y: { suggestedMax: 10, tick: minutesTick },
      value: (v) => duration(v * 60),
    },
  ];

  const chartTitles = {};
  const canvases = {};
  for (const spec of chartSpecs) {
    chartTitles[spec.id] = h('h3', { id: `chart-${spec.id}-title` });
    canvases[spec.id] = h('canvas', {
      id: `chart-${spec.id}`, role: 'img', 'aria-label': `${titleOf(spec)}: loading`,
    }, 'Chart of the lot’s history.');
    chartGrid.append(h('figure', { class: 'card chart-card', 'data-chart': spec.id },
      h('figcaption', {}, chartTitles[spec.id], h('span', { class: 'muted small' }, spec.note)),
      h('div', { class: 'chart-box' }, canvases[spec.id])));
  }
  renderChartTitles();

  function titleOf(spec) {
    return typeof spec.title === 'function' ? spec.title() : spec.title;
  }

  function renderChartTitles() {
    for (const spec of chartSpecs) chartTitles[spec.id].textContent = titleOf(spec);
  }

  let currentBuckets = [];
  function ensureCharts() {
    if (charts.occupancy || !chartsAvailable()) return Boolean(charts.occupancy);
    for (const spec of chartSpecs) {
      charts[spec.id] = createChart(canvases[spec.id], {
        kind: spec.kind,
        series: spec.series,
        y: spec.y,
        tooltip: {
          title: (i) => (currentBuckets[i] ? range.title(new Date(currentBuckets[i].start)) : ''),
          value: spec.value,
        },
      });
    }
    return true;
  }

  async function loadHistory() {
    historyController?.abort();
    const ctrl = new AbortController();
    historyController = ctrl;
    controllers.add(ctrl);
    const r = range;
    const now = Date.now();
    try {
      const [history, stats] = await Promise.all([
        api(`api/stats/history${query({ bucket: r.bucket, from: r.from ? new Date(r.from(now)).toISOString() : '' })}`, { signal: ctrl.signal }),
        api('api/stats', { signal: ctrl.signal }),
      ]);
      if (!alive || ctrl !== historyController) return;
      clear(historyStatus);
      renderFigures(stats);
      renderHistory(history.buckets || [], r, stats);
    } catch (e) {
      if (e.name === 'AbortError' || !alive) return;
      fill(historyStatus, h('div', { class: 'error-state', role: 'alert' },
        h('span', {}, `Could not load the statistics: ${e.message}`),
        h('button', { type: 'button', class: 'primary history-retry', onclick: () => loadHistory() }, 'Retry')));
    } finally {
      controllers.delete(ctrl);
      if (ctrl === historyController) historyController = null;
    }
  }

  function renderFigures(stats) {
    const set = (el, text) => {
      el.querySelector('.value').textContent = text;
    };
    set(figures.sessions, stats?.sessions_today ?? '–');
    set(figures.stay, stats?.average_stay_s == null ? '–' : duration(stats.average_stay_s));
    set(figures.parked, stats ? `${stats.occupied ?? 0} / ${stats.total ?? 0}` : '–');
  }

  function renderHistory(buckets, r, stats) {
    currentBuckets = buckets;
    renderChartTitles();
    if (!ensureCharts()) {
      chartGrid.hidden = true;
      fill(historyStatus, h('p', { class: 'error-state', role: 'alert' }, 'The charts cannot be drawn: the chart library did not load.'));
      return;
    }
    const labels = buckets.map((b) => r.tick(new Date(b.start)));
    const occupancy = buckets.map((b) => Math.round(b.occupancy * 1000) / 10);
    const arrivals = buckets.map((b) => b.arrivals);
    const departures = buckets.map((b) => b.departures);
    const stays = buckets.map((b) => (b.average_stay_s == null ? null : Math.round(b.average_stay_s / 6) / 10));

    charts.occupancy.update({ labels, values: [occupancy], summary: occupancySummary(r, labels, occupancy, stats) });
    charts.arrivals.update({ labels, values: [arrivals, departures], summary: arrivalsSummary(r, labels, arrivals, departures) });
    charts.stay.update({ labels, values: [stays], summary: staySummary(r, labels, buckets) });
  }

  function peak(values) {
    let best = -1;
    values.forEach((v, i) => {
      if (v !== null && (best < 0 || v > values[best])) best = i;
    });
    return best;
  }

  /** "now" is the lot at this moment (over all its spaces, as the chart counts), not the mean of
   *  the newest bucket, which lags behind a change made a minute ago. */
  function occupancySummary(r, labels, values, stats) {
    const head = `Occupancy, ${r.phrase}`;
    const now = stats?.total ? Math.round((stats.occupied / stats.total) * 100) : null;
    const nowText = now === null ? '' : `now ${now}%`;
    if (!values.length) return `${head}: ${nowText || 'no data'}`;
    const top = peak(values);
    const peakText = `peak ${Math.round(values[top])}% at ${labels[top]} (mean per ${r.unit})`;
    return `${head}: ${nowText ? `${nowText}, ` : ''}${peakText}`;
  }

  function arrivalsSummary(r, labels, arrivals, departures) {
    const head = `Arrivals and departures per ${r.unit}, ${r.phrase}`;
    const a = arrivals.reduce((x, y) => x + y, 0);
    const d = departures.reduce((x, y) => x + y, 0);
    if (!a && !d) return `${head}: none`;
    const top = peak(arrivals);
    const busiest = a ? `; busiest ${labels[top]} with ${arrivals[top]} ${arrivals[top] === 1 ? 'arrival' : 'arrivals'}` : '';
    return `${head}: ${a} ${a === 1 ? 'arrival' : 'arrivals'} and ${d} ${d === 1 ? 'departure' : 'departures'}${busiest}`;
  }

  function staySummary(r, labels, buckets) {
    const head = `Average stay, ${r.phrase}`;
    let n = 0;
    let total = 0;
    for (const b of buckets) {
      if (b.average_stay_s == null || !b.departures) continue;
      n += b.departures;
      total += b.average_stay_s * b.departures;
    }
    if (!n) return `${head}: no stay ended`;
    const top = peak(buckets.map((b) => b.average_stay_s));
    return `${head}: ${duration(total / n)} over ${n} ${n === 1 ? 'stay' : 'stays'}; longest ${duration(buckets[top].average_stay_s)} at ${labels[top]}`;
  }

  function refreshHistorySoon() {
    if (historySoon) return;
    historySoon = later(() => {
      historySoon = null;
      loadHistory();
    }, HISTORY_AFTER_CHANGE_MS);
  }

  // ---- Timers, live changes, unmount -----------------------------------------------------

  function later(fn, ms) {
    const t = setTimeout(() => {
      timers.delete(t);
      if (alive) fn();
    }, ms);
    timers.add(t);
    return t;
  }

  const every = setInterval(() => {
    // A hidden tab skips the minute's refresh and catches up when it is shown again.
    if (!document.hidden) loadHistory();
  }, HISTORY_EVERY_MS);

  function onVisible() {
    if (document.hidden) return;
    loadHistory();
    if (!previous.length) loadSessions({ quiet: true });
  }
  document.addEventListener('visibilitychange', onVisible);

  const unsubscribe = subscribe((change) => {
    switch (change.kind) {
      case 'snapshot':
        // A (re)connection: whatever changed while away is in the snapshot, not in events.
        if (syncOptions()) renderRows();
        if (!previous.length) refreshSessionsSoon();
        refreshHistorySoon();
        break;
      case 'slot': {
        if (syncOptions()) renderRows();
        const slot = change.slot;
        // Older pages do not move (the cursor is a position), but a stay shown as parked that
        // has just ended must stop ticking, so that page is reloaded too.
        const endedHere = items.some((s) => !s.ended_at && s.slot_id === slot.id && slot.session_id !== s.id);
        if (!previous.length || endedHere) refreshSessionsSoon();
        refreshHistorySoon();
        break;
      }
      case 'slot_removed':
        // Its sessions are deleted with it.
        syncOptions();
        refreshSessionsSoon();
        refreshHistorySoon();
        break;
      case 'camera':
      case 'camera_removed':
        if (syncOptions()) renderRows();
        break;
      case 'database':
        // Back: what could not load while it was out loads now, with the stays stored since.
        if (change.up) {
          refreshSessionsSoon();
          refreshHistorySoon();
        }
        break;
      default:
        break;
    }
  });

  syncOptions();
  readFilters();
  loadSessions();
  loadHistory();

  return () => {
    alive = false;
    unsubscribe();
    document.removeEventListener('visibilitychange', onVisible);
    clearInterval(every);
    setTicking(false);
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const c of controllers) c.abort();
    controllers.clear();
    for (const id of Object.keys(charts)) {
      charts[id].destroy();
      delete charts[id];
    }
  };
}
