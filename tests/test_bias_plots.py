"""Bias figures, checked through fig.to_dict()["data"] on small hand-made result tables."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from analysis.plots.bias import (plot_effect_sizes, plot_layer_heatmap, plot_word_associations, significance_mark,
                                 word_scores)


def arr(v):
    """A trace array from fig.to_dict(): plotly 7 stores numeric arrays as {"dtype", "bdata"[, "shape"]}."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            shape = v["shape"]
            shape = [int(x) for x in shape.split(",")] if isinstance(shape, str) else shape
            out = out.reshape(shape)
        return out
    return np.asarray(v)


def results(models=("m1", "m2"), layers=(6,), tests=("weat6", "weat7")):
    rows = []
    rng = np.random.default_rng(0)
    for m in models:
        for t in tests:
            for l in layers:
                d = rng.normal()
                rows.append(dict(test=t, level="word", model=m, layer=l, effect_size=d, ci_low=d - 0.3,
                                 ci_high=d + 0.4, p_value=rng.uniform(0, 0.1), p_holm=rng.uniform(0, 0.2)))
    return pd.DataFrame(rows)


def test_significance_marks():
    assert [significance_mark(p) for p in (0.0005, 0.005, 0.04, 0.2, float("nan"))] == ["***", "**", "*", "", ""]


def test_effect_size_bars_one_trace_per_model_with_intervals_and_stars():
    df = results()
    df.loc[0, "p_value"] = 0.0001
    df.loc[1, "p_value"] = 0.5
    data = plot_effect_sizes(df).to_dict()["data"]
    bars = [t for t in data if t["type"] == "bar"]
    stars = [t for t in data if t["type"] == "scatter"]
    assert [t["name"] for t in bars] == ["m1", "m2"] and len(stars) == 2
    first = bars[0]
    assert list(first["x"]) == ["weat6", "weat7"]
    np.testing.assert_allclose(arr(first["y"]), df.loc[:1, "effect_size"])
    np.testing.assert_allclose(arr(first["error_y"]["array"]), [0.4, 0.4])
    np.testing.assert_allclose(arr(first["error_y"]["arrayminus"]), [0.3, 0.3])
    assert list(stars[0]["text"]) == ["***", ""]
    assert stars[0]["offsetgroup"] == first["offsetgroup"]  # each model's stars sit over its own bars
    # the stars sit beyond the interval, on the side of the effect
    y, pos = arr(first["y"]), arr(stars[0]["y"])
    hi, lo = df.loc[:1, "ci_high"].to_numpy(), df.loc[:1, "ci_low"].to_numpy()
    assert all((p > h) if v >= 0 else (p < l) for v, p, h, l in zip(y, pos, hi, lo))
    holm = [t for t in plot_effect_sizes(df, p_col="p_holm").to_dict()["data"] if t["type"] == "scatter"][0]
    assert list(holm["text"]) == [significance_mark(p) for p in df.loc[:1, "p_holm"]]


def test_effect_size_labels_include_level_and_layer_when_mixed():
    df = results(models=("m1",), layers=(3, 6))
    x = plot_effect_sizes(df).to_dict()["data"][0]["x"]  # the first bar trace
    assert "weat6 · L3" in list(x)


def test_heatmap_test_by_layer():
    df = results(models=("m1",), layers=(0, 1, 2))
    df.loc[df.index[0], "p_value"] = 0.001
    [trace] = plot_layer_heatmap(df).to_dict()["data"]
    assert list(trace["x"]) == ["0", "1", "2"] and list(trace["y"]) == ["weat6", "weat7"]
    z = arr(trace["z"]).astype(float)
    np.testing.assert_allclose(z[0], df[df.test == "weat6"].sort_values("layer")["effect_size"])
    assert trace["text"][0][0] == "**" and trace["zmid"] == 0
    two = plot_layer_heatmap(results(models=("a", "b"), layers=(0, 1))).to_dict()["data"][0]
    assert "weat6 · a" in list(two["y"])


def test_word_associations_bars_and_points():
    items = pd.DataFrame({"set": ["X"] * 4 + ["Y"] * 2, "set_name": ["Male"] * 4 + ["Female"] * 2,
                          "word": ["john", "john", "paul", "paul", "amy", "amy"],
                          "text": ["a", "b", "c", "d", "e", "f"], "s": [0.1, 0.3, -0.1, 0.0, -0.2, -0.4]})
    scores = word_scores(items)
    assert list(scores["word"]) == ["amy", "paul", "john"]
    np.testing.assert_allclose(scores["mean"], [-0.3, -0.05, 0.2])
    data = plot_word_associations(items).to_dict()["data"]
    bars = [t for t in data if t["type"] == "bar"]
    assert [t["name"] for t in bars] == ["X: Male", "Y: Female"]
    np.testing.assert_allclose(arr(bars[0]["x"]), [-0.05, 0.2])
    points = [t for t in data if t["type"] == "scatter"]
    assert len(points) == 1 and len(arr(points[0]["x"])) == 6
    # one item per word (word level): no dots
    single = items.drop_duplicates("word")
    assert all(t["type"] == "bar" for t in plot_word_associations(single).to_dict()["data"])
    mixed = items.assign(layer=[0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="one test"):
        plot_word_associations(mixed)
