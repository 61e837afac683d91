"""Senses page, reading and curating the occurrences (issue 13), through AppTest on the bundled demo:
search -> highlighted hits, nearest neighbours = numpy cosine top-k, merge -> scores = sklearn's, moves that
survive a restart (a new AppTest), bad input with clear messages, the KWIC view and collocates."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.jobwait import settle

APP = str(ROOT / "app.py")
PAGE = "views/senses.py"


def _open(model: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["model"] = model
    at.session_state["senses_projection"] = "pca"
    at.session_state["senses_layer_mode"] = "sidebar"  # the last layer: the neighbours below are computed on it
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _ok(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _scatter(at) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if "Scatter" in c.proto.spec or '"scatter' in
                           c.proto.spec).proto.spec)


def _values(v) -> list:
    """A trace array as plotly writes it: a list, or numpy data as {"dtype", "bdata"} (base64)."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v or [])


def _frame(at, *columns):
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _key(at, prefix: str) -> str:
    """The key of the curation picker ``prefix`` (its key ends in a count of edits made: ``curate_merge_g2``)."""
    keys = [w.key for kind in ("multiselect", "selectbox", "text_input", "number_input") for w in at.get(kind)
            if w.key and w.key.startswith(prefix + "_g")]
    assert len(keys) == 1, (prefix, keys)
    return keys[0]


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_search_highlights_hits_and_lists_them(cache_dir, tiny_bert):
    at = _open(tiny_bert)
    occ = at.session_state["embset"].occurrences.reset_index(drop=True)
    expect = [int(i) for i, t in zip(occ["occurrence_id"], occ["text"]) if "air" in t.lower()]
    assert 0 < len(expect) < len(occ)
    at.text_input(key="explore_query").set_value("air").run()
    _ok(at)
    hits = next(t for t in _scatter(at)["data"] if str(t.get("name", "")).startswith("hits for air"))
    assert sorted(_values(hits["customdata"])) == expect and hits["name"].endswith(f"({len(expect)})")
    lines = _frame(at, "found", "match")
    assert sorted(lines["occurrence_id"]) == expect and lines["found"].str.lower().str.contains(r"\[air").all()
    # isolate the hits: only they are drawn
    at.radio(key="explore_show").set_value("hits").run()
    _ok(at)
    drawn = [i for t in _scatter(at)["data"] if not str(t.get("name", "")).startswith("hits")
             for i in _values(t.get("customdata"))]
    assert sorted(drawn) == expect
    # an invalid regular expression is a clear message, and the page still draws
    at.checkbox(key="explore_regex").check().run()
    at.text_input(key="explore_query").set_value("(air").run()
    assert not at.exception
    assert any("is not a valid regular expression" in e.value for e in at.error), [e.value for e in at.error]
    assert any('"scatter' in c.proto.spec for c in at.get("plotly_chart"))


def test_nearest_neighbours_equal_numpy_cosine_top_k(cache_dir, tiny_bert):
    at = _open(tiny_bert)
    es = at.session_state["embset"]
    at.selectbox(key="explore_nn_id").set_value(17).run()
    at.number_input(key="explore_nn_k").set_value(8).run()
    _ok(at)
    table = _frame(at, "rank", "similarity", "occurrence_id")
    X = np.asarray(es.vectors[:, -1, :], dtype=np.float64)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = U @ U[17]
    sims[17] = -np.inf
    top = np.argsort(-sims, kind="stable")[:8]
    assert list(table["occurrence_id"]) == list(es.occurrences["occurrence_id"].to_numpy()[top])
    assert np.allclose(table["similarity"], sims[top], atol=1e-4)
    links = next(t for t in _scatter(at)["data"] if str(t.get("name", "")).startswith("nearest neighbours"))
    assert links["mode"] == "lines" and len(_values(links["x"])) == 3 * 8


def test_merge_scores_equal_sklearn_and_bad_merges_say_why(cache_dir, tiny_bert):
    at = _open(tiny_bert)
    at.toggle(key="senses_auto_k").set_value(False).run()
    at.number_input(key="senses_k").set_value(4).run()
    base = np.asarray(at.session_state["cluster_labels"])
    label = at.session_state["embset"].occurrences["label"]
    known = label.notna().to_numpy()
    gold = label[known].astype(str).to_numpy()
    # a merge of a sense with itself (one sense chosen): a clear message, nothing saved
    at.multiselect(key=_key(at, "curate_merge")).set_value([1]).run()
    _button(at, "curate_merge_go").click().run()
    assert any("merging needs two different senses; only sense 1 was chosen" in e.value for e in at.error)
    at.multiselect(key=_key(at, "curate_merge")).set_value([1, 2]).run()
    _button(at, "curate_merge_go").click().run()
    _ok(at)
    merged = np.where(base == 2, 1, base)
    metrics = {m.label: float(m.value) for m in at.metric}
    assert metrics["ARI (your senses)"] == pytest.approx(adjusted_rand_score(gold, merged[known]), abs=6e-4)
    assert metrics["NMI (your senses)"] == pytest.approx(normalized_mutual_info_score(gold, merged[known]), abs=6e-4)
    assert any("Merged 2 senses (version 2)" in s.value.replace("\\", "") for s in at.success)
    heat = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Your senses" in c.proto.spec)
    assert len(heat["data"][0]["y"]) == 3  # four clusters, two merged
    # undo: back to four
    _button(at, "curate_undo").click().run()
    _ok(at)
    assert len(next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                    if "Your senses" in c.proto.spec)["data"][0]["y"]) == 4


