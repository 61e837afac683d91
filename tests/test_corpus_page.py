"""The dashboard shell and the Corpus page, through AppTest and in a real headless Chromium."""

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser import screenshot
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def test_corpus_page_demo_kwic_and_compute(cache_dir, tiny_bert):
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["model"] = tiny_bert
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Occurrences"] == "200"
    kwic = at.dataframe[0].value
    assert {"left", "match", "right"} <= set(kwic.columns) and len(kwic) == 200
    assert kwic["match"].str.lower().str.startswith("plan").all()
    compute = next(b for b in at.button if b.label == "Compute embeddings")
    compute.click().run()
    assert not at.exception and not at.error
    assert "Embeddings ready: 200 occurrences × 4 layers × 32 dimensions" in at.success[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Cache"] == "computed"
    # a new session finds the cache
    at2 = AppTest.from_file(APP, default_timeout=600)
    at2.session_state["model"] = tiny_bert
    at2.run()
    next(b for b in at2.button if b.label == "Compute embeddings").click().run()
    assert {m.label: m.value for m in at2.metric}["Cache"] == "hit"


def test_corpus_page_bad_model_and_target(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", str(tmp_path))  # the page reads server paths only under allowed roots
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["model"] = str(tmp_path / "no_model")
    at.run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    # upload-free path: a local CSV without the term
    csv = tmp_path / "c.csv"
    csv.write_text("text\nnothing here\n")
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["corpus_kind"] = "path"
    at.session_state["corpus_path"] = str(csv)
    at.session_state["target"] = "zeppelin"
    at.run()
    at.radio[0].set_value("path").run()
    at.text_input[0].set_value(str(csv)).run()
    at.text_input[1].set_value("zeppelin").run()
    assert not at.exception
    assert any("does not occur" in e.value for e in at.error)


@pytest.mark.browser
def test_corpus_page_in_chromium(app_server, browser_page):
    page = browser_page
    # Other browser tests (the tour) may have embedded the demo on this server already: start from an empty cache, so
    # that the first press computes whatever ran before.
    shutil.rmtree(app_server.cache / "embeddings", ignore_errors=True)
    shot = screenshot(page, app_server, "", wait_text="Keyword in context", name="corpus_before", wait_plot=True)
    page.get_by_role("button", name="Compute embeddings").click()
    shot = screenshot(page, app_server, None, wait_text="Embeddings ready", name="corpus", timeout_ms=600_000)
    assert shot.stat().st_size > 20_000
    text = page.inner_text("body")
    assert "Keyword in context" in text and "computed in" in text and "Occurrences" in text
    # a new session (reload) finds the embeddings in the cache
    screenshot(page, app_server, "", wait_text="Keyword in context", name="corpus_reload")
    page.get_by_role("button", name="Compute embeddings").click()
    page.get_by_text("cache hit in").first.wait_for(timeout=600_000)


def test_corpus_page_column_pickers_in_order(cache_dir, tmp_path, monkeypatch):
    """The text column is picked first (it used to be drawn below the year/period/label row)."""
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", str(tmp_path))
    csv = tmp_path / "t.csv"
    csv.write_text("text,year,label\nthe bank is open,2000,money\n")
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["corpus_kind"] = "path"
    at.session_state["corpus_path"] = str(csv)
    at.run()
    at.radio[0].set_value("path").run()
    at.text_input[0].set_value(str(csv)).run()
    assert not at.exception
    labels = [s.label for s in at.selectbox if s.key and s.key.startswith("col_")]
    assert labels.index("Text column") < labels.index("Year / date column"), labels
    assert at.selectbox(key="col_Text column").value == "text"
    assert at.selectbox(key="col_label").value == "label"


def test_corpus_page_reupload_same_size_is_not_stale(cache_dir, tiny_bert):
    """An edited file re-uploaded with the same name and size (labels swapped) must not keep the old embeddings."""
    rows = [f"The bank number {i} is open,{'money' if i % 2 else 'river'}" for i in range(6)]
    v1 = ("text,label\n" + "\n".join(rows) + "\n").encode()
    v2 = v1.replace(b"money", b"XXXXX").replace(b"river", b"money").replace(b"XXXXX", b"river")
    assert len(v1) == len(v2) and v1 != v2
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["model"] = tiny_bert
    at.session_state["corpus_kind"] = "upload"
    at.session_state["corpus_upload"] = ("bank.csv", v1)
    at.session_state["target"] = "bank"
    at.session_state["senses_projection"] = "pca"  # no UMAP compilation in the background
    at.run()
    next(b for b in at.button if b.label == "Compute embeddings").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert list(at.session_state["embset"].occurrences["label"])[:2] == ["river", "money"]
    at.session_state["corpus_upload"] = ("bank.csv", v2)
    at.run()
    assert not at.exception
    at.switch_page("views/senses.py").run()
    assert not at.exception
    assert list(at.session_state["embset"].occurrences["label"])[:2] == ["money", "river"]
