"""Input safety seen from outside: the Corpus page with a pattern that backtracks, CSV exports a spreadsheet would
run, manifests that would name the exporter's folders, and the served dashboard's default address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import export
from analysis.paths import ROOT, display_path
from tests.apptest import open_page


# ------------------------------------------------------------------------------------------------------ Corpus page
def test_corpus_page_stops_a_catastrophic_pattern_with_a_message():
    # Without the time limit this page run never ends (the test hangs: that is how it fails).
    csv = ("text\nthe plane landed\n" + "a" * 50_000 + "b\n").encode()
    at = open_page("views/corpus.py", corpus_kind="upload", corpus_upload=("slow.csv", csv), target="(a+)+$",
                   regex=True, whole_word=False, timeout=120)
    errors = [e.value for e in at.error]
    assert any("took longer than 2 s" in e and "nested repetition" in e for e in errors), errors


# ------------------------------------------------------------------------------------------------------ CSV exports
HOSTILE = ['=HYPERLINK("https://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tx",
           "plain", "-1", "+2.5"]


def read_back(raw: bytes) -> pd.DataFrame:
    import io

    return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)


def test_csv_export_neutralises_formula_cells():
    df = pd.DataFrame({"text": HOSTILE, "score": np.arange(len(HOSTILE)) - 3.5,
                       "label": pd.Series(["=1+1"] * len(HOSTILE), dtype="string"),
                       "cat": pd.Categorical(["@x"] * len(HOSTILE))})
    back = read_back(export.table_csv(df))
    assert back["text"].tolist()[:5] == ["'" + h for h in HOSTILE[:5]]
    # Text that is only a number stays as it is (a spreadsheet reads it as that number), as does other text.
    assert back["text"].tolist()[5:] == ["plain", "-1", "+2.5"]
    assert back["score"].tolist()[:2] == ["-3.5", "-2.5"]  # numbers, negative ones too, are numbers
    assert set(back["label"]) == {"'=1+1"} and set(back["cat"]) == {"'@x"}
    assert df["text"].tolist() == HOSTILE  # the caller's frame is not changed
    assert export.table_csv(pd.DataFrame({"t": ["\r=1"]})).startswith(b"t\n'\r=1")  # a carriage return too


def test_csv_export_neutralises_formula_headers_and_save_table(tmp_path):
    df = pd.DataFrame({"=cmd()": ["=x"], "ok": [1]})
    path = export.save_table(df, tmp_path, "t", {"target": "plane"})
    assert Path(path).read_text(encoding="utf-8").splitlines() == ["'=cmd(),ok", "'=x,1"]


# ------------------------------------------------------------------------------------------------------- manifests
def test_manifest_has_no_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "cachedir"))
    params = {"model_path": "/opt/install/site-packages/some_model/model", "corpus": str(ROOT / "data" / "demo"),
              "home": "~/corpora/mine.csv", "entry": tmp_path / "cachedir" / "abc", "nested": {"p": ["/etc/passwd"]},
              "target": "plane|planes", "pattern": r"\bplan\w+", "rel": "data/x.csv", "n": 3}
    m = json.loads(export.manifest_json(params, kind="table:x"))["parameters"]
    assert m["model_path"] == "model" and m["corpus"] == "data/demo" and m["entry"] == "cache/abc"
    assert m["home"] == "mine.csv" and m["nested"] == {"p": ["passwd"]}
    assert m["target"] == "plane|planes" and m["pattern"] == r"\bplan\w+" and m["rel"] == "data/x.csv"
    assert m["n"] == 3
    text = json.dumps(m)
    assert str(ROOT) not in text and str(tmp_path) not in text and "/opt/" not in text
    assert display_path(ROOT / "data" / "demo") == "data/demo"


# -------------------------------------------------------------------------------------------- the served dashboard
@pytest.mark.slow
def test_streamlit_binds_to_localhost_by_default():
    out = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120).stdout
    assert 'address = "127.0.0.1"' in out and "gatherUsageStats = false" in out and "headless = true" in out


def test_streamlit_config_file_says_localhost_and_how_to_serve():
    import tomllib

    path = ROOT / ".streamlit" / "config.toml"
    cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    assert cfg["server"]["address"] == "127.0.0.1" and cfg["server"]["headless"] is True
    assert cfg["browser"]["gatherUsageStats"] is False and 1 <= cfg["server"]["maxUploadSize"] <= 200
    text = path.read_text(encoding="utf-8")
    assert "--server.address 0.0.0.0" in text and "SENSESCOPE_DATA_ROOTS" in text
