// How times, durations and states read on the page.

export const STATES = ['free', 'occupied', 'unknown'];

export function stateLabel(state) {
  return { free: 'Free', occupied: 'Occupied', unknown: 'Unknown' }[state] || state;
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
