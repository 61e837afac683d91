"""Figures of analysis.plots.explore: escaped data strings, axis titles, traces that map back to occurrences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.plots import explore as PE
from analysis.plots.senses import plot_projection


def _view(n=6):
    return pd.DataFrame({"occurrence_id": np.arange(10, 10 + n), "x": np.arange(n, dtype=float),
                         "y": np.arange(n, dtype=float) ** 2, "kwic": ["ctx"] * n,
                         "cluster_name": ["a", "b"] * (n // 2)})


def test_highlight_and_links_carry_occurrence_ids():
    view = _view()
    fig = PE.add_highlight(plot_projection(view), view, [True, False, True, False, False, False], name="<b>q</b>")
    hit = fig.data[-1]
    assert list(hit.customdata) == [10, 12] and "&lt;b&gt;q" in hit.name and "(2)" in hit.name
    fig = PE.add_neighbour_links(fig, view, 0, [3, 5], [0.9, 0.5])
    lines = next(t for t in fig.data if t.mode == "lines")
    assert list(lines.x) == [0.0, 3.0, None, 0.0, 5.0, None]
    assert list(fig.data[-1].customdata) == [10] and fig.data[-1].marker.symbol == "star"
    assert list(fig.data[-2].customdata) == [13, 15]


def test_collocate_bars_escape_words_and_title_every_axis():
    table = pd.DataFrame({"group": ["<i>x</i>", "<i>x</i>", "y"], "word": ['<a href="e">w</a>', "v", "u"],
                          "count": [3, 2, 2], "g2": [5.0, 2.0, 1.0], "pmi": [1.0, 0.5, 0.2]})
    fig = PE.plot_collocates(table, measure="pmi", top_n=5)
    assert len(fig.data) == 2 and all(t.type == "bar" for t in fig.data)
    assert "&lt;a href=&#34;e&#34;&gt;w&lt;/a&gt;" in fig.data[0].y and list(fig.data[0].x) == [0.5, 1.0]
    assert all("<i>" not in a.text for a in fig.layout.annotations)
    for ax in ("xaxis", "xaxis2"):
        assert fig.layout[ax].title.text == "PMI (bits)"
    for ax in ("yaxis", "yaxis2"):
        assert fig.layout[ax].title.text == "word"


def test_many_hits_ring_a_seeded_sample_and_the_legend_says_so(monkeypatch):
    monkeypatch.setattr(PE, "MAX_RINGS", 5)
    n = 40
    view = pd.DataFrame({"occurrence_id": np.arange(n) + 100, "x": np.arange(n, dtype=float), "y": np.zeros(n),
                         "cluster_name": ["a"] * n})
    mask = np.arange(n) % 2 == 0  # 20 hits
    fig = PE.add_highlight(plot_projection(view), view, mask, name="q")
    ring = fig.data[-1]
    assert len(ring.x) == 5 and set(ring.customdata) <= set(view["occurrence_id"][mask])
    assert "(20; 5 ringed)" in ring.name
    again = PE.add_highlight(plot_projection(view), view, mask, name="q").data[-1]
    assert list(again.customdata) == list(ring.customdata)  # seeded
    few = PE.add_highlight(plot_projection(view), view, np.arange(n) < 3, name="q").data[-1]
    assert len(few.x) == 3 and few.name == "q (3)"
