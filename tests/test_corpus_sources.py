"""Corpus page: switching sources never dead-ends, labelled rows with several hits, uploads kept per session only,
data escaped in Markdown (issue 9)."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from analysis.corpus import ColumnSpec
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def _app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _upload(at: AppTest, name: str, data: bytes) -> None:
    at.radio(key="corpus_kind_radio").set_value("upload").run()
    at.file_uploader(key="corpus_file").set_value((name, data, "text/plain")).run()
    assert not at.exception, at.exception


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _occurrences(at: AppTest) -> int:
    return int(next(m.value for m in at.metric if m.label == "Occurrences"))


CSV = b"text,year\nthe bank opened in town,1900\na bank by the river,1950\nthe old bank closed,2000\n"
TXT = b"the bank opened\nwe sat on the bank\nno match here\n"


def test_txt_upload_after_csv_does_not_keep_the_csv_columns(cache_dir):
    at = _app()
    _upload(at, "years.csv", CSV)
    target_box = next(t for t in at.text_input if t.label.startswith("Target forms"))
    target_box.set_value("bank").run()
    assert not _errors(at), _errors(at)
    assert at.session_state["spec"].year == "year" and _occurrences(at) == 3
    at.file_uploader(key="corpus_file").set_value(("notes.txt", TXT, "text/plain")).run()
    assert not at.exception and not _errors(at), _errors(at)
    assert at.session_state["spec"] == ColumnSpec()
    assert _occurrences(at) == 2  # the typed target stays: it was not taken from the old corpus


def test_one_column_table_with_a_left_over_column_choice_shows_the_pickers(cache_dir):
    """A stale choice (here preset) must be visible and fixable on the page, not a dead end."""
    at = _app(corpus_kind="upload", corpus_upload=("notes.txt", TXT), spec=ColumnSpec(year="year"), target="bank")
    assert not _errors(at), _errors(at)
    assert at.selectbox(key="col_year").value == "(none)"
    assert _occurrences(at) == 2


def test_demo_target_is_not_kept_for_an_upload(cache_dir):
    at = _app()
    next(s for s in at.selectbox if s.label.startswith("Target (")).set_value("chairman_nn").run()
    assert at.session_state["target"] == "chairman_nn"
    at.session_state["cluster_labels"] = np.zeros(5, int)  # stands for clusters made on the Senses page
    _upload(at, "years.csv", CSV)
    assert not _errors(at), _errors(at)
    target_box = next(t for t in at.text_input if t.label.startswith("Target forms"))
    assert target_box.value == ""
    assert any("Type the target term" in i.value for i in at.info)
    assert "cluster_labels" not in at.session_state
    # and back to the demo: its default target again, no error
    at.radio(key="corpus_kind_radio").set_value("demo").run()
    assert not _errors(at) and at.session_state["target"] == "plane_nn" and _occurrences(at) == 200


def test_a_new_upload_with_other_columns_replaces_the_old_choice(cache_dir):
    at = _app()
    _upload(at, "labels.csv", b"body,sense\nthe bank opened,money\nthe river bank,river\n")
    next(t for t in at.text_input if t.label.startswith("Target forms")).set_value("bank").run()
    assert at.session_state["spec"].text == "body" and at.session_state["spec"].label == "sense"
    at.file_uploader(key="corpus_file").set_value(("years.csv", CSV, "text/csv")).run()
    assert not at.exception and not _errors(at), _errors(at)
    spec = at.session_state["spec"]
    assert spec.text == "text" and spec.label is None and spec.year == "year"
    assert _occurrences(at) == 3


LABELLED = (b"text,label\n"
            b"the bank and the other bank and a third bank,money\n"
            b"a bank of the river,river\n"
            b"bank after bank without a label,\n")


def test_labelled_rows_with_several_hits_say_so_and_offer_all_hits(cache_dir):
    at = _app()
    _upload(at, "lab.csv", LABELLED)
    next(t for t in at.text_input if t.label.startswith("Target forms")).set_value("bank").run()
    assert not _errors(at), _errors(at)
    # row 1 keeps its first hit (2 left out), row 2 its one hit, the unlabelled row both
    assert _occurrences(at) == 4
    notes = [i.value for i in at.info if "further hits" in i.value]
    assert notes == ["2 further hits in labelled rows were left out: a row's label is given to its first hit."]
    box = at.checkbox(key="labelled_hits_all")
    assert box.label == "All hits (each keeps the row's label)" and not box.value
    box.check().run()
    assert at.session_state["labelled_hits"] == "all" and _occurrences(at) == 6
    assert not any("further hits" in i.value for i in at.info)
    at.checkbox(key="labelled_hits_all").uncheck().run()
    assert at.session_state["labelled_hits"] == "first" and _occurrences(at) == 4


def test_labelled_hits_choice_is_part_of_the_settings_key(cache_dir):
    at = _app()
    _upload(at, "lab.csv", LABELLED)
    next(t for t in at.text_input if t.label.startswith("Target forms")).set_value("bank").run()
    from ui import state

    at.session_state["labelled_hits"] = "all"
    at.run()
    assert _occurrences(at) == 6
    assert "labelled_hits" in state.DEFAULTS and state.DEFAULTS["labelled_hits"] == "first"


# ----------------------------------------------------------------------------------------------- upload memory
MARKER = "zqxjmarkerbank"


def _cached_blobs():
    """Every value held by st.cache_data in this process (pickled bytes), over all caches."""
    from streamlit.runtime.caching.cache_data_api import _data_caches

    for caches in list(_data_caches._function_caches.values()):
        for cache in list(caches.values()):
            mem = getattr(cache.storage, "_mem_cache", None)
            if mem is None:  # the wrapper keeps its in-memory layer one level down in some versions
                mem = getattr(getattr(cache.storage, "_persist_storage", None), "_mem_cache", {})
            yield from list(mem.values())


def test_upload_is_not_held_by_a_server_wide_cache(cache_dir):
    data = ("text,label\n" + "\n".join(f"the {MARKER} number {i} bank,s{i % 3}" for i in range(40)) + "\n").encode()
    at = _app()
    _upload(at, "marker.csv", data)
    next(t for t in at.text_input if t.label.startswith("Target forms")).set_value("bank").run()
    assert not _errors(at), _errors(at)
    assert _occurrences(at) == 40
    blobs = list(_cached_blobs())
    assert blobs, "no st.cache_data entries seen: the check would prove nothing"
    assert not [b for b in blobs if MARKER.encode() in bytes(b)], "an upload's content is in a server-wide cache"
    # what the page read from the upload is kept in the session instead
    assert MARKER in at.session_state["_upload_docs"][1]["text"].iloc[0]


def test_served_cache_wrappers_take_no_upload_bytes():
    from ui import cached

    assert not hasattr(cached, "load_corpus_bytes") and not hasattr(cached, "raw_columns_bytes")


# -------------------------------------------------------------------------------------------------- escaping
def test_markdown_in_a_target_and_file_name_is_shown_literally(cache_dir):
    link = "[x](https://evil.example)"
    at = _app()
    _upload(at, f"{link}.txt", b"see [x](https://evil.example) here\nand [x](https://evil.example) again\n")
    next(t for t in at.text_input if t.label.startswith("Target forms")).set_value(link).run()
    assert not at.exception
    line = next(c.value for c in at.sidebar.caption if "**Target:**" in c.value)
    corpus_line, target_line = line.split("\n")
    for part in (corpus_line, target_line):  # every bracket and parenthesis escaped: no live link
        assert "\\[x\\]\\(https" in part and "[x](" not in part, part
