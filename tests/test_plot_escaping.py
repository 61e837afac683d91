"""No data string becomes live HTML in a figure: every plot function, fed names that hold a link and a script.

Plotly renders legend entries, axis categories, hovers, titles and annotations as a subset of HTML, so a cluster name
``<a href="...">x</a>`` would be a clickable link on the page and in exported HTML. Each figure is checked through its
JSON (``fig.to_json()``, decoded: plotly writes ``<`` as ``\\u003c`` there, which a plain substring search would miss).
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest

from analysis import shift as S
from analysis.corpus import kwic_html
from analysis.plots import bias as PB
from analysis.plots import corpus as PC
from analysis.plots import dimension as PD
from analysis.plots import senses as PS
from analysis.plots import shift as PSH
from analysis.plots._text import esc

EVIL = '<a href="https://evil.example/">x</a><script>alert(1)</script>'
ESCAPED = "&lt;a href=&#34;https://evil.example/&#34;&gt;x&lt;/a&gt;&lt;script&gt;"


def evil(tag: str) -> str:
    """A distinct hostile name per use (several names in one figure must stay distinct)."""
    return f"{tag} {EVIL}"


def strings(obj):
    """Every string in a decoded figure JSON (keys too: a category can become a key)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


# ---------------------------------------------------------------------------------------------------- figure makers
def corpus_counts():
    col = evil("col")  # a metadata column's name comes from the user's file too
    counts = PC.count_table(pd.DataFrame({col: pd.Series([evil("s1"), evil("s2"), None], dtype="string")}), col)
    return PC.plot_counts(counts, column=col, title=evil("title"))


def corpus_frequency():
    from analysis.corpus_index.query import frequency_table

    counts = {"per_period": {evil("p1"): 3, "p2": 1}}
    stats = {"per_period": {evil("p1"): {"documents": 10, "words": 100}, "p2": {"documents": 5, "words": 40}}}
    return PC.plot_frequency(frequency_table(counts, stats, by="period"), by="period", measure="per_million_words")


def senses_projection():
    text = f"the {EVIL} plane"
    start = text.index("plane")
    view = pd.DataFrame({"occurrence_id": range(4), "x": [0, 1, 2, 3], "y": [1, 0, 1, 0],
                         "kwic": [kwic_html(text, start, start + 5)] * 4,
                         "label": [evil("a"), evil("b"), evil("a"), None],
                         "cluster_name": [evil("c0"), evil("c1"), evil("c0"), "noise"], "year": [1, 2, 3, 4]})
    return PS.plot_projection(view, color="cluster_name", category_order=[evil("c1")], title=evil("t"))


def senses_projection_numeric():
    n = 30
    view = pd.DataFrame({"occurrence_id": range(n), "x": range(n), "y": range(n), evil("col"): np.arange(n) * 1.5})
    return PS.plot_projection(view, color=evil("col"))


def senses_silhouette():
    return PS.plot_silhouette({2: 0.1, 3: 0.3}, chosen=3, title=evil("t"))


def senses_contingency():
    table = pd.DataFrame([[1, 2], [3, 4]], index=[evil("c0"), evil("c1")], columns=[evil("s10"), evil("s2")])
    return PS.plot_contingency(table, normalize="row", title=evil("t"))


def senses_layer_comparison():
    df = pd.DataFrame({"model": [evil("m")] * 2 + ["other"] * 2, "layer": ["0", "1", "0", "1"],
                       "ari": [0.1, 0.2, 0.3, 0.4]})
    return PS.plot_layer_comparison(df, score="ari", title=evil("t"))


@pytest.fixture(scope="module")
def shift_result():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(20, 4)), rng.normal(size=(20, 4)) + 3])
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    codes = np.r_[np.zeros(10, int), np.ones(15, int), np.full(15, 2)]
    per = S.periods_from_codes(codes, [evil("p1"), evil("p2"), evil("p3")])
    res = S.analyse_shift(X, per, labels=labels, sense_names={0: evil("sense0"), 1: evil("sense1")},
                          n_permutations=19, n_bootstrap=20)
    return X, per, res


