"""Drive the Senses page on a big generated embedding set in headless Chromium and time it (issue 12).

Used by ``tests/test_senses_big_browser.py`` (60,000 points by default) and ``bench/million_view.py`` (1,000,000).
Every wait is for a state of the page (the points drawn, the legend changed, the script idle), never for a time;
the times are measured, printed and returned, never asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.bigset import TARGET

#: Per plot: the points it draws (its traces' points, or those of its density image: layout.meta.raster.points, when
#: the image is in the page), the trace types, the legend title, the number of traces.
DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].map(g => ({
    points: Math.max((g._fullData || []).reduce((n, t) => n + (t.visible === true ? (t._length || 0) : 0), 0),
                     ((((g._fullLayout || {}).meta || {}).raster || {}).points || 0)
                     * (g.querySelector('.layer-below image, .imagelayer image') ? 1 : 0)),
    image: !!g.querySelector('.layer-below image, .imagelayer image'),
    types: [...new Set((g._fullData || []).map(t => t.type))],
    legend: ((g._fullLayout || {}).legend || {}).title ? g._fullLayout.legend.title.text : null,
    traces: (g._fullData || []).length}))"""


#: Screen position (client pixels) of the mean of the first 2,000 points of the scatter's first trace.
CENTRE = """() => { const g = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => (p._fullData || []).some(t => t.type === 'scattergl'));
    const t = g._fullData[0], xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
    const m = Math.min(2000, t._length); let sx = 0, sy = 0;
    for (let i = 0; i < m; i++) { sx += Number(t.x[i]); sy += Number(t.y[i]); }
    const r = g.querySelector('.nsewdrag').getBoundingClientRect();
    return [r.left + xa.l2p(sx / m), r.top + ya.l2p(sy / m)]; }"""


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory (MiB) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def scatter(page, n: int) -> dict | None:
    """The plot that draws all ``n`` points, if it is there."""
    for g in page.evaluate(DRAWN):
        if g["points"] >= n:
            return g
    return None


