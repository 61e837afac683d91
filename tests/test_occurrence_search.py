"""Searching occurrences by text (with a deadline) and their nearest neighbours by cosine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import occurrence_search as OS
from analysis.errors import ConfigError, SenseScopeError
from tests.test_kwic import tiny


def test_substring_search_in_context_is_literal_and_case_insensitive():
    occ = tiny()
    res = OS.search_occurrences(occ, "RIVER")
    assert list(np.flatnonzero(res.mask)) == [0, 4] and res.n == 2 and res.ids == [0, 4]
    assert list(res.lines["match"]) == ["bank", "bank"]
    assert res.lines["found"].iloc[0] == "the [river] bank was muddy"
    assert OS.search_occurrences(occ, "a.", regex=False).n == 0  # the dot is literal here ...
    assert OS.search_occurrences(occ, "RIVER", case_sensitive=True).n == 0


def test_regex_search_and_metadata_columns():
    occ = tiny()
    assert OS.search_occurrences(occ, r"\bm\w+y\b", regex=True).ids == [0, 4]  # muddy, not my
    assert OS.search_occurrences(occ, "^2$", regex=True, column="period").ids == [1, 2, 4]
    occ["note"] = [None, "x", "y", None, "x"]
    assert OS.search_occurrences(occ, "x", column="note").ids == [1, 4]  # missing values never match
    assert OS.searchable_columns(occ)[0] == "text" and "period" in OS.searchable_columns(occ)


def test_bad_searches_have_clear_messages():
    occ = tiny()
    with pytest.raises(ConfigError, match=r"the search '\(unclosed' is not a valid regular expression"):
        OS.search_occurrences(occ, "(unclosed", regex=True)
    with pytest.raises(ConfigError, match="type something"):
        OS.search_occurrences(occ, "  ")
    with pytest.raises(ConfigError, match="no column 'nope'"):
        OS.search_occurrences(occ, "x", column="nope")
    slow = pd.DataFrame({"occurrence_id": [0], "text": ["a" * 30000 + "b"], "start": [0], "end": [1]})
    with pytest.raises(SenseScopeError, match="took longer than"):
        OS.search_occurrences(slow, "(a+)+$", regex=True, limit_s=0.3)


def test_neighbours_equal_numpy_cosine_top_k():
    rng = np.random.default_rng(3)
    V = rng.normal(size=(40, 3, 8)).astype(np.float32)
    for spec, X in ((1, V[:, 1, :]), ((1, 2), V[:, 1:3, :].mean(axis=1)), (-1, V[:, 2, :])):
        found = OS.neighbours_of(V, [0, 1, 2], spec, 7, k=5)
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        sims = U @ U[7]
        sims[7] = -np.inf
        expect = np.argsort(-sims)[:5]
        assert list(found["index"]) == list(expect)
        assert np.allclose(found["similarity"], sims[expect], atol=1e-6)
        assert list(found["rank"]) == [1, 2, 3, 4, 5]
        assert 7 not in set(found["index"])


def test_neighbours_ties_keep_row_order_and_bad_input():
    X = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], dtype=float)
    assert list(OS.nearest_neighbours(X, 0, k=3)["index"]) == [1, 3, 2]
    assert len(OS.nearest_neighbours(X, 0, k=99)) == 3
    with pytest.raises(ConfigError, match="no occurrence 9"):
        OS.nearest_neighbours(X, 9)
    with pytest.raises(ConfigError, match="layer 5 is not in"):
        OS.neighbours_of(np.zeros((4, 2, 2)), [0, 1], 5, 0)
    lines = OS.neighbour_lines(tiny(), OS.nearest_neighbours(np.eye(5) + 0.1, 0, k=2), extra={"cluster": list("abcde")})
    assert list(lines.columns[:6]) == ["rank", "similarity", "occurrence_id", "left", "match", "right"]
    assert list(lines["cluster"]) == ["b", "c"]