def shift_period_counts(result):
    counts = pd.DataFrame({"period": [evil("p1"), evil("p2")], "count": [100, 5]})
    return PSH.plot_period_counts(counts, title=evil("t"))


def shift_sense_shares(result):
    return PSH.plot_sense_shares(result[2].shares.to_frame(), title=evil("t"))


def shift_sense_shares_area(result):
    return PSH.plot_sense_shares(result[2].shares.to_frame(), kind="area")


def shift_metrics_over_time(result):
    return PSH.plot_metrics_over_time(result[2].pairs_frame(), title=evil("t"))


def shift_trajectory(result):
    X, per, _ = result
    traj = S.trajectory(X, per)
    usages = pd.DataFrame({"x": traj.usage_xy[:, 0], "y": traj.usage_xy[:, 1],
                           "period": np.asarray(per.names, dtype=object)[per.codes]})
    return PSH.plot_trajectory(usages, traj.prototype_frame(), title=evil("t"))


def shift_ranking(result):
    ranking = pd.DataFrame({"target": [evil("t1"), evil("t2")], "apd": [0.1, 0.2], "apd_p": [0.5, 0.01]})
    return PSH.plot_ranking(ranking, title=evil("t"))


def shift_layer_sweep(result):
    df = pd.DataFrame({"layer": [evil("L0"), "1"] * 2, "metric": ["apd", "apd", evil("m"), evil("m")],
                       "mean": [0.1, 0.2, 0.3, 0.4], "rho": [0.1, 0.5, -0.2, 0.3], "rho_low": [0.0, 0.2, -0.5, 0.1],
                       "rho_high": [0.3, 0.7, 0.1, 0.6]})
    return PSH.plot_layer_sweep(df, title=evil("t"))


def shift_metric_vs_gold(result):
    df = pd.DataFrame({"target": [evil("t1"), evil("t2")], "apd": [0.1, 0.2], "gold": [0.3, 0.4]})
    return PSH.plot_metric_vs_gold(df, metric="apd", title=evil("t"))


def bias_results():
    rows = []
    for m in (evil("m1"), evil("m2")):
        for t in (evil("weat1"), evil("weat2")):
            for layer in (3, 6):
                rows.append(dict(test=t, level="word", model=m, layer=layer, effect_size=0.5, ci_low=0.1,
                                 ci_high=0.9, p_value=0.01, p_holm=0.02))
    return pd.DataFrame(rows)


def bias_effect_sizes():
    return PB.plot_effect_sizes(bias_results()[lambda d: d["layer"] == 6], title=evil("t"))


def bias_layer_heatmap():
    return PB.plot_layer_heatmap(bias_results(), title=evil("t"))


def bias_word_associations():
    items = pd.DataFrame({"set": ["X", "X", "Y", "Y"], "set_name": [evil("setX")] * 2 + [evil("setY")] * 2,
                          "word": [evil("w1"), evil("w1"), "", evil("w2")],
                          "text": [evil("s1"), evil("s2"), evil("s3"), evil("s4")], "s": [0.1, 0.2, -0.1, 0.3]})
    return PB.plot_word_associations(items, title=evil("t"))


def dim_records(steps=(None, None)):
    rows = []
    for i, (ck, step) in enumerate(zip((evil("ck1"), evil("ck2")), steps)):
        for layer in (1, 2):
            rows.append(dict(checkpoint=ck, step=step, order=i, layer=layer, mean=5.0, median=5.0, std=1.0,
                             n_tokens=100, n_duplicates=0, train_loss=2.0, eval_loss=2.5, **{"global": 4.0}))
    return pd.DataFrame(rows)


def dimension_trajectory():
    return PD.plot_lid_trajectory(dim_records(), title=evil("t"))


