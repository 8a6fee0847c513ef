// How times, durations and states read on the page.

import { h } from './dom.js';

export const STATES = ['free', 'occupied', 'unknown'];

export function stateLabel(state) {
  return { free: 'Free', occupied: 'Occupied', unknown: 'Unknown' }[state] || state;
}

/** A user's name as it is; an API token's ("token:ci") as "API token ci". */
export function actorName(actor) {
  return actor.startsWith('token:') ? `API token ${actor.slice('token:'.length)}` : actor;
}

/**
 * Who set a space's current state: "set by hand by admin" (which holds against the detector
 * until the camera sees the space change), "reported by sensor gate-3", "detected", "camera
 * offline" (it sent no usable frame, so the state is not known); '' before anything set it.
 */
export function setBy(slot) {
  switch (slot.source) {
    case 'manual':
      return slot.actor ? `set by hand by ${actorName(slot.actor)}` : 'set by hand';
    case 'sensor':
      // A sensor reports with a token named after it.
      return slot.actor ? `reported by sensor ${slot.actor.replace(/^token:/, '')}` : 'reported by a sensor';
    case 'detector':
      return 'detected';
    case 'camera':
      return 'camera offline';
    default:
      return slot.source || '';
  }
}

/** While the database is out: the state the camera has seen since, not yet stored. */
export function pendingText(slot) {
  return slot.held ? `pending: ${stateLabel(slot.held).toLowerCase()}` : '';
}

/** A space in one line, for a title: "Space A1: Occupied since 14:05:09, set by hand by admin". */
export function slotSummary(slot, extra = '') {
  const who = [setBy(slot), pendingText(slot)].filter(Boolean).join(', ');
  return `Space ${slot.label}: ${stateLabel(slot.state)} since ${clock(slot.since)}${extra}${who ? `, ${who}` : ''}`;
}

/** 3725 → "1 h 2 min"; 42 → "42 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Seconds from an RFC 3339 time to now. */
export function since(time, now = Date.now()) {
  if (!time) return null;
  return (now - Date.parse(time)) / 1000;
}

/** "5 min ago" */
export function ago(time, now = Date.now()) {
  const s = since(time, now);
  return s === null ? 'never' : `${duration(s)} ago`;
}

/** A time in the viewer's zone: today's as "14:05:09", older ones with their date. */
export function clock(time) {
  if (!time) return '–';
  const d = new Date(time);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : d.toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function percent(ratio) {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '–' : `${Math.round(ratio * 100)}%`;
}

/** Counts of a set of spaces, the way /api/stats counts them. */
export function counts(slots) {
  const c = { total: 0, free: 0, occupied: 0, unknown: 0 };
  for (const s of slots) {
    c.total += 1;
    c[s.state] = (c[s.state] || 0) + 1;
  }
  const known = c.free + c.occupied;
  c.occupancy = known ? c.occupied / known : null;
  return c;
}

/** `data-source` (who set the state) and `data-held` (what waits for the database) on a space's element. */
export function sourceData(el, slot) {
  if (slot.source) el.dataset.source = slot.source;
  else delete el.dataset.source;
  if (slot.held) el.dataset.held = slot.held;
  else delete el.dataset.held;
}

/** "analysis failing: …" while the camera's latest analysis failed; null otherwise. */
export function analysisWarning(cam) {
  if (!cam.analysis_error) return null;
  const n = cam.analysis_failures || 0;
  const failures = n ? ` (${n} failure${n === 1 ? '' : 's'} since the server started)` : '';
  return h('p', { class: 'warning small', 'data-analysis-error': '' }, `analysis failing: ${cam.analysis_error}${failures}`);
}