def wait_scatter(page, n: int, *, timeout_s: float, legend: str | None = None) -> dict:
    """Wait until a plot draws all ``n`` points (with ``legend`` as its legend title, when given)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        g = scatter(page, n)
        if g is not None and (legend is None or (g["legend"] or "").strip() == legend):
            return g
        time.sleep(0.2)
    raise AssertionError(f"no plot with {n:,} points (legend {legend!r}) within {timeout_s:.0f} s: "
                         f"{page.evaluate(DRAWN)}\n{page.inner_text('body')[:3000]}")


def open_corpus(page, server, path: Path, *, timeout_s: float = 900) -> None:
    from tests.browser import wait_for_text, wait_until_idle

    page.goto(server.url, wait_until="domcontentloaded")
    wait_for_text(page, "Keyword in context", timeout_s=timeout_s)
    page.get_by_text("A file or folder on this machine").click()
    box = page.get_by_label("Path to a corpus file", exact=False)
    box.wait_for(timeout=timeout_s * 1000)
    box.fill(str(path))
    box.press("Enter")
    target = page.get_by_label("Target forms", exact=False)
    target.wait_for(timeout=timeout_s * 1000)
    target.fill(TARGET)
    target.press("Enter")
    wait_for_text(page, "Keyword in context", timeout_s=timeout_s)
    wait_until_idle(page, timeout_s=timeout_s)


def _errors(page) -> int:
    return page.locator("[data-testid='stAlertContentError'], [data-testid='stException']").count()


def drive(page, server, path: Path, n: int, *, shot_name: str, timeout_s: float = 1800) -> dict:
    """Open ``path`` on the Corpus page, then the Senses page; time the first draw of all ``n`` points, a second visit,
    a colour change, hover and a lasso selection. Returns the measurements; raises AssertionError when a state is not
    reached or the page shows an error."""
    from tests.browser import screenshot, wait_for_text, wait_until_idle

    out: dict = {"n": n}

    def step(what: str) -> None:  # progress on stdout, so that a stuck state is seen at once
        print(f"[bigview {time.strftime('%H:%M:%S')}] {what}", flush=True)

    open_corpus(page, server, path)
    step('corpus open')
    t0 = time.perf_counter()
    page.get_by_role("link", name="Senses").first.click()
    g = wait_scatter(page, n, timeout_s=timeout_s)
    out["first_draw_s"] = round(time.perf_counter() - t0, 2)
    out["trace_types"], out["density_image"] = g["types"], g["image"]
    wait_until_idle(page, timeout_s=timeout_s)
    assert _errors(page) == 0, page.inner_text("body")[:4000]
    out["rss_after_first_mib"], out["peak_rss_mib"] = (round(v) for v in rss_mib(server.proc.pid))
    step('first draw done')

    # A second visit: away and back (the set, clusters and PCA are cached; the figure is rebuilt and redrawn).
    page.get_by_role("link", name="Corpus").first.click()
    wait_for_text(page, "Keyword in context", timeout_s=timeout_s)
    t0 = time.perf_counter()
    page.get_by_role("link", name="Senses").first.click()
    wait_scatter(page, n, timeout_s=timeout_s)
    out["second_visit_s"] = round(time.perf_counter() - t0, 2)
    step('second visit done')
    wait_until_idle(page, timeout_s=timeout_s)

    # Colour by year: a numeric column, one trace with a colour scale (the legend title goes).
    box = page.get_by_label("Colour by", exact=False)
    box.click()
    page.get_by_role("option", name="year", exact=True).click()
    t0 = time.perf_counter()  # from the choice, as for the way back (opening the list is not the page's time)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        g = scatter(page, n)
        if g is not None and g["traces"] == 1:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the scatter was not redrawn by year: {page.evaluate(DRAWN)}")
    out["recolour_s"] = round(time.perf_counter() - t0, 2)
    step('recoloured by year')
    wait_until_idle(page, timeout_s=timeout_s)
    # And back to the clusters.
    box.click()
    page.get_by_role("option", name="cluster", exact=True).click()
    t0 = time.perf_counter()
    wait_scatter(page, n, timeout_s=timeout_s, legend="cluster name")
    out["recolour_back_s"] = round(time.perf_counter() - t0, 2)
    step('recoloured by cluster')
    wait_until_idle(page, timeout_s=timeout_s)

    # Hover over the middle of the first group's points (its mean position, in screen pixels).
    plot = page.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    cx, cy = page.evaluate(CENTRE)
    texts = []
    for dx, dy in ((0, 0), (3, 0), (0, 3), (-3, 0), (0, -3), (6, 6)):
        page.mouse.move(cx + dx, cy + dy)
        label = page.locator(".hoverlayer .hovertext")
        try:
            label.first.wait_for(timeout=5000)
        except Exception:  # noqa: BLE001 - no point right under the cursor: try beside it
            continue
        texts.append(label.first.text_content())
        break
    out["hover"] = texts[-1] if texts else None
    step('hover done')

    # Lasso a small square around that middle: its occurrences are listed with their contexts.
    page.mouse.move(cx - 12, cy - 12)
    page.mouse.down()
    for x_, y_ in ((cx + 12, cy - 12), (cx + 12, cy + 12), (cx - 12, cy + 12), (cx - 12, cy - 12)):
        page.mouse.move(x_, y_, steps=5)
    t0 = time.perf_counter()
    page.mouse.up()
    wait_for_text(page, "selected occurrences", timeout_s=timeout_s)
    out["selection_s"] = round(time.perf_counter() - t0, 2)
    step('selection listed')
    wait_until_idle(page, timeout_s=timeout_s)
    assert _errors(page) == 0, page.inner_text("body")[:4000]
    body = page.inner_text("body")
    out["selection_line"] = next((line for line in body.splitlines() if "selected occurrences" in line), None)
    out["rss_end_mib"], out["peak_rss_mib"] = (round(v) for v in rss_mib(server.proc.pid))
    out["screenshot"] = str(screenshot(page, server, None, name=shot_name, timeout_ms=int(timeout_s * 1000)))
    return out
