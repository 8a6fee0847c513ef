// Geometry of space polygons in frame pixels: [[x, y], ...]. No DOM here, so the rules can be
// checked without a page. validatePolygon mirrors the server's check (src/parking/geometry.rs)
// step for step, exact comparisons included: a shape the editor accepts is one the server
// accepts, and the person learns why before anything is sent.

/** The server's limits. */
export const MAX_VERTICES = 256;
export const MAX_COORDINATE = 100000;

function orient(a, b, c) {
  return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
}

function onSegment(a, b, p) {
  return (
    p[0] >= Math.min(a[0], b[0]) &&
    p[0] <= Math.max(a[0], b[0]) &&
    p[1] >= Math.min(a[1], b[1]) &&
    p[1] <= Math.max(a[1], b[1])
  );
}

/** Closed segments a–b and c–d share at least one point. */
function segmentsTouch(a, b, c, d) {
  const d1 = orient(c, d, a);
  const d2 = orient(c, d, b);
  const d3 = orient(a, b, c);
  const d4 = orient(a, b, d);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return (
    (d1 === 0 && onSegment(c, d, a)) ||
    (d2 === 0 && onSegment(c, d, b)) ||
    (d3 === 0 && onSegment(a, b, c)) ||
    (d4 === 0 && onSegment(a, b, d))
  );
}

/** Shoelace area; positive for one winding, negative for the other. */
export function signedArea(points) {
  let sum = 0;
  for (let i = 0; i < points.length; i += 1) {
    const a = points[i];
    const b = points[(i + 1) % points.length];
    sum += a[0] * b[1] - a[1] * b[0];
  }
  return sum / 2;
}

export function area(points) {
  return Math.abs(signedArea(points));
}

/**
 * null when the server would take the polygon, else {code, message, indices}. The message is
 * for a person; indices are 0-based (points, or edges where edge i runs from point i to i+1).
 */
export function validatePolygon(points) {
  const n = Array.isArray(points) ? points.length : 0;
  if (n < 3) {
    return { code: 'too_few_points', message: `A space needs at least 3 corners (it has ${n}).`, indices: [] };
  }
  if (n > MAX_VERTICES) {
    const message = `A space may have at most ${MAX_VERTICES} corners (it has ${n}).`;
    return { code: 'too_many_points', message, indices: [] };
  }
  const usable = (v) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_COORDINATE;
  const bad = points.findIndex((p) => !Array.isArray(p) || p.length !== 2 || !p.every(usable));
  if (bad >= 0) {
    return { code: 'bad_coordinate', message: `Corner ${bad + 1} is not a usable coordinate.`, indices: [bad] };
  }
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      if (points[i][0] === points[j][0] && points[i][1] === points[j][1]) {
        const message = `Corners ${i + 1} and ${j + 1} are the same point.`;
        return { code: 'repeated_point', message, indices: [i, j] };
      }
    }
  }
  for (let i = 0; i < n; i += 1) {
    const a = points[i];
    const b = points[(i + 1) % n];
    for (let j = i + 1; j < n; j += 1) {
      const c = points[j];
      const d = points[(j + 1) % n];
      const adjacent = j === i + 1 || (i === 0 && j === n - 1);
      let crosses;
      if (adjacent) {
        // Neighbouring edges meet at their shared corner; they only "cross" when the next corner
        // folds straight back along the shared edge.
        const [shared, otherA, otherB] = j === i + 1 ? [b, a, d] : [a, b, c];
        crosses =
          orient(otherA, shared, otherB) === 0 &&
          (onSegment(shared, otherA, otherB) || onSegment(shared, otherB, otherA));
      } else {
        crosses = segmentsTouch(a, b, c, d);
      }
      if (crosses) {
        return { code: 'self_intersecting', message: 'The outline crosses or touches itself.', indices: [i, j] };
      }
    }
  }
  if (Math.abs(signedArea(points)) < 1e-9) {
    return { code: 'zero_area', message: 'The shape has no area.', indices: [] };
  }
  return null;
}

/** Where a label sits: the area centroid, or the corners' mean when the area is ~0. */
export function centroid(points) {
  const a = signedArea(points);
  if (Math.abs(a) < 1e-6) {
    const n = points.length || 1;
    return [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
  }
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < points.length; i += 1) {
    const p = points[i];
    const q = points[(i + 1) % points.length];
    const f = p[0] * q[1] - q[0] * p[1];
    cx += (p[0] + q[0]) * f;
    cy += (p[1] + q[1]) * f;
  }
  return [cx / (6 * a), cy / (6 * a)];
}

export function bounds(points) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) };
}

export function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

export function samePoints(a, b) {
  return a.length === b.length && a.every((p, i) => p[0] === b[i][0] && p[1] === b[i][1]);
}

/** A point held inside a width × height frame. */
export function clampPoint(p, width, height) {
  return [Math.min(Math.max(p[0], 0), width), Math.min(Math.max(p[1], 0), height)];
}

/**
 * The move (dx, dy) cut down so that every corner stays inside the frame. A polygon that is
 * already partly outside may still move, as long as it does not go further out.
 */
export function clampTranslation(points, dx, dy, width, height) {
  const b = bounds(points);
  const cut = (d, lo, hi, max) => {
    if (d < 0) return Math.min(0, Math.max(d, -lo));
    if (d > 0) return Math.max(0, Math.min(d, max - hi));
    return 0;
  };
  return [cut(dx, b.minX, b.maxX, width), cut(dy, b.minY, b.maxY, height)];
}

export function translate(points, dx, dy) {
  return points.map((p) => [p[0] + dx, p[1] + dy]);
}

/** The polygon's `points` attribute. */
export function pointsAttr(points) {
  return points.map((p) => `${p[0]},${p[1]}`).join(' ');
}
