"""Figures of the Senses view, checked through fig.to_dict()["data"]."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from analysis.corpus import kwic_html
from analysis.plots import senses as P


def arr(v):
    """A trace array from fig.to_dict(): plotly 7 stores numeric arrays as {"dtype", "bdata"[, "shape"]}."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            out = out.reshape([int(s) for s in str(v["shape"]).split(",")])
        return out
    return np.asarray(v)


def _view(n=6):
    text = "The <script>alert(1)</script> plane & the wing"
    start = text.index("plane")
    return pd.DataFrame({
        "occurrence_id": np.arange(n) + 100,
        "x": np.linspace(0, 1, n), "y": np.linspace(1, 0, n),
        "kwic": [kwic_html(text, start, start + 5)] * n,
        "year": [1850, 1990, 1850, 1990, None, 1990],
        "label": ["geometry", "aircraft", "geometry", "<b>odd</b>", None, "aircraft"][:n],
        "cluster_name": ["aircraft", "geometry", "aircraft", "geometry", "noise", "aircraft"][:n],
    })


def test_projection_hover_is_escaped_kwic_with_target_bold_and_fields():
    fig = P.plot_projection(_view(), color="cluster_name", category_order=["aircraft", "geometry", "noise"])
    data = fig.to_dict()["data"]
    assert [t["name"] for t in data] == ["aircraft", "geometry", "noise"]
    hover = data[0]["text"][0]
    assert "<b>plane</b>" in hover
    assert "&lt;script&gt;" in hover and "<script>" not in hover
    assert "year: 1850" in hover and "gold label: geometry" in hover and "cluster: aircraft" in hover
    # Gold labels are escaped too; missing values show a dash.
    geometry = data[1]["text"]
    assert any("gold label: &lt;b&gt;odd&lt;/b&gt;" in h for h in geometry)
    assert "year: –" in data[2]["text"][0]
    # customdata carries the occurrence ids (selection maps back to rows).
    assert list(arr(data[0]["customdata"])) == [100, 102, 105]
    assert data[2]["marker"]["color"] == P.NOISE_COLOUR


def test_projection_colour_by_other_columns_and_3d():
    v = _view()
    fig = P.plot_projection(v, color="label")
    assert {t["name"] for t in fig.to_dict()["data"]} == {"geometry", "aircraft", "&lt;b&gt;odd&lt;/b&gt;", "(none)"}
    many = pd.DataFrame({"occurrence_id": range(40), "x": range(40), "y": range(40), "z": range(40),
                         "year": np.arange(1800, 2000, 5), "cluster_name": ["a"] * 40})
    fig = P.plot_projection(many, color="year", z="z")
    (trace,) = fig.to_dict()["data"]
    assert trace["type"] == "scatter3d" and trace["marker"]["showscale"]
    assert list(arr(trace["marker"]["color"])) == list(many["year"])
    with pytest.raises(KeyError):
        P.plot_projection(v, color="nope")


def test_large_projection_uses_webgl():
    n = 2500
    v = pd.DataFrame({"occurrence_id": range(n), "x": np.zeros(n), "y": np.zeros(n), "cluster_name": ["a"] * n})
    assert P.plot_projection(v).to_dict()["data"][0]["type"] == "scattergl"


def test_silhouette_curve_marks_chosen_k():
    fig = P.plot_silhouette({2: 0.3, 3: 0.5, 4: 0.4}, chosen=3)
    data = fig.to_dict()["data"]
    assert list(arr(data[0]["x"])) == [2, 3, 4] and list(arr(data[0]["y"])) == [0.3, 0.5, 0.4]
    assert list(arr(data[1]["x"])) == [3] and list(arr(data[1]["y"])) == [0.5]


def test_contingency_heatmap_counts_and_names():
    table = pd.DataFrame([[5, 1], [0, 4]], index=["aircraft", "geometry"], columns=["a&b", "c"])
    (hm,) = P.plot_contingency(table).to_dict()["data"]
    assert hm["type"] == "heatmap"
    assert list(hm["y"]) == ["aircraft", "geometry"] and list(hm["x"]) == ["a&amp;b", "c"]
    assert np.array_equal(arr(hm["z"]), [[5, 1], [0, 4]])
    (rows,) = P.plot_contingency(table, normalize="row").to_dict()["data"]
    assert np.allclose(arr(rows["z"])[0], [5 / 6, 1 / 6])
    assert np.array_equal(arr(rows["text"]), [[5, 1], [0, 4]])


def test_layer_comparison_one_line_per_model():
    df = pd.DataFrame({"model": ["m1"] * 3 + ["m2"] * 2, "layer": ["2", "0", "1", "0", "1"],
                       "ari": [0.3, 0.1, 0.2, 0.5, 0.6]})
    data = P.plot_layer_comparison(df, score="ari").to_dict()["data"]
    assert [t["name"] for t in data] == ["m1", "m2"]
    assert list(arr(data[0]["x"])) == [0, 1, 2] and list(arr(data[0]["y"])) == [0.1, 0.2, 0.3]
    with pytest.raises(KeyError):
        P.plot_layer_comparison(df, score="purity")
