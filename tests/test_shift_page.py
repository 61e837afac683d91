"""The Shift page on the bundled demo (DWUG plane_nn: geometry vs aircraft), through AppTest and in Chromium."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.browser import SHOTS, screenshot, wait_until_idle
from tests.jobwait import open_settled, settle

PAGE = "views/shift.py"


def _open(tiny_bert, **state):
    return open_settled(PAGE, model=tiny_bert, timeout=180, **state)


def _senses_radio(at):
    return next(r for r in at.radio if r.label == "Senses")


def _charts(at):
    return at.get("plotly_chart")


def test_shift_page_demo_periods_shares_metrics_and_ranking(tiny_bert, cache_dir):
    at = _open(tiny_bert)
    assert not at.error, [e.value for e in at.error]
    # periods: DWUG grouping 1 and 2, 100 occurrences each
    assert at.radio(key="shift_mode").value == "column"
    # the default vectors are named by their rule and their layers (the upper half of the tiny model's 3 layers)
    assert "Mean of layers 2-3, the upper half" in at.radio(key="shift_vectors").options[0]
    # the metrics table: one comparison with APD, PRT, JSD, their p and intervals
    table = next(d.value for d in at.dataframe if "APD p" in d.value.columns)
    assert len(table) == 1 and {"APD", "PRT", "JSD", "PRT p", "JSD 95% CI"} <= set(table.columns)
    assert 0 < table["APD p"].iloc[0] <= 1
    assert len(_charts(at)) >= 3  # counts, shares, trajectory
    assert any("first appears in" in m.value for m in at.markdown)
    # gold senses of the demo (DWUG clusters): the aircraft sense appears/takes over in period 2
    settle(_senses_radio(at).set_value("label"))
    assert not at.exception
    shares = next(d.value for d in at.dataframe if "share" in d.value.columns and "sense_name" in d.value.columns)
    late = shares[(shares["period"] == "2")].sort_values("share", ascending=False).iloc[0]
    assert late["share"] > 0.8 and late["largest_from"]
    table = next(d.value for d in at.dataframe if "JSD p" in d.value.columns)
    assert table["JSD p"].iloc[0] < 0.01
    # year bins: three equal-count bins over the usages' dates, a line chart over time
    settle(at.radio(key="shift_mode").set_value("equal-count"))
    settle(at.slider(key="shift_bins").set_value(3))
    assert not at.exception
    table = next(d.value for d in at.dataframe if "APD p" in d.value.columns)
    assert len(table) == 3  # 1-2, 1-3, 2-3
    # many targets: rank the three demo targets, compare with the bundled DWUG stats
    settle(at.radio(key="shift_mode").set_value("column"))
    settle(at.button(key="shift_rank_button").click())
    assert not at.exception, at.exception
    ranking = next(d.value for d in at.dataframe if "rank_apd" in d.value.columns)
    assert sorted(ranking["target"]) == ["chairman_nn", "gas_nn", "plane_nn"]
    labels = [m.label for m in at.metric]
    assert "Spearman ρ, APD" in labels and "Binary accuracy, JSD" in labels
    # DWUG's own clusters reproduce the DWUG ranking exactly
    rho = next(m.value for m in at.metric if m.label == "Spearman ρ, JSD")
    assert float(rho) == pytest.approx(1.0)


def test_shift_page_uses_senses_page_clusters_and_names(tiny_bert, cache_dir):
    at = _open(tiny_bert)
    n = 200
    labels = np.r_[np.zeros(100, int), np.ones(100, int)]
    at.session_state["cluster_labels"] = labels
    at.session_state["cluster_names"] = {0: "geometry", 1: "aircraft"}
    settle(at)
    assert _senses_radio(at).value == "senses"
    shares = next(d.value for d in at.dataframe if "sense_name" in d.value.columns)
    assert set(shares["sense_name"]) == {"geometry", "aircraft"} and shares["count"].sum() == n


def test_shift_page_bad_edges_give_clear_message(tiny_bert, cache_dir):
    at = _open(tiny_bert)
    settle(at.radio(key="shift_mode").set_value("edges"))
    settle(at.text_input(key="shift_edges").set_value("2000, 1900"))
    assert not at.exception
    assert any("strictly increasing" in e.value for e in at.error)
    settle(at.text_input(key="shift_edges").set_value("1700, 1750, 1800"))
    assert any("no period has occurrences" in e.value for e in at.error)
    # regression: no empty "Occurrences per period" chart above the error when no period has occurrences
    assert len(_charts(at)) == 0
    # one period left: its counts are drawn, and the error says shift needs two
    settle(at.text_input(key="shift_edges").set_value("1800, 1900"))
    assert any("only 1 period" in e.value for e in at.error)
    assert len(_charts(at)) == 1


def _schema(obj, path: str = "") -> set[str]:
    """Key paths of a JSON document; lists merge their items, and data-named keys (period names, senses, the
    writer's own manifest) are not followed."""
    data_keyed = {"shares.by_period", "shares.first_period", "shares.largest_from", "senses.silhouette", "parameters"}
    if isinstance(obj, list):
        return set().union(*(_schema(v, path) for v in obj)) if obj else set()
    if not isinstance(obj, dict) or path in data_keyed:
        return set()
    out = set()
    for k, v in obj.items():
        sub = f"{path}.{k}" if path else str(k)
        out |= {sub} | _schema(v, sub)
    return out


def test_page_download_and_cli_write_the_same_shift_json(tiny_bert, cache_dir, tmp_path, monkeypatch, capsys):
    """The page's "shift.json" download and ``python -m analysis shift``'s shift.json have one schema."""
    import json

    import streamlit as st

    from analysis.cli import main
    from tests.conftest import DEMO

    downloads = {}
    original = st.download_button

    def recording(label, data=None, *args, **kwargs):  # AppTest has no runtime to serve deferred downloads
        downloads[kwargs.get("key")] = data
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    at = _open(tiny_bert)
    assert not at.error, [e.value for e in at.error]
    data = downloads["shift_json"]
    page_doc = json.loads(data() if callable(data) else data)
    out = tmp_path / "cli"
    rc = main(["shift", str(DEMO / "dwug_en"), "--target", "plane_nn", "--model", tiny_bert, "--out", str(out),
               "--permutations", "99", "--boot", "50", "--formats", "html"])
    assert rc == 0, capsys.readouterr().err
    cli_doc = json.loads((out / "shift.json").read_text())
    assert _schema(page_doc) == _schema(cli_doc)
    assert {"pairs.apd_ci", "shares.n_bootstrap", "senses.k_choice", "typical.kwic", "trajectory.explained",
            "parameters", "params.seed"} <= _schema(page_doc)
    assert page_doc["target"] == cli_doc["target"] == "plane_nn" and page_doc["periods"] == cli_doc["periods"]


@pytest.mark.browser
@pytest.mark.slow
def test_shift_page_in_chromium(app_server, browser_page):
    page = browser_page
    # Start at the app's root (so app.py registers its navigation and sidebar), then go to Shift by its link.
    screenshot(page, app_server, "", wait_text="Keyword in context", name="shift_start", wait_plot=False)
    page.get_by_role("link", name="Shift").first.click()
    page.get_by_text("Change between periods", exact=False).first.wait_for(timeout=600_000)
    page.get_by_text("Trajectory and typical occurrences", exact=False).first.wait_for(timeout=600_000)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=600_000)
    # the page fills in as its jobs finish: wait for the charts themselves, not a fixed time
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=600_000)
    deadline = time.time() + 600
    while time.time() < deadline and page.locator("[data-testid='stStatusWidget']").count():
        time.sleep(0.3)
    time.sleep(1.5)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "shift.png"
    page.screenshot(path=str(shot), full_page=True)
    # the page scrolls inside Streamlit's container: one more shot of the metrics table and the trajectory
    page.get_by_text("Trajectory and typical occurrences", exact=False).first.scroll_into_view_if_needed()
    time.sleep(0.8)
    page.screenshot(path=str(SHOTS / "shift_lower.png"))
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()[:500]
    assert shot.stat().st_size > 30_000
    text = page.inner_text("body")
    assert "Sense shares per period" in text and "Current analysis" in text
    assert page.locator(".js-plotly-plot").count() >= 3
    # ranking runs as a background job: its status line shows, and the page redraws itself when it is done
    page.get_by_role("button", name="Rank 3 targets").click()
    try:
        # the result is drawn element by element: wait for the last one as well as the first
        page.get_by_text("Spearman ρ, APD", exact=True).first.wait_for(timeout=600_000)
        page.get_by_text("Binary accuracy, APD", exact=False).first.wait_for(timeout=600_000)
    except Exception:
        raise AssertionError("no ranking after 10 min; the page says: " + page.inner_text("body")[-1500:]) from None
    assert page.locator("[data-testid='stException']").count() == 0
    # every layer, on request (a background job): the chart of the scores per layer
    page.get_by_text("Per layer: how much does the answer depend on the layer?", exact=False).first.click()
    page.get_by_role("button", name="Score every layer").click()
    title = page.get_by_text("Change between the first and last period per layer", exact=False).first
    try:
        title.wait_for(timeout=600_000)
    except Exception:
        raise AssertionError("no per-layer chart after 10 min; the page says: "
                             + page.inner_text("body")[-1500:]) from None
    title.scroll_into_view_if_needed()
    wait_until_idle(page, timeout_s=600)
    page.screenshot(path=str(SHOTS / "shift_layers.png"))
    assert page.locator("[data-testid='stException']").count() == 0


