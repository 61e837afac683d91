"""Curated senses: edits, versions on disk, undo, restart, staleness, bad edits, export with the edit log."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis import curation as C
from analysis import senses as S
from analysis.errors import ConfigError


def _occ(n=12):
    texts = [f"text number {i} with the word bank in it" for i in range(n)]
    return pd.DataFrame({"occurrence_id": range(n), "text": texts, "start": [t.index("bank") for t in texts],
                         "end": [t.index("bank") + 4 for t in texts],
                         "label": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})


LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4])


def _start(tmp_path, occ=None):
    occ = _occ() if occ is None else occ
    return C.start_curation("k1", occ, LABELS, {0: "first"}, source={"method": "kmeans"}, root=tmp_path), occ


def test_merge_scores_equal_sklearn_on_the_merged_labels(tmp_path):
    cur, occ = _start(tmp_path)
    cur.merge([1, 2], name="joined")
    merged = np.where(LABELS == 2, 1, LABELS)
    assert np.array_equal(cur.labels, merged)
    assert cur.name_of(1) == "joined" and cur.name_of(0) == "first"
    scores = S.cluster_scores(occ["label"], cur.labels)
    assert scores.ari == pytest.approx(adjusted_rand_score(occ["label"], merged))
    assert [e["op"] for e in cur.edits] == ["start", "merge"]


def test_versions_are_files_never_overwritten_and_survive_a_restart(tmp_path):
    cur, occ = _start(tmp_path)
    folder = C.senses_dir("k1", tmp_path)
    first = (folder / "v001.parquet").read_bytes()
    cur.move([0, 1], 4).rename(4, "moved here").noise(senses=[3])
    assert sorted(p.name for p in folder.glob("v*.parquet")) == ["v001.parquet", "v002.parquet", "v003.parquet",
                                                                 "v004.parquet"]
    assert (folder / "v001.parquet").read_bytes() == first
    again = C.open_curation("k1", occ, root=tmp_path)  # as after a restart
    assert np.array_equal(again.labels, cur.labels) and again.version == 4 and not again.stale
    assert again.labels[0] == 4 and again.name_of(4) == "moved here" and (again.labels[[9, 10]] == -1).all()
    assert [e["op"] for e in again.edits] == ["start", "move", "rename", "noise"]
    # undo two edits: back to version 2; the undone files stay; a new edit gets a new number
    again.undo(2)
    assert again.version == 2 and again.labels[9] == 3 and again.name_of(4) == "sense 4"
    again.split(1, np.random.default_rng(0).normal(size=(12, 4)), k=2)
    assert again.version == 5 and (folder / "v004.parquet").exists()
    reopened = C.open_curation("k1", occ, root=tmp_path)
    assert reopened.stack == [1, 2, 5] and reopened.edits[-2]["op"] == "undo"


def test_split_and_move_to_new(tmp_path):
    cur, _ = _start(tmp_path)
    X = np.zeros((12, 2))
    X[[1, 2], 0] = 5.0  # sense 0 = rows 0, 1, 2: row 0 apart from rows 1 and 2
    cur.split(0, X, k=2, seed=1)
    assert cur.labels[1] == cur.labels[2] == 0 and cur.labels[0] == 5  # the larger part keeps the id
    cur.move([3], "new", name="solo")
    assert cur.labels[3] == 6 and cur.name_of(6) == "solo"


def test_bad_edits_say_why_and_lose_nothing(tmp_path):
    cur, occ = _start(tmp_path)
    before = (cur.labels.copy(), cur.version, len(cur.edits))
    X = np.random.default_rng(0).normal(size=(12, 3))
    bad = [(lambda: cur.split(4, X), "sense 4 has 1 occurrence, too few to split into 2 parts"),
           (lambda: cur.merge([2, 2]), "merging needs two different senses; sense 2 was given 2 times"),
           (lambda: cur.merge([1, 9]), r"there is no sense 9 \(there are: 0, 1, 2, 3, 4\)"),
           (lambda: cur.move([], 1), "no occurrences are selected"),
           (lambda: cur.move([99], 1), "outside 0..11"),
           (lambda: cur.rename(-1, "x"), "noise is not a sense"),
           (lambda: cur.split(0, X, k=1), "k of at least 2"),
           (lambda: cur.undo(), "nothing to undo")]
    for edit, message in bad:
        with pytest.raises(ConfigError, match=message):
            edit()
        assert np.array_equal(cur.labels, before[0]) and (cur.version, len(cur.edits)) == before[1:]
    assert C.open_curation("k1", occ, root=tmp_path).version == before[1]


def test_stale_set_refuses_edits_and_keeps_its_versions(tmp_path):
    cur, occ = _start(tmp_path)
    cur.merge([1, 2])
    changed = occ.copy()
    changed.loc[0, "text"] = "another text with bank"
    changed.loc[0, "start"] = changed.loc[0, "text"].index("bank")
    changed.loc[0, "end"] = changed.loc[0, "start"] + 4
    stale = C.open_curation("k1", changed, root=tmp_path)
    assert stale.stale
    with pytest.raises(C.StaleCurationError, match="the corpus changed, so no edit is applied"):
        stale.merge([0, 1])
    with pytest.raises(ConfigError, match="corpus changed"):
        stale.undo()
    assert C.open_curation("k1", occ, root=tmp_path).version == 2  # nothing lost for the original corpus
    fewer = C.open_curation("k1", occ.iloc[:11], root=tmp_path)
    assert fewer.stale and "holds 11" in pytest.raises(ConfigError, fewer.rename, 0, "x").value.args[0]
    # a new start on the changed corpus keeps the old versions on disk
    new = C.start_curation("k1", changed, LABELS, root=tmp_path)
    assert not new.stale and new.version == 3 and (C.senses_dir("k1", tmp_path) / "v002.parquet").exists()


def test_two_sessions_do_not_overwrite_each_other(tmp_path):
    a, occ = _start(tmp_path)
    b = C.open_curation("k1", occ, root=tmp_path)
    a.merge([1, 2])
    with pytest.raises(ConfigError, match="changed elsewhere"):
        b.merge([3, 4])
    assert C.open_curation("k1", occ, root=tmp_path).version == 2


def test_export_csv_with_a_manifest_of_every_edit(tmp_path):
    cur, occ = _start(tmp_path)
    cur.merge([3, 4], name="=cmd()").move([0], -1)
    path = cur.export(tmp_path / "out", "senses_k1", occ, params={"target": "bank"})
    table = pd.read_csv(path)
    assert list(table.columns[:3]) == ["occurrence_id", "sense", "sense_name"] and len(table) == 12
    assert table.loc[0, "sense"] == -1 and table.loc[0, "sense_name"] == "noise"
    assert table.loc[9, "sense_name"] == "'=cmd()"  # formula-like names are neutralised
    manifest = json.loads((tmp_path / "out" / "senses_k1.manifest.json").read_text())
    params = manifest["parameters"]
    assert [e["op"] for e in params["edits"]] == ["start", "merge", "move"] and params["target"] == "bank"
    assert params["edits"][2]["occurrence_ids"] == [0] and params["version"] == 3
