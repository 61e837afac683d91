"""Shift figures: what is drawn, checked through fig.to_dict()["data"]."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from analysis import shift as S
from analysis.plots import shift as P
from analysis.plots import theme


def arr(v):
    """A trace array from fig.to_dict(): plotly 7 stores numeric arrays as {"dtype", "bdata"[, "shape"]}."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape([int(x) for x in str(v["shape"]).split(",")]) if "shape" in v else out
    return np.asarray(v)


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) + 2
    X = np.vstack([centres[0] + rng.normal(size=(40, 8)), centres[1] + rng.normal(size=(30, 8)),
                   centres[2] + rng.normal(size=(30, 8))])
    labels = np.r_[np.zeros(40, int), np.ones(30, int), np.full(30, 2)]
    codes = np.r_[np.zeros(30, int), np.ones(30, int), np.full(40, 2)]  # sense 2 only in the last period
    per = S.periods_from_codes(codes, ["1800s", "1900s", "2000s"])
    res = S.analyse_shift(X, per, labels=labels, sense_names={2: "aircraft"}, n_permutations=99, n_bootstrap=100)
    return X, per, res


def test_period_counts_marks_thin_periods():
    counts = pd.DataFrame({"period": ["a", "b", "c"], "count": [100, 5, 40]})
    data = P.plot_period_counts(counts, thin_count=30).to_dict()["data"]
    assert list(data[0]["x"]) == ["a", "b", "c"] and arr(data[0]["y"]).tolist() == [100, 5, 40]
    colors = list(data[0]["marker"]["color"])
    assert colors[1] != colors[0] and colors[0] == colors[2]


def test_sense_shares_side_by_side_with_clipped_intervals_and_markers(result):
    _, _, res = result
    frame = res.shares.to_frame()
    fig = P.plot_sense_shares(frame)
    data = fig.to_dict()["data"]
    bars = [d for d in data if d["type"] == "bar"]
    assert [b["name"] for b in bars] == ["cluster 0", "cluster 1", "aircraft"]
    for b in bars:
        sub = frame[frame["sense_name"] == b["name"]].sort_values("order")
        np.testing.assert_allclose(arr(b["y"]), sub["share"])
        # each whisker starts at its own bar (not at the stack below) and ends at the interval clipped to [0, 1]
        np.testing.assert_allclose(arr(b["error_y"]["array"]) + arr(b["y"]), sub["ci_high"].clip(0, 1))
        np.testing.assert_allclose(arr(b["y"]) - arr(b["error_y"]["arrayminus"]), sub["ci_low"].clip(0, 1))
        assert b["marker"]["color"] == theme.sense_color(b["name"])
    totals = np.sum([arr(b["y"]) for b in bars], axis=0)
    np.testing.assert_allclose(totals, 1.0)  # the shares of a period still add up to one
    assert fig.layout.barmode == "group"
    stars = [d for d in data if d.get("name") == "becomes largest"]
    firsts = [d for d in data if d.get("name") == "first appears"]
    assert sum(bool(d.get("showlegend", True)) for d in stars) == 1  # one legend entry, however many senses
    assert any("2000s" in list(d["x"]) for d in stars)
    assert any("aircraft first appears in 2000s" in t for d in firsts for t in d["hovertext"])
    first_period = frame.sort_values("order")["period"].iloc[0]  # where every sense appears: nothing is marked
    assert first_period not in {x for d in stars + firsts for x in d["x"]}
    # a marker sits in its sense's slot of the group, above that sense's whisker
    aircraft_first = next(d for d in firsts if any("aircraft" in t for t in d["hovertext"]))
    air = next(b for b in bars if b["name"] == "aircraft")
    assert aircraft_first["offsetgroup"] == air["offsetgroup"]
    i = list(air["x"]).index("2000s")
    assert arr(aircraft_first["y"])[0] > arr(air["y"])[i] + arr(air["error_y"]["array"])[i]
    area = P.plot_sense_shares(frame, kind="area").to_dict()["data"]
    assert [d.get("stackgroup") for d in area[:3]] == ["shares"] * 3


def test_metrics_over_time_one_panel_per_metric(result):
    _, _, res = result
    pairs = res.pairs_frame()
    data = P.plot_metrics_over_time(pairs).to_dict()["data"]
    assert len(data) == 6  # 3 metrics x (consecutive, vs first)
    cons = [d for d in data if d["name"] == "vs previous period"]
    first = [d for d in data if d["name"] == "vs first period"]
    assert list(cons[0]["x"]) == ["1900s", "2000s"] and list(first[0]["x"]) == ["1900s", "2000s"]
    apd = pairs[(pairs.metric == "apd") & pairs.consecutive].sort_values("later_order")["value"]
    np.testing.assert_allclose(arr(cons[0]["y"]), apd)
    assert {d["yaxis"] for d in data} == {"y", "y2", "y3"}


def test_trajectory_joins_prototypes_in_time_order(result):
    X, per, _ = result
    tr = S.trajectory(X, per)
    usages = pd.DataFrame({"x": tr.usage_xy[:, 0], "y": tr.usage_xy[:, 1],
                           "period": [per.names[c] for c in per.codes]})
    data = P.plot_trajectory(usages, tr.prototype_frame(), explained=tr.explained).to_dict()["data"]
    line = next(d for d in data if d["name"] == "prototypes (time order)")
    assert arr(line["text"]).tolist() == ["1800s", "1900s", "2000s"]
    np.testing.assert_allclose(arr(line["x"]), tr.prototype_xy[:, 0])
    assert sum(len(arr(d["x"])) for d in data if d["name"] in per.names) == len(X)


def test_ranking_and_metric_vs_gold():
    rank = pd.DataFrame({"target": ["a", "b", "c"], "apd": [0.3, 0.1, 0.2], "apd_p": [0.01, 0.5, 0.2],
                         "gold": [0.9, 0.1, np.nan]})
    bars = P.plot_ranking(rank, metric="apd").to_dict()["data"][0]
    assert list(bars["y"]) == ["b", "c", "a"]  # largest on top (last drawn)
    fig = P.plot_metric_vs_gold(rank, metric="apd", rho=1.0)
    pts = fig.to_dict()["data"][0]
    assert list(pts["text"]) == ["a", "b"] and arr(pts["x"]).tolist() == [0.9, 0.1]
    assert "ρ = 1.000" in fig.layout.title.text and "n = 2" in fig.layout.title.text
