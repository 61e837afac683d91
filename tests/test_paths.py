"""Allowed roots: what a served dashboard may read (analysis.paths), and how paths appear in manifests."""

from __future__ import annotations

import os

import pytest

from analysis import paths
from analysis.paths import ENV_ROOTS, ROOT, PathNotAllowedError, check_allowed, display_path


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Known roots: data/, a cache and an HF cache in tmp_path, and one extra root given by SENSESCOPE_DATA_ROOTS."""
    extra = tmp_path / "extra_root"
    extra.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "cachedir"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv(ENV_ROOTS, str(extra))
    return tmp_path


def refusal(path) -> str:
    with pytest.raises(PathNotAllowedError) as info:
        check_allowed(path)
    return str(info.value)


def test_paths_outside_the_roots_are_refused_alike(roots):
    link = roots / "extra_root" / "link_out"
    link.symlink_to(roots / "outside" / "secret.txt")  # inside a root, pointing outside it
    refused = ["/etc/passwd", "/proc/self/environ", "~", "~/.ssh/id_rsa", "../..", "data/../../etc/passwd",
               str(ROOT / "data" / ".." / "analysis" / "paths.py"), str(link), str(roots / "outside" / "secret.txt")]
    messages = {p: refusal(p) for p in refused}
    # One message for all of them: it tells nothing about the path, not even whether it exists.
    assert len(set(messages.values())) == 1, messages
    assert refusal("/etc/passwd") == refusal("/etc/no-such-file-here") == refusal(roots / "outside" / "nope.txt")
    msg = messages["/etc/passwd"]
    assert "passwd" not in msg and "/etc" not in msg and "secret" not in msg
    assert "exist" not in msg  # neither "does not exist" nor "exists"
    # It names the allowed roots (without absolute paths) and how to add one.
    for name in ("data", "cache", "hf-cache", "extra_root", ENV_ROOTS):
        assert name in msg
    assert str(roots) not in msg and str(ROOT) not in msg


def test_paths_inside_the_roots_are_allowed(roots):
    demo = ROOT / "data" / "demo" / "dwug_en"
    assert check_allowed(demo) == demo.resolve()
    assert check_allowed("data/demo/dwug_en") == demo.resolve()  # relative to the project folder
    assert check_allowed(ROOT / "data" / "not-there-yet.csv") == (ROOT / "data" / "not-there-yet.csv").resolve()
    corpus = roots / "extra_root" / "corpus.csv"
    corpus.write_text("text\na plane\n")
    assert check_allowed(str(corpus)) == corpus.resolve()
    inner = roots / "extra_root" / "link_in"
    inner.symlink_to(corpus)  # a link that stays inside the roots is fine
    assert check_allowed(inner) == corpus.resolve()
    (roots / "cachedir").mkdir()
    assert check_allowed(roots / "cachedir" / "entry") == (roots / "cachedir" / "entry").resolve()


def test_extra_roots_come_only_from_the_environment(roots, monkeypatch):
    corpus = roots / "extra_root" / "corpus.csv"
    corpus.write_text("text\n")
    monkeypatch.delenv(ENV_ROOTS)
    refusal(corpus)
    monkeypatch.setenv(ENV_ROOTS, os.pathsep.join([str(roots / "outside"), str(roots / "extra_root")]))
    assert check_allowed(corpus) == corpus.resolve()
    assert check_allowed(roots / "outside" / "secret.txt")
    assert roots.resolve() / "extra_root" in paths.allowed_roots()


def test_a_nul_byte_is_refused_not_a_traceback(roots):
    assert "NUL" in refusal("/etc/passwd\x00")
    assert "NUL" in refusal("data/\x00x")


def test_display_path_gives_relative_names(roots):
    assert display_path(ROOT / "data" / "demo" / "dwug_en") == "data/demo/dwug_en"
    assert display_path(ROOT) == "."
    assert display_path(roots / "cachedir" / "abc" / "vectors.npy") == "cache/abc/vectors.npy"
    assert display_path(roots / "hf" / "hub" / "models--x") == "hf-cache/hub/models--x"
    assert display_path("/opt/somewhere/model") == "model"
    assert display_path("~/corpora/c.csv") == "c.csv"
    for p in (ROOT / "data", roots / "cachedir" / "x", "/opt/somewhere/model"):
        assert not display_path(p).startswith("/")