def test_moved_occurrences_survive_a_restart(cache_dir, tiny_bert):
    from analysis import curation as C

    at = _open(tiny_bert)
    at.text_input(key="explore_query").set_value("jet").run()
    hits = sorted(_frame(at, "found", "match")["occurrence_id"])
    at.selectbox(key=_key(at, "curate_move_src")).set_value("hits").run()
    at.selectbox(key=_key(at, "curate_move_to")).set_value("new").run()
    _button(at, "curate_move_go").click().run()
    _ok(at)
    key = at.session_state["embset"].key
    new_sense = int(max(at.session_state["cluster_labels"])) + 1
    # a split of the 1-point sense: a clear message, nothing lost
    assert len(hits) == 1
    at.selectbox(key=_key(at, "curate_split")).set_value(new_sense).run()
    _button(at, "curate_split_go").click().run()
    assert any("has 1 occurrence, too few to split into 2 parts" in e.value for e in at.error)
    # a new session (as after a restart) finds the curated senses on disk
    again = _open(tiny_bert)
    _ok(again)
    occ = again.session_state["embset"].occurrences.reset_index(drop=True)
    cur = C.open_curation(key, occ)
    assert cur.version == 2 and [e["op"] for e in cur.edits] == ["start", "move"]
    held = again.session_state["_curations"][key][1]  # what this session's page (and ui.curate.curated_labels) use
    rows = np.flatnonzero(occ["occurrence_id"].isin(hits).to_numpy())
    assert (held.labels[rows] == new_sense).all() and np.array_equal(held.labels, cur.labels)
    assert "your senses" in again.selectbox(key="senses_colour").options
    assert "ARI (your senses)" in {m.label for m in again.metric}
    assert not _button(again, "curate_undo").disabled
    kwic = _frame(again, "L1", "R1", "your sense")
    assert set(kwic.loc[kwic["occurrence_id"].isin(hits), "your sense"]) == {f"sense {new_sense}"}
    # ... and the Shift page's "my senses" (its default once they exist) counts them per period
    settle(again.switch_page("views/shift.py"))
    _ok(again)
    radio = next(r for r in again.radio if r.key and r.key.startswith("shift_sense_source_"))
    assert radio.options[0].startswith("My senses") and radio.value == "curated"
    assert again.radio(key="shift_mode").value == "column"
    shares = _frame(again, "period", "sense_name", "count")
    names = {int(s): cur.name_of(s) for s in cur.senses if s != C.NOISE}
    assert f"sense {new_sense}" in set(shares["sense_name"])
    for period, rows in shares.groupby("period"):
        inside = (occ["period"].astype(str) == str(period)).to_numpy()
        want = {names[int(s)]: int(n) for s, n in zip(*np.unique(cur.labels[inside & (cur.labels >= 0)],
                                                                    return_counts=True))}
        got = {name: int(n) for name, n in zip(rows["sense_name"], rows["count"]) if n}
        assert got == want, (period, got, want)
    assert any(f"version {cur.version}" in c.value for c in again.caption)


def test_edit_on_a_stale_set_is_refused(cache_dir, tiny_bert):
    from analysis import curation as C

    at = _open(tiny_bert)
    es = at.session_state["embset"]
    changed = es.occurrences.reset_index(drop=True).iloc[:-1]  # the corpus the curation was made on has changed
    C.start_curation(es.key, changed, np.zeros(len(changed), dtype=int))
    at.run()
    assert any("the corpus changed, so no edit is applied" in w.value for w in at.warning)
    at.multiselect(key=_key(at, "curate_merge")).set_value([0, 1]).run()
    _button(at, "curate_merge_go").click().run()
    assert not at.exception
    assert any("the corpus changed, so no edit is applied" in e.value for e in at.error)
    assert C.open_curation(es.key, changed).version == 1  # nothing written


def test_kwic_sort_filter_and_collocates(cache_dir, tiny_bert):
    at = _open(tiny_bert)
    at.selectbox(key="senses_kwic_sort").set_value("R1").run()
    _ok(at)
    lines = _frame(at, "L1", "R1", "cluster")
    assert list(lines["R1"]) == sorted(lines["R1"])
    at.multiselect(key="senses_kwic_f_period").set_value(["2"]).run()
    lines = _frame(at, "L1", "R1", "cluster")
    assert set(lines["period"].astype(str)) == {"2"} and len(lines) == 100
    at.radio(key="senses_coll_per").set_value("period").run()
    _ok(at)
    coll = _frame(at, "word", "g2", "pmi")
    assert set(coll["group"]) <= {"1", "2"} and (coll["count"] >= 2).all()
    bars = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Collocates per period" in c.proto.spec)
    assert bars["data"] and all(t["type"] == "bar" for t in bars["data"])
    assert bars["layout"]["xaxis"]["title"]["text"].startswith("log-likelihood")