def test_every_layer_scored_equals_the_analysis_at_that_layer(tiny_bert, cache_dir):
    from analysis import shift as S
    from analysis.senses import layer_vectors
    at = _open(tiny_bert, shift_perm=99, shift_boot=50)
    settle(_senses_radio(at).set_value("label"))
    settle(at.button(key="shift_layers_go").click())
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    by_layer = next(d.value for d in at.dataframe if {"layer", "metric", "value", "ci_low"} <= set(d.value.columns))
    es = at.session_state["embset"]
    assert len(by_layer) == 3 * len(es.layers) and set(by_layer["metric"]) == {"apd", "prt", "jsd"}
    occ = es.occurrences.reset_index(drop=True)
    periods = S.make_periods(occ, mode="column", period_column="period")
    labels, names = S.labels_from_column(occ["label"])
    settings = S.ShiftSettings(n_permutations=99, n_bootstrap=50, ci=S.DEFAULT_CI, seed=0)
    for layer in (es.layers[0], es.layers[-1]):
        res = S.analyse_shift(layer_vectors(es.vectors, es.layers, str(layer)), periods, labels=labels,
                              sense_names=names, settings=settings)
        want = res.pairs_frame().set_index("metric")["value"]
        got = by_layer[by_layer["layer"].astype(str) == str(layer)].set_index("metric")["value"]
        assert got.to_dict() == pytest.approx(want.to_dict()), layer
    assert any(json_title(c) == "Change between the first and last period per layer" for c in _charts(at))


def json_title(chart) -> str:
    import json

    return json.loads(chart.proto.spec)["layout"]["title"]["text"]
