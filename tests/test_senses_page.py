"""The Senses page on the bundled demo (DWUG plane_nn, gold sense clusters), through AppTest and in headless Chromium."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser import screenshot
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
PAGE = "views/senses.py"


def _senses_app(model: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["model"] = model
    # PCA keeps this test free of UMAP's ~30 s numba compilation (UMAP runs in the browser test).
    at.session_state["senses_projection"] = "pca"
    at.run()
    at.switch_page(PAGE).run()
    return at


def test_senses_page_demo_scores_figures_and_names(cache_dir, tiny_bert):
    at = _senses_app(tiny_bert)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    for label in ("Purity", "Inverse purity", "Purity F", "ARI", "NMI", "V-measure", "Centroid accuracy",
                  "LogReg accuracy", "LogReg macro-F1"):
        assert label in metrics, label
        assert 0.0 <= float(metrics[label]) <= 1.0 or label in {"ARI"}
    # The gold labels of plane_nn are DWUG clusters: purity can be no lower than the majority sense's share.
    occ_labels = at.session_state["embset"].occurrences["label"].dropna()
    assert float(metrics["Purity"]) >= occ_labels.value_counts(normalize=True).iloc[0] - 1e-3
    assert any("Purity alone rises with k" in c.value for c in at.caption)
    # Figures: projection scatter and contingency heatmap (and the silhouette curve for auto k).
    charts = at.get("plotly_chart")
    kinds = [c.proto.spec for c in charts]
    assert any('"heatmap"' in s for s in kinds)
    assert any('"scatter' in s for s in kinds)
    assert len(charts) >= 3
    # Name a cluster: the name reaches the cluster table, the scatter and the state read by the Shift page.
    at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("senses_name_"))).set_value("aircraft")
    next(b for b in at.button if b.label == "Apply names").click().run()
    assert not at.exception
    assert "aircraft" in at.session_state["cluster_names"].values()
    assert "aircraft" in set(at.dataframe[1].value["name"]) or any("aircraft" in set(df.value.get("name", []))
                                                                   for df in at.dataframe)
    assert any("aircraft" in c.proto.spec for c in at.get("plotly_chart"))
    # Clustering controls: a fixed k gives that many clusters.
    at.toggle(key="senses_auto_k").set_value(False).run()
    at.number_input(key="senses_k").set_value(4).run()
    assert not at.exception
    assert len(set(at.session_state["cluster_labels"])) == 4


def test_senses_page_comparison_over_layers(cache_dir, tiny_bert):
    at = _senses_app(tiny_bert)
    at.button(key="senses_cmp_go").click().run()
    assert not at.exception and not at.error
    comp = at.session_state["senses_comparison"][1]
    assert list(comp["layer"].astype(str))[:4] == ["0", "1", "2", "3"]
    assert {"ari", "purity", "centroid_accuracy", "logreg_accuracy", "macro_f1"} <= set(comp.columns)
    assert any('"scatter"' in c.proto.spec and "by layer" in c.proto.spec for c in at.get("plotly_chart"))


def test_senses_page_too_few_points_message(cache_dir, tiny_bert):
    at = _senses_app(tiny_bert)
    at.number_input(key="senses_neighbors").set_value(200).run()
    at.radio(key="senses_projection").set_value("umap").run()
    assert not at.exception
    assert any("UMAP with 200 neighbours needs at least 201 occurrences; there are 200" in e.value for e in at.error)
    # The page still shows the PCA projection and the scores.
    assert any('"scatter' in c.proto.spec for c in at.get("plotly_chart"))
    assert "ARI" in {m.label for m in at.metric}


@pytest.mark.browser
@pytest.mark.slow
def test_senses_page_in_chromium(app_server, browser):
    # A tall viewport: Streamlit scrolls inside its own container, so a "full page" shot is only the viewport.
    context = browser.new_context(viewport={"width": 1400, "height": 2600})
    page = context.new_page()
    # Enter through app.py (shared sidebar, wide layout) and open the page from the navigation.
    screenshot(page, app_server, "", wait_text="Keyword in context", name="senses_start", timeout_ms=240_000,
               wait_plot=False)
    page.get_by_role("link", name="Senses").first.click()
    screenshot(page, app_server, None, wait_text="Purity", name="senses_pca", timeout_ms=240_000)
    # UMAP is computed in the background and swapped in; wait for it.
    page.get_by_text("Showing UMAP").first.wait_for(timeout=240_000)
    shot = screenshot(page, app_server, None, wait_text="Clusters × gold senses", name="senses", timeout_ms=120_000)
    assert shot.stat().st_size > 50_000
    text = page.inner_text("body")
    for needle in ("Purity", "ARI", "Inverse purity", "Centroid accuracy", "What the clusters are about"):
        assert needle in text
    assert page.locator(".js-plotly-plot").count() >= 2
    # Lasso round the whole scatter: the selected occurrences are listed with their contexts.
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x0, y0, x1, y1 = box["x"] + 4, box["y"] + 4, box["x"] + box["width"] - 4, box["y"] + box["height"] - 4
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 2)):
        page.mouse.move(x, y, steps=12)
    page.mouse.up()
    page.get_by_text("selected occurrences").first.wait_for(timeout=60_000)
    assert "200 selected occurrences" in page.inner_text("body")
    context.close()


def _small_corpus_app(tmp_path, model: str, n: int = 3, labels=("money",)) -> AppTest:
    """The Senses page on an uploaded-like local CSV where the target occurs ``n`` times."""
    from analysis.corpus import ColumnSpec

    csv = tmp_path / "small.csv"
    rows = [f"The bank number {i} is open,{2000 + i},{labels[i % len(labels)]}" for i in range(n)]
    csv.write_text("text,year,label\n" + "\n".join(rows + ["Filler line,2000,money"]) + "\n")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = model
    for key, value in dict(corpus_kind="path", corpus_path=str(csv), target="bank",
                           spec=ColumnSpec(text="text", year="year", label="label")).items():
        at.session_state[key] = value
    at.session_state["senses_projection"] = "pca"
    at.run()
    at.switch_page(PAGE).run()
    return at


def test_senses_page_three_occurrences_3d_hdbscan_single_label(cache_dir, tiny_bert, tmp_path):
    at = _small_corpus_app(tmp_path, tiny_bert)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["embset"].n == 3
    # One gold label only: say so plainly (not "name a label column", which the user did).
    assert any("same gold label ('money')" in i.value for i in at.info)
    # 3-D needs 4 occurrences: warn and draw in 2-D, keeping clusters and their table (the page used to stop).
    at.radio(key="senses_dims").set_value(3).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("3-D" in w.value and "2-D" in w.value for w in at.warning)
    assert any('"scatter"' in c.proto.spec for c in at.get("plotly_chart"))
    assert any(b.label == "Apply names" for b in at.button)
    # HDBSCAN: the default minimum cluster size must be usable on 3 occurrences (it used to equal n and fail).
    at.selectbox(key="senses_method").set_value("hdbscan").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.number_input(key="senses_mcs").value < 3 and at.number_input(key="senses_mcs").max < 3
