// The space editor: a camera's newest frame with its spaces drawn over it, to draw new spaces,
// reshape, rename and delete them, or import a PKLot file.
//
// The SVG's viewBox is the frame's own size, so every coordinate here is a frame pixel, the unit
// the API stores; pointer positions are mapped into it with the SVG's screen matrix, whatever
// size the image is shown at. Spaces come from the store, so edits made elsewhere (another tab,
// an import, the CLI) appear as they happen; shape edits are kept aside as "pending" until saved,
// so a live update never throws away what someone is dragging.

import { h, svg, fill, clear, notify } from './dom.js';
import { api } from './api.js';
import { store, subscribe, slotsOf, cameraList, apply } from './store.js';
import { stateLabel, clock, setBy, pendingText } from './format.js';
import {
  validatePolygon,
  centroid,
  clampPoint,
  clampTranslation,
  translate,
  pointsAttr,
  distance,
  samePoints,
  MAX_VERTICES,
} from './polygon.js';

// Sizes on screen, turned into frame pixels with the current scale, so handles stay grabbable
// however far the frame is shrunk (a 1280 px frame on a phone is shown at a third of its size).
const HANDLE_PX = 7;
const HANDLE_TOUCH_PX = 12;
const CLOSE_SNAP_PX = 12;
const CLOSE_SNAP_TOUCH_PX = 20;
// A press that moves less than this is a click, not a drag: hands shake.
const DRAG_THRESHOLD_PX = 4;
// A second click this close to the last corner is the tail of a double-click, not a new corner.
const SAME_SPOT_PX = 5;
const MAX_LABEL_CHARS = 64;

/** The smallest positive whole number not yet used as a label: a deleted space's number comes back first. */
export function nextFreeLabel(labels) {
  const used = new Set(labels);
  for (let n = 1; ; n += 1) if (!used.has(String(n))) return String(n);
}

/** Why a label would be refused (the server's rule, plus uniqueness on the camera), or null. */
function labelProblem(label, cameraId, exceptId) {
  // Rust's char::is_control is Unicode category Cc.
  if (!label.trim() || [...label].length > MAX_LABEL_CHARS || /[\u0000-\u001f\u007f-\u009f]/.test(label)) {
    return `A label is 1 to ${MAX_LABEL_CHARS} printable characters.`;
  }
  if (slotsOf(cameraId).some((s) => s.label === label && s.id !== exceptId)) {
    return `This camera already has a space labelled “${label}”.`;
  }
  return null;
}

const round = (p) => [Math.round(p[0]), Math.round(p[1])];
const slotPath = (id) => `api/slots/${encodeURIComponent(id)}`;
const cameraPath = (id) => `api/cameras/${encodeURIComponent(id)}`;

/** Applies our own write to the store at once, so the page is right even if the WebSocket lags or is down. */
function storeSpace(slot) {
  const known = store.slots.get(slot.id);
  // The state fields of the live copy may be newer than the write's answer; only the shape and
  // name are ours.
  apply({ type: 'slot', slot: known ? { ...known, label: slot.label, polygon: slot.polygon } : slot });
}

