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
