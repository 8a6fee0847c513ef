// Live camera view: the camera's MJPEG stream with its spaces drawn over it in the frame's own
// pixel coordinates, filled by state and updated from the WebSocket. "Vehicle boxes" swaps the
// stream for the detector's overlay image (the analysed frame, refreshed), keeping the outlines.

import { h, svg, fill } from './dom.js';
import { url } from './api.js';
import { store, subscribe, slotsOf, cameraList } from './store.js';
import { ago, counts, percent, stateLabel, slotSummary, sourceData, analysisWarning, pendingText } from './format.js';
import { bounds, centroid, pointsAttr } from './polygon.js';
import { mayAdminister } from './auth.js';

const OVERLAY_REFRESH_MS = 2000;
const STREAM_RETRY_MS = 3000;

export function mount(root, [requested]) {
  const list = cameraList();
  const id = requested || list[0]?.id;
  if (!id) {
    if (!store.synced) {
      // The snapshot has not arrived yet: try again when it does.
      root.append(h('p', { class: 'empty' }, 'Loading cameras…'));
      const un = subscribe((c) => {
        if (c.kind === 'snapshot' && !requested && cameraList().length) location.replace(`#/camera/${encodeURIComponent(cameraList()[0].id)}`);
      });
      return un;
    }
    root.append(h('p', { class: 'empty' }, 'No cameras yet.'));
    return () => {};
  }

  const tabs = h('nav', { class: 'camera-tabs', 'aria-label': 'Cameras' });
  const img = h('img', { alt: `Live picture of camera ${id}` });
  const zones = svg('svg', { class: 'zones live-data', 'aria-hidden': 'true', preserveAspectRatio: 'none' });
  const placeholder = h('div', { class: 'placeholder', hidden: true });
  const stage = h('div', { class: 'stage', 'data-camera-id': id }, img, zones, placeholder);
  const boxesButton = h('button', { type: 'button', 'aria-pressed': 'false', 'data-action': 'boxes' }, 'Vehicle boxes');
  const status = h('div', { class: 'status-line', role: 'status', 'aria-live': 'off' });
  const legend = h(
    'div',
    { class: 'row small muted' },
    ['free', 'occupied', 'unknown'].map((s) => h('span', { class: 'badge', 'data-state': s }, stateLabel(s))),
    h('span', { class: 'legend-manual' }, 'set by hand'),
  );
  const summary = h('div', { class: 'counts small' });
  const spaces = h('div', { class: 'tiles', role: 'group', 'aria-label': 'Spaces' });
  const notes = h('ul', { class: 'space-notes small', 'aria-label': 'Changes waiting for the database', hidden: true });

  root.append(
    tabs,
    h(
      'div',
      { class: 'stack' },
      h('div', { class: 'row spread' }, h('h1', { class: 'camera-title' }, id), h('div', { class: 'row' }, boxesButton, mayAdminister() ? h('a', { class: 'button', href: `#/editor/${encodeURIComponent(id)}` }, 'Edit spaces') : null)),
      status,
      stage,
      legend,
      h('section', { class: 'card live-data' }, summary, spaces, notes),
    ),
  );

  let boxes = false;
  let streamFailed = false;
  let lost = false;
  let timers = [];
  let size = null;

  function later(fn, ms) {
    const t = setTimeout(() => {
      timers = timers.filter((x) => x !== t);
      fn();
    }, ms);
    timers.push(t);
  }

  function showPicture() {
    streamFailed = false;
    placeholder.hidden = true;
    img.hidden = false;
    if (document.visibilityState === 'hidden') {
      img.removeAttribute('src');
      return;
    }
    img.src = boxes
      ? url(`api/cameras/${encodeURIComponent(id)}/overlay.jpg?t=${Date.now()}`)
      : url(`api/cameras/${encodeURIComponent(id)}/stream`);
  }

  img.addEventListener('load', () => {
    learnSize();
    if (boxes) later(() => boxes && showPicture(), OVERLAY_REFRESH_MS);
  });
  img.addEventListener('error', () => {
    if (!img.getAttribute('src')) return;
    streamFailed = true;
    img.hidden = true;
    placeholder.hidden = false;
    const cam = store.cameras.get(id);
    placeholder.textContent = cam?.status === 'online' ? 'Picture interrupted; retrying…' : 'No picture: the camera is not sending frames. Retrying…';
    later(showPicture, STREAM_RETRY_MS);
  });

  // A multipart stream fires no load event in every browser: read the frame size once it shows.
  const sizePoll = setInterval(learnSize, 250);
  function learnSize() {
    if (!img.naturalWidth || (size && size[0] === img.naturalWidth && size[1] === img.naturalHeight)) return;
    size = [img.naturalWidth, img.naturalHeight];
    zones.setAttribute('viewBox', `0 0 ${size[0]} ${size[1]}`);
    drawZones();
  }

  boxesButton.addEventListener('click', () => {
    boxes = !boxes;
    boxesButton.setAttribute('aria-pressed', String(boxes));
    stage.classList.toggle('boxes', boxes);
    showPicture();
  });

  function renderTabs() {
    const cams = cameraList();
    // One camera needs no switcher: its name is the title.
    tabs.hidden = cams.length < 2;
    fill(
      tabs,
      cams.map((c) =>
        h('a', { class: 'button', href: `#/camera/${encodeURIComponent(c.id)}`, 'aria-current': c.id === id ? 'page' : null }, c.name || c.id),
      ),
    );
  }

  function drawZones() {
    const slots = slotsOf(id);
    if (!size) {
      // Until the first frame, size the drawing from the polygons so it is not empty.
      if (slots.length) {
        const b = bounds(slots.flatMap((s) => s.polygon));
        zones.setAttribute('viewBox', `0 0 ${b.maxX + 10} ${b.maxY + 10}`);
      }
    }
    fill(
      zones,
      slots.map((s) => {
        const [cx, cy] = centroid(s.polygon);
        return svg(
          'g',
          {},
          svg(
            'polygon',
            { class: 'zone', 'data-slot-id': s.id, 'data-state': s.state, 'data-source': s.source, 'data-held': s.held, points: pointsAttr(s.polygon) },
            svg('title', {}, slotSummary(s)),
          ),
          svg('text', { class: 'zone-label', x: cx, y: cy, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, s.label),
        );
      }),
    );
  }

  function renderSpaces() {
    const slots = slotsOf(id);
    const c = counts(slots);
    fill(
      summary,
      h('span', {}, h('strong', {}, String(c.free)), ' free'),
      h('span', {}, h('strong', {}, String(c.occupied)), ' occupied'),
      h('span', {}, h('strong', {}, String(c.total)), ' spaces'),
      h('span', {}, h('strong', {}, percent(c.occupancy)), ' occupancy'),
    );
    fill(
      spaces,
      slots.map((s) => {
        const el = h('a', { class: 'tile', href: `#/spaces/${s.id}`, 'data-slot-id': s.id, 'data-state': s.state, title: slotSummary(s) }, s.label);
        sourceData(el, s);
        return el;
      }),
    );
    // A change the camera saw while the database is out is not on the tiles' colours (they show
    // what is stored): it is named under them.
    const held = slots.filter((s) => s.held);
    fill(
      notes,
      held.map((s) =>
        h('li', { 'data-slot-id': s.id, 'data-state': s.state, 'data-held': s.held }, h('strong', {}, s.label), ` ${stateLabel(s.state)}, ${pendingText(s)}`),
      ),
    );
    notes.hidden = held.length === 0;
  }

  function renderStatus() {
    const cam = store.cameras.get(id);
    const title = root.querySelector('.camera-title');
    if (title) title.textContent = cam?.name || id;
    if (!cam) {
      fill(status, h('span', { class: 'badge', 'data-status': 'offline' }, store.synced ? 'deleted' : 'loading'));
      return;
    }
    fill(
      status,
      h('span', { class: 'badge', 'data-status': cam.status, 'data-camera-status': cam.status }, cam.status),
      h('span', {}, `${(cam.fps ?? 0).toFixed(1)} fps`),
      h('span', { 'data-frame-age': '' }, `newest frame ${ago(cam.last_frame_at)}`),
      h('span', { class: 'muted' }, `${cam.frames ?? 0} frames · ${cam.viewers ?? 0} viewer${cam.viewers === 1 ? '' : 's'}`),
      cam.status !== 'online' && cam.last_error ? h('span', { class: 'muted' }, `last error: ${cam.last_error}`) : null,
    );
    const warning = analysisWarning(cam);
    if (warning) status.append(warning);
  }

  const unsubscribe = subscribe((change) => {
    switch (change.kind) {
      case 'slot':
      case 'slot_removed':
        drawZones();
        renderSpaces();
        break;
      case 'camera':
        if (change.camera.id === id) {
          renderStatus();
          if (streamFailed && change.camera.status === 'online') showPicture();
        }
        renderTabs();
        break;
      case 'camera_removed':
        renderTabs();
        renderStatus();
        break;
      case 'snapshot':
        renderTabs();
        renderStatus();
        drawZones();
        renderSpaces();
        break;
      case 'connection':
        // A server restart ends the stream; pick it up again once the server is back.
        if (change.state === 'offline') lost = true;
        if (change.state === 'live' && lost) {
          lost = false;
          showPicture();
        }
        break;
    }
  });

  const tick = setInterval(() => {
    const age = status.querySelector('[data-frame-age]');
    const cam = store.cameras.get(id);
    if (age && cam) age.textContent = `newest frame ${ago(cam.last_frame_at)}`;
  }, 1000);

  // A hidden tab does not need the stream: the server and the camera's uplink are spared.
  function onVisibility() {
    showPicture();
  }
  document.addEventListener('visibilitychange', onVisibility);

  renderTabs();
  renderStatus();
  drawZones();
  renderSpaces();
  showPicture();

  return () => {
    unsubscribe();
    clearInterval(tick);
    clearInterval(sizePoll);
    timers.forEach(clearTimeout);
    document.removeEventListener('visibilitychange', onVisibility);
    // Ends the MJPEG connection now rather than when the element is collected.
    img.removeAttribute('src');
  };
}
