"""Server paths typed on the dashboard are read only under the allowed roots (issue 9).

A dashboard served to a class must not show ``/etc/passwd`` or the server's environment (``/proc/self/environ``), and
its refusal must not tell whether a path exists. The command line keeps accepting any path.
"""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_page
from tests.conftest import ROOT

APP = str(ROOT / "app.py")
SECRET = "sensescope-test-secret-4711"


def _tree_text(at: AppTest) -> str:
    """Everything the page shows (values, labels, tables), as one string."""
    parts = []

    def walk(node):
        for attr in ("value", "label", "body", "proto"):
            try:
                parts.append(str(getattr(node, attr)))
            except Exception:  # some elements have no such field
                pass
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def _path_page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.radio(key="corpus_kind_radio").set_value("path").run()
    at.text_input[0].set_value(path).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", "~", "/etc/does-not-exist-1234",
                                  "data/../analysis/paths.py", "/etc/../etc/passwd"])
def test_paths_outside_the_allowed_roots_are_refused_without_a_trace(path, monkeypatch, cache_dir):
    monkeypatch.setenv("SENSESCOPE_TEST_SECRET", SECRET)  # would appear in /proc/self/environ
    at = _path_page(path)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "allowed folders" in errors[0] and "data" in errors[0], errors
    assert path not in errors[0] and "exist" not in errors[0]
    assert not any(m.label == "Occurrences" for m in at.metric) and not at.dataframe  # no KWIC
    text = _tree_text(at)
    assert SECRET not in text and "root:x:0:0" not in text and "def check_allowed" not in text
    assert at.session_state["corpus_kind"] == "demo"  # the refused path never became the session's corpus


def test_refusal_is_the_same_whether_or_not_the_path_exists(cache_dir):
    a = _path_page("/etc/passwd").error[0].value
    b = _path_page("/etc/no-such-file-here").error[0].value
    assert a == b


def test_demo_folder_under_data_works_as_a_relative_path(cache_dir):
    at = _path_page("data/demo/dwug_en")
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Occurrences"] == "200"
    assert "ichnography" in _tree_text(at)  # the helper sees table contents (so the checks above can fail)


def test_folder_added_by_the_environment_works(tmp_path, monkeypatch, cache_dir):
    extra = tmp_path / "class_corpora"
    extra.mkdir()
    (extra / "bank.csv").write_text("text\nthe bank opened\nthe river bank\n")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("text\nthe bank opened\n")
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", str(extra))
    at = _path_page(str(extra / "bank.csv"))
    next(t for t in at.text_input if t.label.startswith("Target forms")).set_value("bank").run()
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Occurrences"] == "2"
    at = _path_page(str(outside))
    assert "allowed folders" in at.error[0].value


def test_a_path_in_the_session_is_checked_again_by_other_pages(cache_dir):
    """Defence in depth: ui.state.documents() refuses a path that did not come through the Corpus page's box."""
    at = open_page("views/shift.py", corpus_kind="path", corpus_path="/etc/passwd", target="root")
    errors = [e.value for e in at.error]
    assert any("allowed folders" in e for e in errors), errors
    assert "root:x:0:0" not in _tree_text(at)


@pytest.mark.parametrize("typed", ["/etc", "~", "../..", "/proc/self"])
def test_model_box_refuses_folders_outside_the_roots(typed, cache_dir):
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.text_input(key="model_text").set_value(typed).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("model folder" in e and "allowed folders" in e for e in errors), errors
    assert at.session_state["model"] == ""  # unchanged: still the packaged default


def test_model_box_takes_hub_ids_and_folders_under_the_roots(cache_dir, tiny_bert, monkeypatch):
    from ui.state import checked_model, looks_like_path

    assert not looks_like_path("bert-base-uncased") and not looks_like_path("sentence-transformers/all-MiniLM-L6-v2")
    assert checked_model("bert-base-uncased") == "bert-base-uncased"
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", os.path.dirname(tiny_bert))
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.text_input(key="model_text").set_value(tiny_bert).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["model"] == os.path.realpath(tiny_bert)
    assert any("hidden states" in c.value for c in at.caption)


def test_cli_still_reads_any_path(tmp_path, cache_dir, capsys):
    """The command line's user has a shell already: no allowed roots there."""
    from analysis.cli import main

    corpus = tmp_path / "outside.csv"
    corpus.write_text("text,year\nThe plane flew.,1950\nA plane landed.,1950\n")
    assert main(["shift", str(corpus), "--target", "plane", "--year-column", "year", "--out",
                 str(tmp_path / "o")]) == 2
    assert "same year (1950)" in capsys.readouterr().err  # read, and then refused for its content only


def test_sidebar_model_choice_is_not_undone_by_the_model_box(cache_dir, tiny_bert):
    """The Corpus page's box used to put its old text back over a model chosen in the sidebar."""
    import shutil

    ckpt = cache_dir / "finetune" / "run1" / "checkpoint-5"
    shutil.copytree(tiny_bert, ckpt)
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.sidebar.selectbox(key="model_choice").set_value(str(ckpt)).run()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["model"] == str(ckpt)
    assert at.text_input(key="model_text").value == str(ckpt)
