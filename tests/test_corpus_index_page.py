"""The Corpus page on a corpus index: counts over the whole index, frequency per year, what to embed with its cost,
KWIC of the chosen sample, embeddings of just that sample (AppTest; planted corpus in a temp folder)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from analysis.corpus import ColumnSpec
from analysis.corpus_index import build_index, count_hits
from tests.conftest import ROOT
from tests.test_corpus_index import independent_count, make_docs

APP = str(ROOT / "app.py")


@pytest.fixture()
def index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", str(tmp_path))  # the page reads server paths only under allowed roots
    docs = make_docs(600)
    docs.to_csv(tmp_path / "c.csv", index=False)
    build_index([tmp_path / "c.csv"], tmp_path / "ix", ColumnSpec(year="yr", period="grp"))
    return tmp_path / "ix", docs


def _open(path, target="café|plane", model=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    if model:
        at.session_state["model"] = model
    at.run()
    at.radio(key="corpus_kind_radio").set_value("index").run()
    at.text_input[0].set_value(str(path)).run()
    if target is not None:
        at.text_input[1].set_value(target).run()
    return at


def _problems(at):
    return at.exception or [e.value for e in at.error]


def test_index_opens_with_counts_frequency_choice_and_kwic(index_dir, cache_dir, tiny_bert):
    path, docs = index_dir
    at = _open(path, model=tiny_bert)
    assert not _problems(at), _problems(at)
    metrics = {m.label: m.value for m in at.metric}
    expected = sum(independent_count(docs["text"], ["café", "plane"]))
    assert metrics["Hits"] == f"{expected:,}" and expected == count_hits(path, "café|plane")["total"]
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    freq = next(f for f in figs if "per year" in f["layout"]["title"]["text"])
    assert freq["layout"]["xaxis"]["title"]["text"] == "year"
    # the chosen sample: 1000 by default is more than there are hits, so all are read; take 25 per period instead
    at.radio(key="index_mode").set_value("per_period").run()
    at.number_input(key="index_n").set_value(25).run()
    assert not _problems(at), _problems(at)
    assert {m.label: m.value for m in at.metric}["Occurrences"] == "75"  # three periods, 25 each
    assert any("75** occurrences to read and embed" in c.value for c in at.caption)
    kwic = at.dataframe[1].value if len(at.dataframe) > 1 else at.dataframe[0].value
    assert {"left", "match", "right"} <= set(kwic.columns)
    assert kwic["match"].str.lower().isin(["café", "plane"]).all()
    # the same settings give the same rows; another seed others
    first = list(kwic["right"])
    at.number_input(key="index_seed_input").set_value(7).run()
    kwic2 = at.dataframe[1].value if len(at.dataframe) > 1 else at.dataframe[0].value
    assert list(kwic2["right"]) != first
    next(b for b in at.button if b.label == "Compute embeddings").click().run()
    assert not _problems(at), _problems(at)
    assert any("Embeddings ready: 75 occurrences" in s.value for s in at.success)


def test_a_folder_that_is_no_index_and_a_term_that_never_occurs(index_dir, tmp_path):
    path, _ = index_dir
    at = _open(tmp_path, target=None)  # the folder holds the CSV and the index, but is none itself
    assert not at.exception and any("is not a corpus index" in e.value for e in at.error)
    at = _open(path, target="zeppelin")
    assert not at.exception and any("does not occur" in e.value for e in at.error)


@pytest.mark.browser
def test_index_on_the_corpus_page_in_chromium(app_server, browser_page):
    """The planted index (or, with SENSESCOPE_BROWSER_INDEX=<folder> and SENSESCOPE_BROWSER_TERM, a big generated one
    such as bench/corpus_scale.py's 1-million-paragraph index, under SENSESCOPE_DATA_ROOTS) in a real browser."""
    import os
    from pathlib import Path

    from tests.browser import screenshot, wait_for_text, wait_until_idle

    big = os.environ.get("SENSESCOPE_BROWSER_INDEX")
    if big:
        path, term = Path(big), os.environ.get("SENSESCOPE_BROWSER_TERM", "bank")
    else:
        path, term = app_server.cache / "planted_index", "café|plane"
        if not path.exists():
            src = app_server.cache / "planted.csv"
            make_docs(600).to_csv(src, index=False)
            build_index([src], path, ColumnSpec(year="yr", period="grp"))
    page = browser_page
    page.goto(app_server.url, wait_until="domcontentloaded")
    wait_for_text(page, "Keyword in context", timeout_s=600)
    page.get_by_text("A corpus index (millions of documents)").click()
    box = page.get_by_label("Path to a corpus index folder", exact=False)
    box.wait_for(timeout=300_000)
    box.fill(str(path))
    box.press("Enter")
    target = page.get_by_label("Target forms", exact=False)
    target.wait_for(timeout=300_000)
    target.fill(term)
    target.press("Enter")
    wait_for_text(page, "The target over the whole index", timeout_s=900)
    wait_for_text(page, "Keyword in context", timeout_s=900)
    wait_until_idle(page, timeout_s=900)
    name = "corpus_index_big" if big else "corpus_index"
    shot = screenshot(page, app_server, None, name=name, timeout_ms=900_000)
    assert shot.exists()
    text = page.inner_text("body")
    assert "per year" in text and "occurrences to read and embed" in text, text[:3000]
    assert page.locator("[data-testid='stAlertContentError']").count() == 0, text[:3000]
    points = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(g => (g._fullData || [])
        .reduce((n, t) => n + (t._length || 0), 0))""")
    assert points and max(points) > 0, points
