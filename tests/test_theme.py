"""One theme for every figure (analysis/plots/theme.py): axis titles, the sense -> colour rule, share intervals.

Figures are read through their JSON (``fig.to_plotly_json()``), as an export sees them. The figure makers of
tests/test_plot_escaping.py are reused, so every plot function a module has is drawn here too.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis.plots import bias as PB
from analysis.plots import corpus as PC
from analysis.plots import dimension as PD
from analysis.plots import explore as PE
from analysis.plots import senses as PS
from analysis.plots import shift as PSH
from analysis.plots import theme
from analysis.plots import tour as PT
from tests import test_plot_escaping as E
from tests.test_plot_escaping import shift_result  # noqa: F401  (the module-scoped fixture of the shift figures)
from tests.conftest import DEMO, ROOT


# ----------------------------------------------------------------------------------------------------- axis titles
def tour_similarities():
    df = pd.DataFrame({"similarity": [0.9, 0.2, 0.5, 0.4], "sense": ["1", "0", None, "s10"],
                       "kwic": ["a", "b", "c", "d"]})
    return PT.plot_similarities(df)


def tour_lid_by_layer():
    return PT.plot_lid_by_layer(E.dim_records())


def explore_collocates():
    table = pd.DataFrame({"group": ["aircraft", "aircraft", "tool"], "word": ["wing", "pilot", "wood"],
                          "count": [3, 2, 2], "g2": [5.0, 2.0, 1.0], "pmi": [1.0, 0.5, 0.2]})
    return PE.plot_collocates(table, measure="g2", top_n=5, title="collocates")


TOUR = {"tour.plot_similarities": tour_similarities, "tour.plot_lid_by_layer": tour_lid_by_layer}
EXPLORE = {"explore.plot_collocates": explore_collocates}
THEMED = dict(E.PLAIN) | TOUR | EXPLORE
#: Charts without axes (none yet in these modules): name -> why they are exempt.
EXEMPT: dict[str, str] = {}


@pytest.mark.parametrize("name", list(THEMED))
def test_every_axis_of_a_themed_figure_has_a_title(name):
    fig = THEMED[name]()
    if name in EXEMPT:
        pytest.skip(EXEMPT[name])
    assert theme.missing_axis_titles(fig) == [], f"{name}: axes without a title"
    layout = fig.to_plotly_json()["layout"]
    assert layout.get("font", {}).get("family") == theme.FONT_FAMILY, f"{name} is not drawn through theme.apply"


@pytest.mark.parametrize("name", list(E.WITH_SHIFT))
def test_every_axis_of_a_shift_figure_has_a_title(name, shift_result):  # noqa: F811
    fig = E.WITH_SHIFT[name](shift_result)
    assert theme.missing_axis_titles(fig) == [], f"{name}: axes without a title"
    assert fig.to_plotly_json()["layout"].get("font", {}).get("family") == theme.FONT_FAMILY, name


def test_every_plot_function_is_drawn_with_the_theme():
    covered = {k.split(" ")[0] for k in (*THEMED, *E.WITH_SHIFT)}
    for mod in (PB, PC, PD, PE, PS, PSH, PT):
        short = mod.__name__.rsplit(".", 1)[-1]
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fname.startswith("plot_") and fn.__module__ == mod.__name__:
                assert f"{short}.{fname}" in covered, f"{short}.{fname} is not checked for axis titles"


def test_missing_axis_titles_finds_untitled_axes():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    assert theme.missing_axis_titles(fig) == ["xaxis", "yaxis"]
    theme.apply(fig, x_title="x", y_title="")
    assert theme.missing_axis_titles(fig) == ["yaxis"]
    assert theme.missing_axis_titles(go.Figure(go.Pie(values=[1, 2]))) == []
    three = go.Figure(go.Scatter3d(x=[1], y=[2], z=[3]))
    assert theme.missing_axis_titles(three) == ["scene.xaxis", "scene.yaxis", "scene.zaxis"]


def test_lid_axes_get_tick_formats_that_fit_the_values():
    records = E.dim_records(steps=(10, 20)).assign(train_loss=[2.31, 2.31, 2.27, 2.27],
                                                   eval_loss=[2.45, 2.45, 2.4, 2.4])
    layout = PD.plot_lid_trajectory(records).to_plotly_json()["layout"]
    assert layout["yaxis2"]["tickformat"] == ",.2f"  # losses 2.27-2.45: two decimals, not 2.2999
    assert layout["yaxis2"]["tickmode"] == "auto"  # not synced to the LID axis's ticks (2.32, 2.39, ...)
    assert layout["yaxis"]["tickformat"] and layout["xaxis"]["tickformat"] == ",d"
    assert theme.tick_format([0.0, 0.5, 1.0], percent=True) == ".0%"
    assert theme.tick_format([1, 2, 30]) == ",d"
    assert theme.tick_format([12.3, 14.9]) == ",.1f"


def test_legend_sits_outside_the_plot_area():
    for name, make in THEMED.items():
        legend = make().to_plotly_json()["layout"].get("legend", {})
        if legend.get("orientation") == "v":
            assert legend["x"] >= 1.0, name
        elif legend:
            assert legend["y"] >= 1.0 or legend["y"] < 0, name


# ----------------------------------------------------------------------------------------------------- the colours
def test_a_sense_keeps_its_colour_whatever_else_is_drawn():
    every = ["s1", "s2", "s10", "0", "1", 2, "cluster 3", "aircraft", "tool", "noise", -1, None]
    full = theme.sense_colors(every)
    rng = np.random.default_rng(0)
    for _ in range(20):
        subset = list(rng.choice(np.array(every, dtype=object), size=4, replace=False))
        assert theme.sense_colors(subset) == {s: full[s] for s in subset}


def test_noise_and_missing_labels_are_grey_and_only_they():
    for s in (-1, "-1", "noise", "Noise", None, float("nan"), "(none)", "cluster -1"):
        assert theme.sense_color(s) == theme.NOISE_COLOR, s
    for s in (0, "0", "s1", "cluster 2", "aircraft", 15, "s17"):
        assert theme.sense_color(s) != theme.NOISE_COLOR and theme.sense_color(s) in theme.PALETTE, s


def test_numbered_senses_take_their_number_and_gold_labels_sort_naturally():
    assert theme.sense_color(3) == theme.sense_color("3") == theme.sense_color("cluster 3") == theme.PALETTE[3]
    assert theme.sense_order(["s10", "noise", "s2", "s1", None]) == ["s1", "s2", "s10", "noise", None]
    ordered = theme.sense_order([f"s{i}" for i in range(9, 0, -1)])
    assert [theme.sense_color(s) for s in ordered] == theme.PALETTE[1:10]  # distinct, in natural order
    assert len(set(theme.PALETTE)) == len(theme.PALETTE) and theme.NOISE_COLOR not in theme.PALETTE


def test_named_senses_get_the_same_colour_in_another_process():
    names = ["aircraft", "carpentry tool", "flat surface", "Flugzeug"]
    code = ("import json; from analysis.plots import theme; "
            f"print(json.dumps([theme.sense_color(n) for n in {names!r}]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout) == [theme.sense_color(n) for n in names]


def test_share_intervals_are_clipped_to_zero_one():
    lo, hi = theme.clip_share_interval([-0.05, 0.2, np.nan], [0.3, 1.07, np.nan])
    assert lo.tolist()[:2] == [0.0, 0.2] and hi.tolist()[:2] == [0.3, 1.0] and np.isnan(lo[2]) and np.isnan(hi[2])
    assert theme.clip_share_interval(-0.1, 1.2) == (0.0, 1.0)
    bars = theme.share_error_bars([0.98, 0.01, 0.5], [0.9, -0.02, np.nan], [1.04, 0.05, np.nan])
    share = np.array([0.98, 0.01, 0.5])
    assert np.all(share + bars["array"] <= 1.0 + 1e-12) and np.all(share - bars["arrayminus"] >= -1e-12)
    assert np.all(bars["array"] >= 0) and np.all(bars["arrayminus"] >= 0) and bars["array"][2] == 0


# ------------------------------------------------------------------------------- the demo's Senses and Shift figures
def _demo_figures():
    from analysis import shift as SH
    from analysis.corpus import ColumnSpec, find_occurrences, load_corpus
    from analysis.plots import senses as PS
    from analysis.plots import shift as PSH

    occ = find_occurrences(load_corpus(DEMO / "dwug_en", ColumnSpec()), "plane_nn").reset_index(drop=True)
    rng = np.random.default_rng(0)  # colours do not depend on the coordinates: any will do
    view = pd.DataFrame({"occurrence_id": occ["occurrence_id"], "x": rng.normal(size=len(occ)),
                         "y": rng.normal(size=len(occ)), "label": occ["label"].to_numpy()})
    senses_fig = PS.plot_projection(view, color="label")
    periods = SH.make_periods(occ, mode="column", period_column="period", year_column="year")
    labels, names = SH.labels_from_column(occ["label"])
    shares = SH.sense_shares(labels, periods, sense_names=names, n_bootstrap=200, seed=0)
    return senses_fig, PSH.plot_sense_shares(shares.to_frame())


def _trace_colours(fig) -> dict:
    out = {}
    for t in fig.to_plotly_json()["data"]:
        color = (t.get("marker") or {}).get("color")
        if isinstance(color, str) and t.get("name") not in ("first appears", "becomes largest"):
            out[t["name"]] = color
    return out


def test_a_demo_sense_has_one_colour_on_the_senses_and_shift_pages():
    senses_fig, shift_fig = _demo_figures()
    on_senses, on_shift = _trace_colours(senses_fig), _trace_colours(shift_fig)
    common = set(on_senses) & set(on_shift)
    assert len(common) >= 5, (sorted(on_senses), sorted(on_shift))
    assert {s: on_senses[s] for s in common} == {s: on_shift[s] for s in common}
    assert all(c == theme.sense_color(s) for s, c in on_shift.items())


def test_demo_share_whiskers_stay_inside_zero_one():
    """Where the whiskers are drawn: on a stacked chart a segment's whisker starts at the top of the stack below it
    plus the segment, so the top sense's whisker pokes above 100 % unless the intervals are drawn unstacked."""
    _, shift_fig = _demo_figures()
    bars = [t for t in shift_fig.data if t.type == "bar"]  # the traces' arrays (the JSON packs them as base64)
    assert bars
    stacked = shift_fig.layout.barmode in ("stack", "relative")
    base = {}
    for t in bars:
        y = np.nan_to_num(np.asarray(t.y, dtype=float))
        start = np.array([base.get(x, 0.0) for x in t.x]) if stacked else np.zeros(len(y))
        if t.error_y.visible is not False and t.error_y.array is not None:
            plus = np.asarray(t.error_y.array, dtype=float)
            minus = np.asarray(t.error_y.arrayminus, dtype=float)
            assert np.all(start + y + plus <= 1.0 + 1e-9) and np.all(start + y - minus >= -1e-9), t.name
        base.update({x: b + v for x, b, v in zip(t.x, start, y)})
