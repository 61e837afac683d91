"""Density images of big scatters: every point binned into a pixel grid, drawn as one layout image (issue 12).

A million WebGL markers draw, but a box or lasso over a few hundred thousand of them sends every selected point back
to the server (Streamlit refuses client messages over ``server.maxWidgetStateSize``, 25 MB by default: about 200,000
points) and every redraw sends tens of MB. Above :data:`analysis.plots.senses.LARGE_SCATTER` points the Senses scatter
therefore draws all points as an image made here (as datashader does, with numpy): each pixel is coloured by the
mean colour of its points and made more opaque the more points it holds (log scale), and only a seeded sample is
drawn as markers (hover contexts, clicks). Selections are resolved on the server against every point's coordinates
(:func:`inside`), so a lasso lists all the occurrences under it. Nothing is fitted here.
"""

from __future__ import annotations

import base64
import io

import numpy as np

#: Pixels of the density image (about twice the plot's width on screen, so that a zoom of 2x stays sharp).
WIDTH, HEIGHT = 1400, 1000


def bounds(x: np.ndarray, y: np.ndarray, pad: float = 0.03) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the points' extent with ``pad`` of it added on each side (a single point gets width 1)."""
    x0, x1, y0, y1 = float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y))
    wx, wy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    return x0 - pad * wx, x1 + pad * wx, y0 - pad * wy, y1 + pad * wy


def _pixels(x, y, box, width: int, height: int) -> np.ndarray:
    """Flat pixel index of each point (row 0 at the top)."""
    x0, x1, y0, y1 = box
    col = np.clip(((np.asarray(x, dtype=np.float64) - x0) / (x1 - x0) * width).astype(np.int64), 0, width - 1)
    row = np.clip(((y1 - np.asarray(y, dtype=np.float64)) / (y1 - y0) * height).astype(np.int64), 0, height - 1)
    return row * width + col


def _rgb(colour: str) -> np.ndarray:
    c = colour.lstrip("#")
    if colour.startswith("rgb"):
        return np.array([float(v) for v in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]])
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=float)


def density_image(x, y, *, groups=None, colours: dict | None = None, values=None, colorscale=None,
                  box=None, width: int = WIDTH, height: int = HEIGHT) -> tuple[str, dict]:
    """A PNG (as a ``data:`` URI) of all points and what it shows.

    Colour by category (``groups``: one value per point, ``colours``: value → CSS colour) or by a number
    (``values`` with ``colorscale``, a list of (position, colour) pairs; a pixel takes its points' mean value).
    Opacity grows with log(1 + count): a pixel with the most points is opaque, one point is faint but visible.
    Returns the URI and {"points", "width", "height", "box", "max_count"}.
    """
    box = box or bounds(x, y)
    pix = _pixels(x, y, box, width, height)
    size = width * height
    count = np.bincount(pix, minlength=size).astype(np.float32)
    rgb = np.zeros((size, 3), dtype=np.float32)
    if values is not None:
        v = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(v)
        lo, hi = (float(np.min(v[ok])), float(np.max(v[ok]))) if ok.any() else (0.0, 1.0)
        mean = np.bincount(pix[ok], weights=v[ok], minlength=size) / np.maximum(
            np.bincount(pix[ok], minlength=size), 1)
        stops = np.array([p for p, _ in colorscale])
        cols = np.array([_rgb(c) for _, c in colorscale])
        t = (mean - lo) / ((hi - lo) or 1.0)
        for j in range(3):
            rgb[:, j] = np.interp(t, stops, cols[:, j])
    else:
        import pandas as pd

        codes, uniques = pd.factorize(pd.Series(groups))
        for j, g in enumerate(uniques):
            if g in colours:
                per = np.bincount(pix[codes == j], minlength=size).astype(np.float32)
                rgb += per[:, None] * _rgb(colours[g]).astype(np.float32)[None, :]
        rgb /= np.maximum(count, 1)[:, None]
    alpha = np.where(count > 0, 0.35 + 0.65 * np.log1p(count) / np.log1p(max(float(count.max()), 1.0)), 0.0)
    rgba = np.concatenate([rgb, 255 * alpha[:, None]], axis=1).round().clip(0, 255).astype(np.uint8)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba.reshape(height, width, 4), "RGBA").save(buf, format="PNG", optimize=False)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return uri, {"points": int(len(pix)), "width": width, "height": height, "box": [round(b, 6) for b in box],
                 "max_count": int(count.max()) if size else 0}


def inside(x, y, *, boxes=(), lassos=()) -> np.ndarray:
    """Mask of the points (x, y) inside any of the boxes ([x0, x1], [y0, y1]) or lasso polygons ([xs], [ys]), in
    data coordinates (even-odd rule, as plotly selects)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    out = np.zeros(len(x), dtype=bool)
    for bx, by in boxes:
        out |= (x >= min(bx)) & (x <= max(bx)) & (y >= min(by)) & (y <= max(by))
    for px, py in lassos:
        px, py = np.asarray(px, dtype=np.float64), np.asarray(py, dtype=np.float64)
        if len(px) < 3:
            continue
        cand = np.flatnonzero((x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max()))
        cx, cy = x[cand], y[cand]
        hit = np.zeros(len(cand), dtype=bool)
        for i in range(len(px)):
            xa, ya, xb, yb = px[i - 1], py[i - 1], px[i], py[i]
            crosses = (ya > cy) != (yb > cy)
            with np.errstate(divide="ignore", invalid="ignore"):
                at = xa + (cy - ya) * (xb - xa) / (yb - ya)
            hit ^= crosses & (cx < at)
        out[cand[hit]] = True
    return out
