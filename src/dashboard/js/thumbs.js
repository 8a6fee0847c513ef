// A capture's picture as a small link to the full JPEG, for the tables of parking sessions.

import { h } from './dom.js';
import { url } from './api.js';

/** `which` is "Entry" or "Exit"; null when the stay has no such capture. */
export function captureThumb(id, which, slotLabel) {
  if (id === null || id === undefined) return null;
  const href = url(`api/captures/${encodeURIComponent(id)}/image`);
  const name = `${which} photo of space ${slotLabel}`;
  const img = h('img', { src: href, alt: '', loading: 'lazy', decoding: 'async', width: 64, height: 36 });
  const link = h(
    'a',
    {
      class: `thumb thumb-${which.toLowerCase()}`,
      href,
      target: '_blank',
      rel: 'noopener',
      'aria-label': `${name} (opens in a new tab)`,
      title: name,
    },
    img,
    h('span', { class: 'thumb-text', 'aria-hidden': 'true' }, which),
  );
  // Retention deletes old images before their rows: the link stays, as text.
  img.addEventListener('error', () => link.classList.add('broken'), { once: true });
  return link;
}
