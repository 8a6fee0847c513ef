// Small DOM helpers, so views build elements without innerHTML (nothing from the server is
// ever parsed as markup).

/** h('button', {class: 'x', onclick: fn, 'data-slot-id': 3}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k in el && !tag.includes(':') && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** An SVG element: svg('polygon', {points: '…'}). */
export function svg(tag, attrs = {}, ...children) {
  return h(`svg:${tag}`, attrs, ...children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

/** A short message in the page's notice area; errors stay until dismissed. */
export function notify(text, kind = 'info') {
  const area = document.getElementById('notices');
  // A call refused because the session ended fails in the view that made it; the sign-in page
  // says why once, instead of every view's error.
  if (!area || document.body.dataset.session === 'signed-out') return;
  const close = h('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss' }, '×');
  const note = h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, h('span', {}, text), close);
  close.addEventListener('click', () => note.remove());
  area.append(note);
  if (kind !== 'error') setTimeout(() => note.remove(), 4000);
}
