"""Shift page: ranking with year bins honours "leave out thin periods", long work runs as jobs, data in Markdown is
escaped, targets in natural order (issue 9)."""

from __future__ import annotations

import pandas as pd

from tests.jobwait import open_settled, settle

PAGE = "views/shift.py"


def _thin_csv(words=("plane", "bank")) -> bytes:
    """Years 1900 / 1950 / 1990 per word: with 3 equal-width bins the middle bin holds one usage of each word."""
    rows = ["text,year"]
    for word in words:
        rows += [f"The {word} number {i} was here,1900" for i in range(6)]
        rows += [f"A new {word} called {i} came,1990" for i in range(6)]
        rows += [f"Only one {word} in the middle,1950"]
    return ("\n".join(rows) + "\n").encode()


def _open_thin(tiny_bert, words=("plane", "bank"), target="plane"):
    at = open_settled(PAGE, model=tiny_bert, corpus_kind="upload", corpus_upload=("thin.csv", _thin_csv(words)),
                      target=target, shift_perm=99, shift_boot=50)
    at = settle(at.radio(key="shift_mode").set_value("equal-width"))
    at = settle(at.slider(key="shift_bins").set_value(3))
    return at


def _errors(at):
    return [e.value for e in at.error]


def test_rank_targets_with_a_thin_year_bin_leaves_it_out(tiny_bert, cache_dir):
    at = _open_thin(tiny_bert)
    assert not _errors(at), _errors(at)
    assert at.checkbox(key="shift_drop_small").value
    table = next(d.value for d in at.dataframe if "APD p" in d.value.columns)
    assert len(table) == 1  # the thin middle bin is left out for the target itself
    at = settle(at.text_input(key="shift_rank_targets").set_value("plane, bank"))
    at = settle(at.button(key="shift_rank_button").click())
    assert not at.exception and not _errors(at), _errors(at)
    ranking = next(d.value for d in at.dataframe if "rank_apd" in d.value.columns)
    assert sorted(ranking["target"]) == ["bank", "plane"]
    assert set(ranking["n_first"]) == {6} and set(ranking["n_last"]) == {6}
    # unticked, the thin bin stays: a clear message (no traceback) that says how to leave it out
    at = settle(at.checkbox(key="shift_drop_small").uncheck())
    assert any("fewer than 2 occurrences" in e for e in _errors(at)), _errors(at)


def test_ranking_runs_as_a_job(tiny_bert, cache_dir):
    from ui import jobs

    at = _open_thin(tiny_bert)
    at = settle(at.text_input(key="shift_rank_targets").set_value("plane, bank"))
    at.button(key="shift_rank_button").click().run()
    labels = [j.label for j in jobs.registry()._jobs.values()]
    assert "Ranking 2 targets" in labels, labels
    at = settle(at)
    assert any("rank_apd" in d.value.columns for d in at.dataframe)


def test_failed_ranking_shows_the_error(tiny_bert, cache_dir):
    at = _open_thin(tiny_bert)
    at = settle(at.checkbox(key="shift_drop_small").uncheck())
    # the target itself has a thin period now: the page says so and stops before the ranking
    assert any("fewer than 2 occurrences" in e and "leave such periods out" in e for e in _errors(at)), _errors(at)
    at = settle(at.checkbox(key="shift_drop_small").check())
    at = settle(at.text_input(key="shift_rank_targets").set_value("plane, zeppelin"))
    at = settle(at.button(key="shift_rank_button").click())
    assert not at.exception
    assert any("zeppelin" in e and "does not occur" in e for e in _errors(at)), _errors(at)


def test_markdown_in_targets_and_periods_is_escaped(tiny_bert, cache_dir):
    csv = ("text,period\n" + "\n".join(f"the plane {i} flew,[p{i % 2}](https://evil.example)" for i in range(12))
           + "\n").encode()
    at = open_settled(PAGE, model=tiny_bert, corpus_kind="upload", corpus_upload=("p.csv", csv), target="plane",
                      shift_perm=99, shift_boot=50)
    assert not at.exception and not _errors(at), _errors(at)
    assert at.radio(key="shift_mode").value == "column"
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
    with_period = [t for t in shown if "evil" in t]
    assert with_period, shown
    assert all("](https" not in t for t in with_period), with_period
    assert any("\\[p0\\]\\(https" in t for t in with_period), with_period


def test_demo_targets_in_natural_order_and_labels_from_the_shared_key():
    from analysis import shift as S

    assert not hasattr(S, "_natural_key")
    labels, names = S.labels_from_column(pd.Series(["s10", "s2", "s1", "s10", "s2", "s1"]))
    assert [names[i] for i in range(3)] == ["s1", "s2", "s10"]  # equal counts: natural order breaks the tie
    per = S.make_periods(pd.DataFrame({"p": ["period 10", "period 2", "period 1"]}), period_column="p")
    assert per.names == ("period 1", "period 2", "period 10")