def dimension_trajectory_steps():
    return PD.plot_lid_trajectory(dim_records(steps=(10, 20)))


def dimension_violins():
    tok = pd.DataFrame({"checkpoint": [evil("ck1")] * 3 + [evil("ck2")] * 3, "order": [0] * 3 + [1] * 3,
                        "layer": [2] * 6, "lid": [4.0, 5.0, 6.0, 3.0, 4.0, 5.0]})
    return PD.plot_lid_violins(tok, title=evil("t"))


def dimension_heatmap():
    return PD.plot_lid_heatmap(dim_records(), title=evil("t"))


def dimension_training_log():
    log = pd.DataFrame({"step": [1, 2], "train_loss": [3.0, 2.0], "eval_loss": [np.nan, 2.5]})
    return PD.plot_training_log(log, title=evil("t"))


PLAIN = {"corpus.plot_counts": corpus_counts, "corpus.plot_frequency": corpus_frequency, "senses.plot_projection": senses_projection,
         "senses.plot_projection (numeric colour)": senses_projection_numeric,
         "senses.plot_silhouette": senses_silhouette, "senses.plot_contingency": senses_contingency,
         "senses.plot_layer_comparison": senses_layer_comparison, "bias.plot_effect_sizes": bias_effect_sizes,
         "bias.plot_layer_heatmap": bias_layer_heatmap, "bias.plot_word_associations": bias_word_associations,
         "dimension.plot_lid_trajectory": dimension_trajectory,
         "dimension.plot_lid_trajectory (steps)": dimension_trajectory_steps,
         "dimension.plot_lid_violins": dimension_violins, "dimension.plot_lid_heatmap": dimension_heatmap,
         "dimension.plot_training_log": dimension_training_log}
WITH_SHIFT = {"shift.plot_period_counts": shift_period_counts, "shift.plot_sense_shares": shift_sense_shares,
              "shift.plot_sense_shares (area)": shift_sense_shares_area,
              "shift.plot_metrics_over_time": shift_metrics_over_time, "shift.plot_trajectory": shift_trajectory,
              "shift.plot_ranking": shift_ranking, "shift.plot_metric_vs_gold": shift_metric_vs_gold,
              "shift.plot_layer_sweep": shift_layer_sweep}


def check_no_live_html(fig):
    found = list(strings(json.loads(fig.to_json())))
    live = [s for s in found if "<a " in s.lower() or "<script" in s.lower()]
    assert not live, f"data reached the figure as HTML: {live[:3]}"
    assert any(ESCAPED in s for s in found), "the escaped name should be shown as text"


@pytest.mark.parametrize("name", list(PLAIN))
def test_plot_shows_hostile_names_as_text(name):
    check_no_live_html(PLAIN[name]())


@pytest.mark.parametrize("name", list(WITH_SHIFT))
def test_shift_plot_shows_hostile_names_as_text(name, shift_result):
    check_no_live_html(WITH_SHIFT[name](shift_result))


def test_every_plot_function_is_covered():
    """A new plot function must be added above (so that its data strings are checked too)."""
    covered = {k.split(" ")[0] for k in (*PLAIN, *WITH_SHIFT)}
    for mod in (PB, PC, PD, PS, PSH):
        short = mod.__name__.rsplit(".", 1)[-1]
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fname.startswith("plot_") and fn.__module__ == mod.__name__:
                assert f"{short}.{fname}" in covered, f"{short}.{fname} has no escaping test"


def test_escape_is_what_plotly_decodes():
    # Plotly decodes numeric entities and &amp; &lt; &gt; but shows &quot; as it stands: quotes must be numeric.
    assert esc("a & b <i>\"q\" 'r'</i>") == "a &amp; b &lt;i&gt;&#34;q&#34; &#39;r&#39;&lt;/i&gt;"
    assert "&quot;" not in kwic_html('say "plane" now', 5, 10)