export function mount(root, params) {
  const s = {
    alive: true,
    cameraId: params?.[0] || null,
    // The shown frame's size; null until a snapshot has loaded.
    frame: null,
    image: null,
    loadingImage: null,
    snapshotFailed: false,
    loadedAt: null,
    mode: 'select',
    draft: newDraft(),
    selected: null,
    /** slot id → points not saved yet */
    pending: new Map(),
    drag: null,
    busy: false,
    message: null,
    // Why the selected space's shape or save was refused, until the next edit.
    shapeError: null,
    detailKey: null,
    refs: {},
    // Frame pixels per CSS pixel.
    u: 1,
    coarse: window.matchMedia('(pointer: coarse)').matches,
    pickerKey: null,
    syncTimer: null,
    retryButton: null,
    // Spaces this page is deleting: their removal arriving live is no news to report.
    deleting: new Set(),
  };

  function newDraft() {
    return { points: [], closed: false, cursor: null, error: null };
  }

  // ---- Layout --------------------------------------------------------------------------------

  const cameraSelect = h('select', { id: 'editor-camera', 'data-editor': 'camera', onchange: onCameraChange });
  const drawButton = h(
    'button',
    { type: 'button', 'data-action': 'draw', 'aria-pressed': 'false', onclick: toggleDraw },
    'Draw space',
  );
  const refreshButton = h(
    'button',
    { type: 'button', 'data-action': 'refresh-snapshot', onclick: () => loadSnapshot() },
    'Refresh snapshot',
  );
  const importInput = h('input', {
    type: 'file',
    accept: '.xml,application/xml,text/xml',
    class: 'visually-hidden',
    'data-editor': 'import',
    onchange: onImport,
  });
  const importLabel = h('label', { class: 'button editor-file' }, 'Import PKLot XML', importInput);
  const toolbar = h(
    'div',
    { class: 'editor-toolbar' },
    h('div', { class: 'field' }, h('label', { for: 'editor-camera' }, 'Camera'), cameraSelect),
    h('div', { class: 'row editor-actions' }, drawButton, refreshButton, importLabel),
  );

  const zonesLayer = svg('g', { class: 'editor-zones' });
  const labelsLayer = svg('g', { class: 'editor-labels', 'aria-hidden': 'true' });
  const editLayer = svg('g', { class: 'editor-edit', 'aria-hidden': 'true' });
  const draftLayer = svg('g', { class: 'editor-draft-layer', 'aria-hidden': 'true' });
  const canvas = svg(
    'svg',
    {
      class: 'editor-canvas',
      'data-editor': 'canvas',
      'data-mode': 'select',
      role: 'group',
      'aria-label': 'Spaces on the camera image',
      onpointerdown: onPointerDown,
      onpointermove: onPointerMove,
      onpointerup: onPointerUp,
      onpointercancel: onPointerCancel,
      onlostpointercapture: onPointerCancel,
      ondblclick: onDoubleClick,
    },
    zonesLayer,
    labelsLayer,
    editLayer,
    draftLayer,
  );
  const stage = h('div', { class: 'stage editor-stage' });
  const statusText = h('p', { class: 'editor-status', role: 'status', 'data-editor': 'status' });
  const imageTime = h('span', { class: 'muted small editor-image-time' });

  const detail = h('section', { class: 'card editor-detail', 'data-editor': 'detail' });
  const listCount = h('span', { class: 'muted small' });
  const list = h('ul', { class: 'editor-list', 'data-editor': 'list', 'aria-labelledby': 'editor-list-title' });
  const listEmpty = h('p', { class: 'muted small', hidden: true }, 'No spaces yet: draw one or import a PKLot file.');
  const listCard = h(
    'section',
    { class: 'card editor-list-card' },
    h('div', { class: 'row spread' }, h('h2', { id: 'editor-list-title' }, 'Spaces'), listCount),
    list,
    listEmpty,
  );

  const workspace = h(
    'div',
    { class: 'editor-layout' },
    h('div', { class: 'editor-main' }, stage, h('div', { class: 'editor-caption' }, statusText, imageTime)),
    h('aside', { class: 'editor-panel', 'aria-label': 'Space details' }, detail, listCard),
  );
  const content = h('div', { class: 'editor-content' });
  const view = h(
    'section',
    { class: 'editor', 'data-view': 'editor' },
    h('div', { class: 'editor-head' }, h('h1', {}, 'Space editor'), toolbar),
    content,
  );
  root.append(view);

  // ---- Camera and frame ----------------------------------------------------------------------

  function camera() {
    return s.cameraId ? store.cameras.get(s.cameraId) : undefined;
  }

  /** With no camera in the URL, the first one, as soon as the store knows any. */
  function resolveCamera() {
    if (s.cameraId) return;
    const first = cameraList()[0];
    if (!first) return;
    s.cameraId = first.id;
    loadSnapshot({ force: false });
  }

  /** The store says there is no frame to ask for: asking would only log a 404. */
  function knownWithoutFrame() {
    if (!store.synced) return false;
    const cam = camera();
    return !cam || (!cam.last_frame_at && !cam.frames);
  }

  function renderPicker() {
    const cameras = cameraList();
    const key = JSON.stringify([s.cameraId, cameras.map((c) => [c.id, c.name])]);
    // Camera status arrives every few seconds; rebuilding the options each time would close an
    // open <select> under the person's finger.
    if (key === s.pickerKey) return;
    s.pickerKey = key;
    const options = cameras.map((c) =>
      h('option', { value: c.id }, c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id),
    );
    if (s.cameraId && !store.cameras.has(s.cameraId)) {
      options.unshift(h('option', { value: '', disabled: true }, s.cameraId));
    }
    fill(cameraSelect, options);
    cameraSelect.value = s.cameraId && store.cameras.has(s.cameraId) ? s.cameraId : '';
  }

  function onCameraChange() {
    const id = cameraSelect.value;
    if (!id || id === s.cameraId) return;
    if (hasUnsavedWork() && !window.confirm('Leave this camera? Its unsaved changes will be lost.')) {
      cameraSelect.value = s.cameraId || '';
      return;
    }
    location.hash = `#/editor/${encodeURIComponent(id)}`;
  }

  function loadSnapshot({ force = true } = {}) {
    if (!s.cameraId) return;
    const id = s.cameraId;
    clearTimeout(s.syncTimer);
    if (!force && knownWithoutFrame()) {
      s.snapshotFailed = true;
      renderStage();
      return;
    }
    if (s.loadingImage) s.loadingImage.onload = s.loadingImage.onerror = null;
    // Loaded off-page and swapped in only when complete: a failed refresh keeps the frame (and
    // the edits over it) on screen instead of a broken image.
    const img = new Image();
    s.loadingImage = img;
    img.alt = `Newest frame of camera ${id}`;
    img.draggable = false;
    img.onload = () => {
      if (!s.alive || s.loadingImage !== img) return;
      s.loadingImage = null;
      s.image = img;
      s.snapshotFailed = false;
      s.loadedAt = new Date();
      s.frame = { width: img.naturalWidth, height: img.naturalHeight };
      canvas.setAttribute('viewBox', `0 0 ${s.frame.width} ${s.frame.height}`);
      renderStage();
    };
    img.onerror = () => {
      if (!s.alive || s.loadingImage !== img) return;
      s.loadingImage = null;
      s.snapshotFailed = true;
      if (s.image) {
        showMessage('The camera image could not be refreshed; the previous one is still shown.', 'error');
      }
      renderStage();
    };
    img.src = `${cameraPath(id)}/snapshot.jpg?t=${Date.now()}`;
    renderStage();
  }

  function renderStage() {
    const loading = !!s.loadingImage;
    refreshButton.disabled = loading || !s.cameraId;
    refreshButton.textContent = loading && s.image ? 'Refreshing…' : 'Refresh snapshot';
    drawButton.disabled = !s.frame;
    toggleData(stage, 'empty', !s.image);
    if (s.image) {
      if (stage.firstChild !== s.image || canvas.parentNode !== stage) fill(stage, s.image, canvas);
      imageTime.textContent = `Image from ${clock(s.loadedAt.toISOString())}`;
      updateScale();
      renderStatus();
      return;
    }
    imageTime.textContent = '';
    if (!s.snapshotFailed) {
      fill(stage, h('div', { class: 'placeholder' }, 'Loading the camera image…'));
    } else {
      // Built once and then only updated, so a keyboard user retrying keeps focus on the button.
      if (!s.retryButton || !stage.contains(s.retryButton)) {
        s.retryButton = h(
          'button',
          { type: 'button', 'data-action': 'retry-snapshot', onclick: () => s.loadingImage || loadSnapshot() },
          'Try again',
        );
        fill(
          stage,
          h(
            'div',
            { class: 'placeholder editor-no-image', role: 'alert' },
            h('p', {}, 'This camera has no image yet: it has not sent a frame since the server started.'),
            h('p', {}, 'Spaces can be drawn once a frame has arrived.'),
            s.retryButton,
          ),
        );
      }
      s.retryButton.setAttribute('aria-disabled', String(loading));
      s.retryButton.textContent = loading ? 'Trying…' : 'Try again';
    }
    renderStatus();
  }

  /** Handle sizes and label text follow the shown size of the frame. */
  function updateScale() {
    if (!s.frame) return;
    const width = canvas.getBoundingClientRect().width;
    if (!width) return;
    s.u = s.frame.width / width;
    canvas.style.setProperty('--u', String(s.u));
    const r = String(handleRadius());
    for (const c of canvas.querySelectorAll('circle')) c.setAttribute('r', r);
  }

  function handleRadius() {
    return (s.coarse ? HANDLE_TOUCH_PX : HANDLE_PX) * s.u;
  }

  /** Chooses what the page shows: the workspace, or why there is none. */
  function renderContent() {
    renderPicker();
    const cameras = cameraList();
    let message = null;
    if (!s.cameraId) {
      message = store.synced
        ? h(
            'div',
            { class: 'card empty', 'data-editor': 'empty' },
            h('h2', {}, 'No cameras yet'),
            h(
              'p',
              {},
              'Add a camera first (POST api/cameras, or smartpark import-pklot --camera ID FILE.xml); ',
              'its spaces are drawn here.',
            ),
          )
        : h('div', { class: 'card empty' }, 'Loading cameras…');
    } else if (store.synced && !store.cameras.has(s.cameraId)) {
      message = h(
        'div',
        { class: 'card empty', 'data-editor': 'empty' },
        h('h2', {}, `There is no camera “${s.cameraId}”`),
        h('p', {}, cameras.length ? 'Choose one of the cameras above.' : 'There are no cameras yet.'),
      );
    }
    toolbar.hidden = !cameras.length && !s.cameraId;
    if (message) {
      if (s.mode === 'draw') leaveDraw();
      for (const b of [drawButton, refreshButton]) b.disabled = true;
      importInput.disabled = true;
      fill(content, message);
      return;
    }
    importInput.disabled = importLabel.dataset.busy === 'true';
    if (content.firstChild !== workspace) fill(content, workspace);
    renderStage();
    renderSpaces();
  }

  // ---- Spaces on the canvas ------------------------------------------------------------------

  /** id → {poly, text}; kept across renders so a focused polygon keeps its focus. */
  const zones = new Map();

  function pointsOf(slot) {
    return s.pending.get(slot.id) || slot.polygon;
  }

  function selectedSlot() {
    return s.selected === null ? undefined : store.slots.get(s.selected);
  }

  function renderZones() {
    const slots = s.cameraId ? slotsOf(s.cameraId) : [];
    const seen = new Set();
    for (const slot of slots) {
      seen.add(slot.id);
      let z = zones.get(slot.id);
      if (!z) {
        z = {
          poly: svg('polygon', { class: 'zone', tabindex: 0, role: 'button', 'data-slot-id': slot.id }),
          text: svg('text', { class: 'zone-label', 'text-anchor': 'middle', 'dominant-baseline': 'central' }),
        };
        zones.set(slot.id, z);
        zonesLayer.append(z.poly);
        labelsLayer.append(z.text);
      }
      const pts = pointsOf(slot);
      const pending = s.pending.has(slot.id);
      z.poly.setAttribute('points', pointsAttr(pts));
      z.poly.dataset.state = slot.state;
      z.poly.setAttribute('aria-label', `Space ${slot.label}${pending ? ' (unsaved changes)' : ''}`);
      z.poly.setAttribute('aria-pressed', String(slot.id === s.selected));
      toggleData(z.poly, 'pending', pending);
      const [cx, cy] = centroid(pts);
      z.text.setAttribute('x', String(cx));
      z.text.setAttribute('y', String(cy));
      z.text.textContent = slot.label;
    }
    for (const [id, z] of zones) {
      if (seen.has(id)) continue;
      z.poly.remove();
      z.text.remove();
      zones.delete(id);
    }
  }

  function renderEdit() {
    clear(editLayer);
    const slot = selectedSlot();
    toggleData(canvas, 'selected', !!slot && s.mode === 'select');
    if (!slot || s.mode !== 'select') return;
    const pts = pointsOf(slot);
    const attr = pointsAttr(pts);
    const r = handleRadius();
    editLayer.append(
      svg('polygon', { class: 'editor-halo', points: attr }),
      svg('polygon', {
        class: 'editor-body',
        points: attr,
        'data-role': 'body',
        'data-invalid': validatePolygon(pts) ? 'true' : null,
      }),
      ...pts.map((p, i) => svg('circle', { class: 'editor-handle', 'data-vertex': i, cx: p[0], cy: p[1], r })),
    );
  }

  function renderDraft() {
    clear(draftLayer);
    if (s.mode !== 'draw') return;
    const { points, closed, cursor } = s.draft;
    if (!points.length) return;
    const attr = pointsAttr(points);
    const invalid = closed && !!validatePolygon(points);
    if (closed) {
      draftLayer.append(
        svg('polygon', { class: 'editor-draft', points: attr, 'data-invalid': invalid ? 'true' : null }),
      );
    } else {
      draftLayer.append(svg('polyline', { class: 'editor-draft', points: attr }));
      if (cursor) {
        const last = points[points.length - 1];
        draftLayer.append(
          svg('line', { class: 'editor-rubber', x1: last[0], y1: last[1], x2: cursor[0], y2: cursor[1] }),
        );
      }
    }
    const r = handleRadius();
    const closable = !closed && points.length >= 3;
    points.forEach((p, i) =>
      draftLayer.append(
        svg('circle', {
          class: 'editor-handle',
          'data-draft-vertex': i,
          'data-closable': i === 0 && closable ? 'true' : null,
          cx: p[0],
          cy: p[1],
          r,
        }),
      ),
    );
  }

  function toggleData(el, name, on) {
    if (on) el.setAttribute(`data-${name}`, 'true');
    else el.removeAttribute(`data-${name}`);
  }

  // ---- The side panel ------------------------------------------------------------------------

  /** id → {li, button, label, state, mark} */
  const items = new Map();

  function renderList() {
    const slots = s.cameraId ? slotsOf(s.cameraId) : [];
    listCount.textContent = `${slots.length}`;
    listEmpty.hidden = slots.length > 0;
    const seen = new Set();
    for (const slot of slots) {
      seen.add(slot.id);
      let it = items.get(slot.id);
      if (!it) {
        const label = h('span', { class: 'editor-item-label' });
        const state = h('span', { class: 'visually-hidden' });
        const mark = h('span', { class: 'editor-item-mark', 'aria-hidden': 'true' }, '•');
        const button = h(
          'button',
          {
            type: 'button',
            class: 'tile editor-item',
            'data-slot-id': slot.id,
            onclick: () => chooseFromList(slot.id),
          },
          label,
          state,
          mark,
        );
        it = { li: h('li', {}, button), button, label, state, mark };
        items.set(slot.id, it);
      }
      const pending = s.pending.has(slot.id);
      it.button.dataset.state = slot.state;
      it.button.setAttribute('aria-pressed', String(slot.id === s.selected));
      const who = setBy(slot);
      it.button.title = `Space ${slot.label}: ${stateLabel(slot.state)}${who ? `, ${who}` : ''}${pending ? ', unsaved changes' : ''}`;
      toggleData(it.button, 'pending', pending);
      it.label.textContent = slot.label;
      it.state.textContent = `, ${stateLabel(slot.state)}${pending ? ', unsaved changes' : ''}`;
    }
    for (const [id, it] of items) {
      if (!seen.has(id)) {
        it.li.remove();
        items.delete(id);
      }
    }
    // Re-appending moves focus away, so the order is only touched when it is wrong (a new or
    // renamed space), not on every state change.
    const wanted = slots.map((slot) => items.get(slot.id).li);
    const current = [...list.children];
    if (wanted.length !== current.length || wanted.some((li, i) => li !== current[i])) list.append(...wanted);
  }

  function chooseFromList(id) {
    if (s.mode === 'draw') leaveDraw();
    select(id);
  }

  function renderDetail() {
    const slot = selectedSlot();
    const key =
      s.mode === 'draw' ? (s.draft.closed ? 'new' : 'drawing') : slot ? `slot:${slot.id}` : 'none';
    // Rebuilt only when what it is about changes, so typing in its inputs is never interrupted
    // by a live update.
    if (key !== s.detailKey) {
      s.detailKey = key;
      s.refs = {};
      if (key === 'new') buildNewForm();
      else if (key === 'drawing') buildDrawing();
      else if (slot) buildSelected(slot);
      else buildNothing();
    }
    updateDetail();
  }

  function buildNothing() {
    fill(
      detail,
      h('h2', {}, 'Edit spaces'),
      h(
        'p',
        { class: 'muted' },
        'Select a space on the image or in the list below to reshape, rename or delete it. ',
        'Choose “Draw space” to add one.',
      ),
    );
  }

  function buildDrawing() {
    const r = s.refs;
    r.count = h('p', { class: 'muted small' });
    r.finish = h(
      'button',
      { type: 'button', class: 'primary', 'data-action': 'finish', onclick: () => closeDraft() },
      'Finish shape',
    );
    r.undo = h('button', { type: 'button', 'data-action': 'undo', onclick: () => removeLastPoint() }, 'Undo corner');
    fill(
      detail,
      h('h2', {}, 'New space'),
      h('p', {}, 'Click the image at each corner of the space, in order around it.'),
      r.count,
      h(
        'div',
        { class: 'row' },
        r.finish,
        r.undo,
        h('button', { type: 'button', 'data-action': 'cancel-draw', onclick: () => leaveDraw() }, 'Cancel'),
      ),
    );
  }

  function buildNewForm() {
    const r = s.refs;
    const labels = slotsOf(s.cameraId).map((x) => x.label);
    r.label = h('input', {
      id: 'editor-new-label',
      name: 'label',
      value: nextFreeLabel(labels),
      maxlength: MAX_LABEL_CHARS,
      autocomplete: 'off',
      required: true,
      'data-editor': 'new-label',
    });
    r.error = h('p', { class: 'editor-error', role: 'alert' });
    r.save = h('button', { type: 'submit', class: 'primary', 'data-action': 'save-new' }, 'Save space');
    r.cancel = h('button', { type: 'button', 'data-action': 'cancel-new', onclick: () => leaveDraw() }, 'Cancel');
    fill(
      detail,
      h(
        'form',
        { class: 'stack editor-form', 'data-editor': 'new-space', onsubmit: saveNew, novalidate: true },
        h('h2', {}, 'New space'),
        h('div', { class: 'field' }, h('label', { for: 'editor-new-label' }, 'Label'), r.label),
        h('p', { class: 'muted small' }, 'Drag its corners to adjust the shape before saving.'),
        r.error,
        h('div', { class: 'row' }, r.save, r.cancel),
      ),
    );
  }

  function buildSelected(slot) {
    const r = s.refs;
    r.title = h('h2', {});
    r.badge = h('span', { class: 'badge', 'data-editor': 'state' });
    r.since = h('p', { class: 'muted small' });
    r.label = h('input', {
      id: 'editor-label',
      name: 'label',
      value: slot.label,
      maxlength: MAX_LABEL_CHARS,
      autocomplete: 'off',
      'data-editor': 'label',
      oninput: updateDetail,
    });
    r.labelShown = slot.label;
    r.rename = h('button', { type: 'submit', 'data-action': 'rename' }, 'Rename');
    r.renameError = h('p', { class: 'editor-error', role: 'alert' });
    r.shape = h('p', { class: 'small', 'data-editor': 'shape-status' });
    r.save = h('button', { type: 'button', class: 'primary', 'data-action': 'save', onclick: saveShape }, 'Save shape');
    r.revert = h('button', { type: 'button', 'data-action': 'revert', onclick: revertShape }, 'Revert');
    r.delete = h(
      'button',
      { type: 'button', class: 'danger', 'data-action': 'delete', onclick: deleteSelected },
      'Delete space',
    );
    fill(
      detail,
      h('div', { class: 'row spread' }, r.title, r.badge),
      r.since,
      h(
        'form',
        { class: 'editor-rename', onsubmit: rename, novalidate: true },
        h('label', { for: 'editor-label' }, 'Label'),
        h('div', { class: 'row editor-rename-row' }, r.label, r.rename),
        r.renameError,
      ),
      h(
        'div',
        { class: 'editor-shape' },
        h('h3', {}, 'Shape'),
        r.shape,
        h('div', { class: 'row' }, r.save, r.revert),
        h(
          'p',
          { class: 'muted small' },
          'Drag a corner, or the whole space, on the image. Arrow keys move it by 1 px, Shift+arrow by 10 px.',
        ),
      ),
      h('div', { class: 'editor-danger' }, r.delete),
    );
  }

  /** The parts of the panel that follow the data without rebuilding it. */
  function updateDetail() {
    const r = s.refs;
    if (s.detailKey === 'drawing') {
      const n = s.draft.points.length;
      r.count.textContent = n ? `${n} corner${n === 1 ? '' : 's'} so far.` : 'No corners yet.';
      r.finish.disabled = n < 3;
      r.undo.disabled = n === 0;
    } else if (s.detailKey === 'new') {
      r.save.disabled = s.busy;
      r.cancel.disabled = s.busy;
      r.save.textContent = s.busy ? 'Saving…' : 'Save space';
      const invalid = validatePolygon(s.draft.points);
      r.error.textContent = s.draft.error || (invalid ? invalid.message : '');
    } else if (s.detailKey?.startsWith('slot:')) {
      const slot = selectedSlot();
      if (!slot) return;
      r.title.textContent = `Space ${slot.label}`;
      r.badge.dataset.state = slot.state;
      r.badge.textContent = stateLabel(slot.state);
      const who = [setBy(slot), pendingText(slot)].filter(Boolean).join(', ');
      r.since.textContent = slot.since ? `In this state since ${clock(slot.since)}${who ? `, ${who}` : ''}` : '';
      // A rename from elsewhere shows, unless the person is typing a name of their own.
      if (slot.label !== r.labelShown) {
        if (r.label.value === r.labelShown) r.label.value = slot.label;
        r.labelShown = slot.label;
      }
      r.rename.disabled = s.busy || r.label.value.trim() === slot.label || !r.label.value.trim();
      const pending = s.pending.get(slot.id);
      const invalid = pending ? validatePolygon(pending) : null;
      r.shape.textContent = s.shapeError
        ? s.shapeError
        : invalid
          ? `${invalid.message} It cannot be saved like this.`
          : pending
            ? 'Unsaved changes: save them, or revert to the saved shape.'
            : 'No unsaved changes.';
      r.shape.dataset.kind = s.shapeError || invalid ? 'error' : pending ? 'pending' : 'saved';
      r.save.disabled = s.busy || !pending || !!invalid;
      r.revert.disabled = s.busy || !pending;
      r.delete.disabled = s.busy;
    }
  }

  function renderStatus() {
    let text;
    let kind = 'hint';
    if (s.message) {
      ({ text, kind } = s.message);
    } else if (!s.frame) {
      text = '';
    } else if (s.mode === 'draw' && !s.draft.closed) {
      const n = s.draft.points.length;
      const corners = `${n} corner${n === 1 ? '' : 's'}.`;
      if (s.coarse) {
        text = n
          ? `${corners} Tap the first corner (or Finish shape) to close the outline.`
          : 'Tap the image at each corner of the new space.';
      } else {
        text = n
          ? `${corners} Finish by clicking the first corner, pressing Enter or double-clicking; ` +
            'Backspace removes the last corner, Escape cancels.'
          : 'Click the image at each corner of the new space. Escape cancels.';
      }
    } else if (s.mode === 'draw') {
      text = 'Give the new space a label and save it.';
    } else if (selectedSlot()) {
      text = s.coarse
        ? 'Drag a corner or the whole space to reshape it.'
        : 'Drag a corner or the whole space; arrow keys nudge it, Delete removes it, Escape deselects.';
    } else {
      text = `${s.coarse ? 'Tap' : 'Click'} a space to edit it, or choose “Draw space” to add one.`;
    }
    statusText.textContent = text;
    statusText.dataset.kind = kind;
  }

  /** One message in the status line, until the next thing the person does. */
  function showMessage(text, kind = 'error') {
    s.message = { text, kind };
    renderStatus();
  }

  function clearMessage() {
    if (!s.message) return;
    s.message = null;
    renderStatus();
  }

  function renderSpaces() {
    renderZones();
    renderEdit();
    renderDraft();
    renderList();
    renderDetail();
    renderStatus();
  }

  // ---- Selection and shape edits -------------------------------------------------------------

  function select(id) {
    if (s.selected === id) return;
    s.selected = id;
    s.shapeError = null;
    clearMessage();
    renderSpaces();
  }

  function setPending(id, points) {
    const slot = store.slots.get(id);
    if (!slot) return;
    if (samePoints(points, slot.polygon)) s.pending.delete(id);
    else s.pending.set(id, points);
    s.shapeError = null;
    renderZones();
    renderEdit();
    renderList();
    updateDetail();
  }

  function nudge(dx, dy) {
    const slot = selectedSlot();
    if (!slot || !s.frame) return;
    const pts = pointsOf(slot);
    const [mx, my] = clampTranslation(pts, dx, dy, s.frame.width, s.frame.height);
    if (mx || my) setPending(slot.id, translate(pts, mx, my));
  }

  function revertShape() {
    const slot = selectedSlot();
    if (slot) setPending(slot.id, slot.polygon);
  }

  async function saveShape() {
    const slot = selectedSlot();
    const pts = slot && s.pending.get(slot.id);
    if (!pts || s.busy) return;
    const invalid = validatePolygon(pts);
    if (invalid) {
      s.shapeError = invalid.message;
      updateDetail();
      return;
    }
    s.busy = true;
    updateDetail();
    try {
      const saved = await api(slotPath(slot.id), { method: 'PATCH', body: { polygon: pts } });
      // A drag during the request is newer than what was sent; it stays pending.
      if (s.pending.get(slot.id) === pts) s.pending.delete(slot.id);
      storeSpace(saved);
      notify(`Space ${saved.label}: shape saved`);
    } catch (e) {
      s.shapeError = `Not saved: ${e.message}`;
    } finally {
      s.busy = false;
      if (s.alive) renderSpaces();
    }
  }

  async function rename(e) {
    e.preventDefault();
    const slot = selectedSlot();
    const r = s.refs;
    if (!slot || s.busy) return;
    const label = r.label.value.trim();
    if (label === slot.label) return;
    const problem = labelProblem(label, slot.camera_id, slot.id);
    r.renameError.textContent = problem || '';
    if (problem) return;
    s.busy = true;
    updateDetail();
    try {
      const saved = await api(slotPath(slot.id), { method: 'PATCH', body: { label } });
      storeSpace(saved);
      notify(`Space ${slot.label} renamed to ${saved.label}`);
      if (s.refs === r) r.renameError.textContent = '';
    } catch (err) {
      if (s.refs === r) r.renameError.textContent = `Not renamed: ${err.message}`;
    } finally {
      s.busy = false;
      if (s.alive) updateDetail();
    }
  }

  async function deleteSelected() {
    const slot = selectedSlot();
    if (!slot || s.busy) return;
    if (!window.confirm(`Delete space ${slot.label}? Its parking history is deleted with it.`)) return;
    s.busy = true;
    s.deleting.add(slot.id);
    updateDetail();
    try {
      await api(slotPath(slot.id), { method: 'DELETE' });
      s.pending.delete(slot.id);
      if (store.slots.has(slot.id)) apply({ type: 'slot_removed', id: slot.id });
      notify(`Space ${slot.label} deleted`);
    } catch (e) {
      notify(`Space ${slot.label} was not deleted: ${e.message}`, 'error');
    } finally {
      s.deleting.delete(slot.id);
      s.busy = false;
      if (s.alive) renderSpaces();
    }
  }

  // ---- Drawing -------------------------------------------------------------------------------

  function toggleDraw() {
    if (s.mode === 'draw') leaveDraw();
    else enterDraw();
  }

  function enterDraw() {
    if (!s.frame) return;
    s.mode = 'draw';
    s.draft = newDraft();
    s.selected = null;
    s.message = null;
    canvas.dataset.mode = 'draw';
    drawButton.setAttribute('aria-pressed', 'true');
    renderSpaces();
  }

  function leaveDraw() {
    s.mode = 'select';
    s.draft = newDraft();
    s.message = null;
    canvas.dataset.mode = 'select';
    drawButton.setAttribute('aria-pressed', 'false');
    renderSpaces();
  }

  function addDraftPoint(p, pointerType) {
    const d = s.draft;
    if (d.closed || !s.frame) return;
    const q = round(clampPoint(p, s.frame.width, s.frame.height));
    const pts = d.points;
    const snap = (pointerType === 'touch' ? CLOSE_SNAP_TOUCH_PX : CLOSE_SNAP_PX) * s.u;
    if (pts.length >= 3 && distance(q, pts[0]) <= snap) {
      closeDraft();
      return;
    }
    if (pts.length && distance(q, pts[pts.length - 1]) <= SAME_SPOT_PX * s.u) return;
    if (pts.length >= MAX_VERTICES) {
      showMessage(`A space may have at most ${MAX_VERTICES} corners.`);
      return;
    }
    pts.push(q);
    d.error = null;
    clearMessage();
    renderDraft();
    updateDetail();
    renderStatus();
  }

  function removeLastPoint() {
    const d = s.draft;
    if (!d.points.length) return;
    const wasClosed = d.closed;
    d.points.pop();
    d.closed = false;
    d.error = null;
    clearMessage();
    renderDraft();
    if (wasClosed) renderDetail();
    else updateDetail();
    renderStatus();
  }

  function closeDraft() {
    const d = s.draft;
    if (s.mode !== 'draw' || d.closed) return;
    const invalid = validatePolygon(d.points);
    if (invalid) {
      // Stays open, so Backspace or a drag can fix it without starting over.
      const fix = d.points.length >= 3 ? ' Drag a corner, or remove the last one with Backspace.' : '';
      showMessage(`${invalid.message}${fix}`);
      return;
    }
    d.closed = true;
    d.cursor = null;
    clearMessage();
    renderDraft();
    renderDetail();
    renderStatus();
    // Naming the space is the next step; a keyboard user types and presses Enter.
    s.refs.label?.focus();
    s.refs.label?.select();
  }

  async function saveNew(e) {
    e.preventDefault();
    const d = s.draft;
    const r = s.refs;
    if (s.busy || !d.closed) return;
    const label = r.label.value.trim();
    const problem = labelProblem(label, s.cameraId) || validatePolygon(d.points)?.message;
    if (problem) {
      d.error = problem;
      updateDetail();
      r.label.focus();
      return;
    }
    s.busy = true;
    d.error = null;
    updateDetail();
    try {
      const slot = await api(`${cameraPath(s.cameraId)}/slots`, {
        method: 'POST',
        body: { label, polygon: d.points },
      });
      if (!store.slots.has(slot.id)) apply({ type: 'slot', slot });
      notify(`Space ${slot.label} created`);
      if (s.alive && s.draft === d) {
        s.busy = false;
        leaveDraw();
        drawButton.focus();
      }
    } catch (err) {
      // The drawing stays as it was, so fixing the label or a corner and saving again is enough.
      d.error = `Not saved: ${err.message}`;
    } finally {
      s.busy = false;
      if (s.alive) updateDetail();
    }
  }

  // ---- Pointer -------------------------------------------------------------------------------

  function toFrame(e) {
    const m = canvas.getScreenCTM();
    if (!m) return null;
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return [p.x, p.y];
  }

  function onPointerDown(e) {
    if (!s.frame || s.busy || (e.pointerType === 'mouse' && e.button !== 0) || s.drag) return;
    const p = toFrame(e);
    if (!p) return;
    const t = e.target;
    let target;
    let origin = null;
    if (s.mode === 'draw') {
      const v = t.closest('[data-draft-vertex]');
      target = v ? { kind: 'draft-vertex', index: Number(v.dataset.draftVertex) } : { kind: 'draw' };
      origin = s.draft.points.map((q) => [...q]);
    } else {
      const handle = t.closest('[data-vertex]');
      const zone = t.closest('polygon.zone[data-slot-id]');
      if (handle) target = { kind: 'vertex', index: Number(handle.dataset.vertex) };
      else if (t.closest('[data-role="body"]')) target = { kind: 'body' };
      else if (zone) {
        // Pressing an unselected space selects it and can drag it straight away.
        select(Number(zone.dataset.slotId));
        target = { kind: 'body' };
      } else target = { kind: 'background' };
      const slot = selectedSlot();
      if (target.kind !== 'background') {
        if (!slot) return;
        target.id = slot.id;
        origin = pointsOf(slot);
      }
    }
    s.drag = { pointerId: e.pointerId, target, origin, start: p, client: [e.clientX, e.clientY], moved: false };
    // Captured on the SVG rather than on the handle: handles are redrawn while dragging.
    try {
      canvas.setPointerCapture(e.pointerId);
    } catch {
      /* the pointer is already gone */
    }
  }

  function onPointerMove(e) {
    const d = s.drag;
    // The line to the next corner follows a hovering mouse; a finger does not hover.
    const hovering = e.pointerType !== 'touch' && (!d || d.target.kind === 'draw');
    if (s.mode === 'draw' && !s.draft.closed && s.frame && hovering) {
      const p = toFrame(e);
      if (p) {
        s.draft.cursor = clampPoint(p, s.frame.width, s.frame.height);
        renderDraft();
      }
    }
    if (!d || d.pointerId !== e.pointerId) return;
    if (!d.moved) {
      if (Math.hypot(e.clientX - d.client[0], e.clientY - d.client[1]) < DRAG_THRESHOLD_PX) return;
      if (d.target.kind === 'draw' || d.target.kind === 'background') return;
      d.moved = true;
      clearMessage();
    }
    const p = toFrame(e);
    if (!p) return;
    const { width, height } = s.frame;
    const t = d.target;
    if (t.kind === 'vertex') {
      const pts = d.origin.map((q) => [...q]);
      pts[t.index] = round(clampPoint(p, width, height));
      setPending(t.id, pts);
    } else if (t.kind === 'body') {
      const dx = Math.round(p[0] - d.start[0]);
      const dy = Math.round(p[1] - d.start[1]);
      const [mx, my] = clampTranslation(d.origin, dx, dy, width, height);
      setPending(t.id, translate(d.origin, mx, my));
    } else if (t.kind === 'draft-vertex') {
      s.draft.points[t.index] = round(clampPoint(p, width, height));
      s.draft.error = null;
      renderDraft();
      updateDetail();
    }
  }

  function onPointerUp(e) {
    const d = s.drag;
    if (!d || d.pointerId !== e.pointerId) return;
    s.drag = null;
    const t = d.target;
    if (t.kind === 'draw') {
      const p = toFrame(e);
      if (p) addDraftPoint(p, e.pointerType);
    } else if (!d.moved) {
      if (t.kind === 'draft-vertex' && t.index === 0 && !s.draft.closed && s.draft.points.length >= 3) closeDraft();
      else if (t.kind === 'background') select(null);
    } else {
      renderStatus();
    }
  }

  /** The browser took the pointer (a scroll, a system gesture): the drag is undone. */
  function onPointerCancel(e) {
    const d = s.drag;
    if (!d || d.pointerId !== e.pointerId) return;
    // lostpointercapture also follows every normal pointerup, which has already cleared s.drag.
    cancelDrag();
  }

  function cancelDrag() {
    const d = s.drag;
    s.drag = null;
    if (!d || !d.moved) return;
    if (d.target.kind === 'draft-vertex') {
      s.draft.points = d.origin;
      renderDraft();
      updateDetail();
    } else if (store.slots.has(d.target.id)) {
      setPending(d.target.id, d.origin);
    }
  }

  function onDoubleClick(e) {
    if (s.mode !== 'draw' || s.draft.closed) return;
    e.preventDefault();
    closeDraft();
  }

  // ---- Keyboard ------------------------------------------------------------------------------

  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  function onKeyDown(e) {
    if (!view.isConnected || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target instanceof Element ? e.target : null;
    const typing = !!t?.closest('input, select, textarea, [contenteditable]');
    // Enter, Space and Backspace belong to a focused control; the editor's keys are for the image.
    const control = !!t?.closest('button, a[href], label, input, select, textarea, [contenteditable]');
    if (e.key === 'Escape' && s.drag) {
      cancelDrag();
      e.preventDefault();
      return;
    }
    if (s.mode === 'draw') {
      if (e.key === 'Escape' && (!typing || detail.contains(t))) {
        leaveDraw();
        drawButton.focus();
      } else if (control) {
        return;
      } else if (e.key === 'Enter') {
        closeDraft();
      } else if (e.key === 'Backspace') {
        removeLastPoint();
      } else {
        return;
      }
      e.preventDefault();
      return;
    }
    if (typing) return;
    const zone = t?.closest('polygon.zone[data-slot-id]');
    if (zone && (e.key === 'Enter' || e.key === ' ')) {
      select(Number(zone.dataset.slotId));
      e.preventDefault();
      return;
    }
    const slot = selectedSlot();
    if (!slot) return;
    // Arrows on another, focused space would move a space the person is not looking at.
    if (zone && Number(zone.dataset.slotId) !== slot.id) return;
    if (ARROWS[e.key]) {
      const step = e.shiftKey ? 10 : 1;
      nudge(ARROWS[e.key][0] * step, ARROWS[e.key][1] * step);
    } else if (e.key === 'Delete') {
      deleteSelected();
    } else if (e.key === 'Escape') {
      select(null);
    } else {
      return;
    }
    e.preventDefault();
  }

  // ---- Import --------------------------------------------------------------------------------

  async function onImport() {
    const file = importInput.files?.[0];
    if (!file || !s.cameraId) return;
    const id = s.cameraId;
    importInput.disabled = true;
    importLabel.setAttribute('aria-busy', 'true');
    importLabel.dataset.busy = 'true';
    try {
      const text = await file.text();
      const res = await api(`${cameraPath(id)}/import-pklot`, { method: 'POST', body: text, type: 'application/xml' });
      for (const slot of res.slots || []) storeSpace(slot);
      notify(`Imported: ${res.created} created, ${res.updated} updated`);
    } catch (e) {
      notify(`Import of ${file.name} failed: ${e.message}`, 'error');
    } finally {
      // Cleared so that choosing the same file again imports it again.
      importInput.value = '';
      importInput.disabled = false;
      importLabel.removeAttribute('aria-busy');
      delete importLabel.dataset.busy;
    }
  }

  // ---- Live updates and lifetime -------------------------------------------------------------

  function hasUnsavedWork() {
    return s.pending.size > 0 || (s.mode === 'draw' && s.draft.points.length > 0);
  }

  function onBeforeUnload(e) {
    if (!hasUnsavedWork()) return;
    e.preventDefault();
    e.returnValue = '';
  }

  const unsubscribe = subscribe((change) => {
    if (!s.alive) return;
    switch (change.kind) {
      case 'snapshot':
        resolveCamera();
        if (s.cameraId && !s.image && !s.loadingImage) loadSnapshot({ force: false });
        for (const id of [...s.pending.keys()]) if (!store.slots.has(id)) s.pending.delete(id);
        if (s.selected !== null && !store.slots.has(s.selected)) s.selected = null;
        renderContent();
        break;
      case 'slot': {
        const slot = change.slot;
        if (slot.camera_id !== s.cameraId) return;
        // Someone saved exactly this shape: nothing is left to save.
        const pending = s.pending.get(slot.id);
        if (pending && samePoints(pending, slot.polygon)) s.pending.delete(slot.id);
        renderSpaces();
        break;
      }
      case 'slot_removed':
        if (!zones.has(change.id) && !s.pending.has(change.id)) return;
        if (s.pending.delete(change.id) && !s.deleting.has(change.id)) {
          notify('A space with unsaved changes was deleted elsewhere', 'error');
        }
        if (s.selected === change.id) {
          if (s.drag && s.drag.target.id === change.id) s.drag = null;
          s.selected = null;
        }
        renderSpaces();
        break;
      case 'camera':
        // The first frame of a camera that had none: show it without waiting for a click.
        if (change.camera.id === s.cameraId && change.camera.last_frame_at && !s.image && !s.loadingImage) {
          loadSnapshot();
        }
        // Status updates come every few seconds; only a camera appearing changes the page.
        if (!s.cameraId || content.firstChild !== workspace) {
          resolveCamera();
          renderContent();
        } else {
          renderPicker();
        }
        break;
      case 'camera_removed':
        renderContent();
        break;
      default:
        break;
    }
  });

  const resizeObserver = new ResizeObserver(() => updateScale());
  resizeObserver.observe(stage);
  window.addEventListener('keydown', onKeyDown);
  window.addEventListener('beforeunload', onBeforeUnload);

  resolveCamera();
  if (s.cameraId && !s.loadingImage && !s.image) {
    // Before the first live snapshot the page cannot tell whether the camera has a frame yet;
    // it waits a moment for it rather than asking blindly, but not forever (the live link may be down).
    if (store.synced) loadSnapshot({ force: false });
    else s.syncTimer = setTimeout(() => s.alive && !s.image && !s.loadingImage && loadSnapshot(), 1500);
  }
  renderContent();

  return () => {
    s.alive = false;
    clearTimeout(s.syncTimer);
    unsubscribe();
    resizeObserver.disconnect();
    window.removeEventListener('keydown', onKeyDown);
    window.removeEventListener('beforeunload', onBeforeUnload);
    if (s.loadingImage) s.loadingImage.onload = s.loadingImage.onerror = null;
    s.loadingImage = null;
  };
}
