"""KWIC sorting, filtering and collocates on a tiny corpus, against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import kwic as K
from analysis.errors import ConfigError

TEXTS = ["the river bank was muddy", "a bank loan", "my bank account was open", "the bank closed",
         "muddy river bank erosion"]


def tiny() -> pd.DataFrame:
    starts = [t.index("bank") for t in TEXTS]
    return pd.DataFrame({"occurrence_id": range(5), "text": TEXTS, "start": starts,
                         "end": [s + 4 for s in starts], "period": ["1", "2", "2", "1", "2"]})


def test_kwic_words_left_and_right():
    lines = K.kwic_lines(tiny(), columns=["period"])
    assert list(lines["L1"]) == ["river", "a", "my", "the", "river"]
    assert list(lines["L2"]) == ["the", "", "", "", "muddy"]
    assert list(lines["R1"]) == ["was", "loan", "account", "closed", "erosion"]
    assert list(lines["R2"]) == ["muddy", "", "was", "", ""]
    assert list(lines["match"]) == ["bank"] * 5 and "period" in lines.columns


def test_kwic_sort_by_each_position_equals_hand_order():
    lines = K.kwic_lines(tiny())
    # L1: a, my, river (muddy before the, by L2), river, the
    assert list(K.sort_lines(lines, "L1")["occurrence_id"]) == [1, 2, 4, 0, 3]
    assert list(K.sort_lines(lines, "L2")["occurrence_id"]) == [1, 2, 3, 4, 0]  # no word sorts first
    assert list(K.sort_lines(lines, "R1")["occurrence_id"]) == [2, 3, 4, 1, 0]
    assert list(K.sort_lines(lines, "R2")["occurrence_id"]) == [1, 3, 4, 0, 2]
    assert list(K.sort_lines(lines, "R1", descending=True)["occurrence_id"]) == [0, 1, 4, 3, 2]
    assert list(K.sort_lines(K.sort_lines(lines, "R1"), None)["occurrence_id"]) == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="cannot sort KWIC lines by 'X1'"):
        K.sort_lines(lines, "X1")


def test_kwic_filter():
    lines = K.kwic_lines(tiny(), columns=["period"], extra={"cluster": ["r", "m", "m", "m", "r"]})
    assert list(K.filter_lines(lines, {"period": ["2"]})["occurrence_id"]) == [1, 2, 4]
    assert list(K.filter_lines(lines, {"period": ["2"], "cluster": ["r"]})["occurrence_id"]) == [4]
    assert len(K.filter_lines(lines, {"period": []})) == 5
    with pytest.raises(ConfigError, match="no column 'nope'"):
        K.filter_lines(lines, {"nope": ["x"]})


def _hand_g2(cells, expected):
    return 2 * sum(o * math.log(o / e) for o, e in zip(cells, expected) if o > 0)


def test_collocates_per_group_equal_hand_computation():
    occ = tiny()
    groups = ["river", "money", "money", "money", "river"]
    table = K.collocates(occ, groups, window=5, min_count=1, top_n=None)
    river = table[table["group"] == "river"]
    # river windows: the river was muddy | muddy river erosion  -> N1 = 7; money windows: 8 words
    assert list(river["word"]) == ["muddy", "river", "erosion", "the", "was"]
    row = river.set_index("word").loc["river"]
    assert (row["count"], row["count_ref"]) == (2, 0)
    n1, n2, n = 7, 8, 15
    assert row["g2"] == pytest.approx(_hand_g2([2, 0, 5, 8], [n1 * 2 / n, n2 * 2 / n, n1 * 13 / n, n2 * 13 / n]))
    assert row["pmi"] == pytest.approx(math.log2(2 * n / (2 * n1)))
    the = river.set_index("word").loc["the"]
    assert (the["count"], the["count_ref"]) == (1, 1)
    assert the["g2"] == pytest.approx(_hand_g2([1, 1, 6, 7], [n1 * 2 / n, n2 * 2 / n, n1 * 13 / n, n2 * 13 / n]))
    money = table[table["group"] == "money"]
    assert set(money["word"]) == {"a", "loan", "my", "account", "open", "closed"}  # 'the', 'was' are not over-used
    assert list(river["rank"]) == [1, 2, 3, 4, 5]
    # PMI ranking and a minimum count
    by_pmi = K.collocates(occ, groups, window=5, min_count=2, top_n=None, measure="pmi")
    assert list(by_pmi[by_pmi["group"] == "river"]["word"]) == ["muddy", "river"]


def test_collocates_window_and_exclusions():
    occ = tiny()
    one = K.collocates(occ, ["all"] * 5, window=1, min_count=1, top_n=None)  # one group: against the rest of the texts
    words = set(one["word"])
    assert {"river", "a", "my", "the", "was", "loan", "account", "closed", "erosion"} >= words
    assert "muddy" not in words  # two words away from the target: outside a window of 1 (and in the reference)
    ex = K.collocates(occ, ["r", "m", "m", "m", "r"], window=5, min_count=1, exclude=["river"], top_n=None)
    assert "river" not in set(ex["word"])
    with pytest.raises(ConfigError, match="at least 1 word"):
        K.collocates(occ, ["a"] * 5, window=0)
    with pytest.raises(ConfigError, match="unknown collocate measure"):
        K.collocates(occ, ["r", "m", "m", "m", "r"], measure="tfidf")


def test_distinctive_and_compare_reuse_the_counts():
    occ = tiny()
    mask = np.array([True, False, False, False, True])
    d = K.distinctive_words(occ, mask, min_count=1, top_n=None)
    c = K.collocates(occ, ["r", "m", "m", "m", "r"], min_count=1, top_n=None)
    pd.testing.assert_frame_equal(d, c[c["group"] == "r"].drop(columns=["group", "rank"]).reset_index(drop=True))
    both = K.compare_words(occ, mask, ~mask, min_count=1, top_n=None)
    assert list(both[both["side"] == "A"]["word"]) == list(d["word"])
    with pytest.raises(ConfigError, match="selection is empty"):
        K.distinctive_words(occ, np.zeros(5, dtype=bool))
    with pytest.raises(ConfigError, match="every occurrence"):
        K.distinctive_words(occ, np.ones(5, dtype=bool))


def test_kwic_table_lists_the_first_rows_and_cached_lines_equal_fresh_ones():
    from streamlit.testing.v1 import AppTest

    def page():
        import pandas as pd
        import streamlit as st

        from ui import kwic as uk

        uk.TABLE_ROWS = 10
        n = 30
        occ = pd.DataFrame({"occurrence_id": range(n), "text": [f"the Planck constant z{i}" for i in range(n)],
                            "start": [4] * n, "end": [10] * n,
                            "year": [1900 + i % 3 for i in range(n)]})
        fresh = uk.lines_section(occ, groups={}, key="a", params={}, name="fresh")
        cached = uk.lines_section(occ, groups={}, key="b", params={}, name="cached", cache_key="set-1")
        st.session_state["same"] = fresh.equals(cached) and list(cached["year"]) == list(occ["year"])

    at = AppTest.from_function(page, default_timeout=60)
    try:
        at.run()
        assert not at.exception
        assert at.session_state["same"]
        assert [len(d.value) for d in at.dataframe] == [10, 10]
        captions = [c.value for c in at.caption if "lines" in c.value]
        assert captions and all("30 of 30 lines" in c and "first 10 are listed" in c and "all 30" in c
                                for c in captions)
    finally:
        import ui.kwic

        ui.kwic.TABLE_ROWS = 5_000
