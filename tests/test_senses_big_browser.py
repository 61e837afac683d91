"""The Senses page on a big embedding set in a real browser (issue 12): every point drawn (a density image under
WebGL markers for a sample), hover, a colour change and a lasso selection listing contexts.

By default 120,000 planted occurrences: above the page's large-set size (analysis.plots.senses.LARGE_SCATTER), so the
sampled k-means, the sampled PCA fit, the density image, the sampled markers and the server-side lasso are all
exercised. With
SENSESCOPE_BROWSER_POINTS=1000000 it is the million-point check that bench/million_view.py records in BENCHMARKS.md.
Times are printed, never asserted (a loaded machine is slow).
"""

from __future__ import annotations

import json
import os

from analysis.plots.senses import LARGE_SCATTER


def test_a_big_embedding_set_on_the_senses_page_in_chromium(app_server, browser_page, monkeypatch):
    from tests.bigset import make_bigset
    from tests.bigview import drive

    n = int(os.environ.get("SENSESCOPE_BROWSER_POINTS", str(LARGE_SCATTER + 20_000)))
    monkeypatch.setenv("SENSESCOPE_CACHE", str(app_server.cache))  # the entry goes into the server's cache
    path, occ = make_bigset(app_server.cache / "bigset", n)
    assert len(occ) == n
    out = drive(browser_page, app_server, path, n, shot_name=f"senses_{n}_points", timeout_s=1800)
    print(json.dumps(out, indent=1))
    assert out["trace_types"] == ["scattergl"], out  # the sampled markers are WebGL
    assert out["density_image"], out  # every point is in the image under them
    # The hover label names the point's cluster and occurrence (or shows its context, for the sampled ones).
    assert out["hover"] and ("occurrence" in out["hover"] or "Planck" in out["hover"]), out
    # A lasso in the middle of the cloud selects some points and lists them.
    assert out["selection_line"] and "selected occurrences" in out["selection_line"], out
    assert int(out["selection_line"].split()[0].replace(",", "")) > 0, out
