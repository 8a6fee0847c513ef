"""How a parking space is cut out of a frame for the space classifier: the same steps as the
server's `detect/patch.rs`, so what the classifier is trained on is what it is shown.

The space's minimum-area rectangle, rectified: the patch is that rectangle (times CONTEXT) turned
so that its longer side runs down the patch and stretched to a square, so every space, whatever
its angle and size in the frame, fills the patch the same way, and the neighbours beside a space
in a tight row stay out of it.
Each patch pixel averages k × k bilinear samples (one per two frame pixels along the longer side:
k = that side over twice the patch's, rounded up, at most 8), so a large space is shrunk without
aliasing.
"""
import math

import numpy as np

CONTEXT = 1.0


def hull(points):
    """Andrew's monotone chain, counter-clockwise, without repeated or collinear points."""
    pts = sorted(set(map(tuple, points)))
    if len(pts) < 3:
        return np.array(pts, dtype=np.float64)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def window(points, context=CONTEXT):
    """(centre, across, down, width, length): the patch's centre, its unit x and y axes in the
    frame, and the rectangle's extents along them, in frame pixels."""
    h = hull(points)
    best = None
    for i in range(len(h)):
        e = h[(i + 1) % len(h)] - h[i]
        length = math.hypot(e[0], e[1])
        if length == 0:
            continue
        e = e / length
        n = np.array([-e[1], e[0]])
        pe, pn = h @ e, h @ n
        we, wn = pe.max() - pe.min(), pn.max() - pn.min()
        # Two edges can give rectangles of the same area (to rounding): the first one wins, in
        # both implementations alike.
        if best is None or we * wn < best[0] * (1 - 1e-9):
            centre = e * (pe.max() + pe.min()) / 2 + n * (pn.max() + pn.min()) / 2
            best = (we * wn, centre, e, n, we, wn)
    _, centre, e, n, we, wn = best
    down = e if we >= wn else n
    if down[1] < 0 or (down[1] == 0 and down[0] < 0):
        down = -down
    across = np.array([down[1], -down[0]])
    return centre, across, down, min(we, wn) * context, max(we, wn) * context


def cut(img, points, size, context=CONTEXT):
    """The size × size RGB patch of one space, as floats 0..255."""
    centre, across, down, width, length = window(points, context)
    k = min(8, max(1, math.ceil(length / (2 * size))))
    n = size * k
    t = (np.arange(n) + 0.5) / n - 0.5
    u, v = np.meshgrid(t, t)  # u along the patch's x, v along its y
    x = centre[0] + width * u * across[0] + length * v * down[0] - 0.5
    y = centre[1] + width * u * across[1] + length * v * down[1] - 0.5
    h, w = img.shape[:2]
    x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    img = img.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    fine = top * (1 - fy) + bottom * fy
    return fine.reshape(size, k, size, k, 3).mean((1, 3))


def cut_u8(img, points, size, context=CONTEXT):
    return np.clip(cut(img, points, size, context).round(), 0, 255).astype(np.uint8)
