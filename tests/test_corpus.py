"""Corpus loading and occurrence finding."""

import json

import pandas as pd
import pytest

from analysis.corpus import (ColumnSpec, find_occurrences, kwic, kwic_html, load_corpus, parse_years, texts_and_spans)
from analysis.errors import CorpusError, NoOccurrencesError
from tests.conftest import DEMO

ROWS = [
    {"id": "a", "text": "The plane landed. Planes are loud.", "year": "1901", "sense": "aircraft", "src": "x"},
    {"id": "b", "text": "Project the cube onto a plane; the planer smooths wood.", "year": "1850-03-01",
     "sense": "geometry", "src": "y"},
    {"id": "c", "text": "No target here, only airplanes.", "year": "n.d.", "sense": None, "src": "z"},
]


def write_all_formats(tmp_path):
    df = pd.DataFrame(ROWS)
    paths = {}
    paths["csv"] = tmp_path / "c.csv"
    df.to_csv(paths["csv"], index=False)
    paths["tsv"] = tmp_path / "c.tsv"
    df.to_csv(paths["tsv"], index=False, sep="\t")
    paths["jsonl"] = tmp_path / "c.jsonl"
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    paths["parquet"] = tmp_path / "c.parquet"
    df.to_parquet(paths["parquet"])
    paths["bom"] = tmp_path / "bom.csv"
    paths["bom"].write_bytes(b"\xef\xbb\xbf" + df.to_csv(index=False).encode())
    return paths


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "bom"])
def test_formats_load_the_same(tmp_path, fmt):
    path = write_all_formats(tmp_path)[fmt]
    docs = load_corpus(path, ColumnSpec(text="text", id="id", year="year", label="sense"))
    assert list(docs["doc_id"]) == ["a", "b", "c"]
    assert docs["year"].tolist()[:2] == [1901, 1850] and pd.isna(docs["year"].iloc[2])
    assert "src" in docs.columns  # other columns kept as metadata
    occ = find_occurrences(docs, "plane|planes")
    assert occ["form"].tolist() == ["plane", "Planes", "plane"]
    for t, s, e, f in zip(occ["text"], occ["start"], occ["end"], occ["form"]):
        assert t[s:e] == f
    assert occ["label"].tolist() == ["aircraft", "aircraft", "geometry"]


def test_whole_word_case_and_regex():
    docs = pd.DataFrame({"doc_id": ["1"], "text": ["Plane planes planer airplane PLANE"]})
    assert find_occurrences(docs, "plane")["form"].tolist() == ["Plane", "PLANE"]
    assert find_occurrences(docs, "plane|planes", case_sensitive=True)["form"].tolist() == ["planes"]
    assert find_occurrences(docs, "plane", whole_word=False)["form"].tolist() == ["Plane", "plane", "plane", "plane",
                                                                                 "PLANE"]
    assert find_occurrences(docs, r"\bplan\w+", regex=True)["form"].tolist() == ["Plane", "planes", "planer",
                                                                                "PLANE"]


def test_no_occurrence_is_clear():
    docs = pd.DataFrame({"doc_id": ["1"], "text": ["nothing to see"]})
    with pytest.raises(NoOccurrencesError, match="does not occur"):
        find_occurrences(docs, "plane")
    with pytest.raises(CorpusError, match="regular expression"):
        find_occurrences(docs, "(", regex=True)


def test_plain_text_lines_and_blocks(tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("first plane\nsecond plane\n\n", encoding="utf-8")
    assert len(load_corpus(p)) == 2
    p2 = tmp_path / "blocks.txt"
    p2.write_text("a plane\nwrapped line\n\nsecond block plane\n", encoding="utf-8")
    docs = load_corpus(p2)
    assert docs["text"].tolist() == ["a plane wrapped line", "second block plane"]


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(empty)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("text\ncaf\xe9 plane\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_corpus(bad)
    ok = tmp_path / "ok.csv"
    pd.DataFrame(ROWS).to_csv(ok, index=False)
    with pytest.raises(CorpusError, match="no column 'body'"):
        load_corpus(ok, ColumnSpec(text="body"))
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing.csv")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a plane"}\n{not json\n')
    with pytest.raises(CorpusError, match="line 2"):
        load_corpus(broken)


def test_given_spans_and_out_of_range(tmp_path):
    p = tmp_path / "spans.csv"
    pd.DataFrame({"text": ["a plane here", "x"], "start": [2, 0], "end": [7, 5]}).to_csv(p, index=False)
    docs = load_corpus(p)
    with pytest.raises(CorpusError, match="outside its text"):
        find_occurrences(docs)
    pd.DataFrame({"text": ["a plane here"], "start": [2], "end": [7]}).to_csv(p, index=False)
    occ = find_occurrences(load_corpus(p))
    assert occ["form"].tolist() == ["plane"]


def test_dwug_demo_loads_with_labels_and_spans():
    docs = load_corpus(DEMO / "dwug_en")
    assert set(docs["target"]) == {"plane_nn", "gas_nn", "chairman_nn"}
    occ = find_occurrences(docs, "plane_nn")
    assert len(occ) == 200
    assert occ["form"].str.lower().str.startswith("plan").all()  # plane, planes, planing
    assert set(occ["period"]) == {"1", "2"} and occ["year"].notna().all()
    assert occ["label"].notna().sum() >= 190  # the noise cluster (-1) is left unlabelled
    single = load_corpus(DEMO / "dwug_en" / "data" / "gas_nn" / "uses.csv")
    assert set(single["target"]) == {"gas_nn"} and single["label"].notna().any()


def test_years_and_kwic():
    years = parse_years(pd.Series(["1836", "May 1901", 1950, 1950.0, None, "undated"]))
    assert years.tolist()[:4] == [1836, 1901, 1950, 1950] and years.isna().sum() == 2
    text = "x " * 50 + "the <plane> & more"
    left, match, right = kwic(text, text.index("<plane>"), text.index("<plane>") + 7, width=10)
    assert match == "<plane>" and left.endswith("the ")
    assert "&lt;plane&gt;" in kwic_html(text, text.index("<plane>"), text.index("<plane>") + 7)


def test_texts_are_shared_between_spans():
    docs = pd.DataFrame({"doc_id": ["1", "2"], "text": ["plane plane", "one plane"]})
    occ = find_occurrences(docs, "plane")
    texts, spans = texts_and_spans(occ)
    assert texts == ["plane plane", "one plane"] and [s[0] for s in spans] == [0, 0, 1]


def test_count_table_orders_labels_naturally():
    from analysis.plots.corpus import count_table

    df = pd.DataFrame({"label": pd.Series(["10", "2", "1", None, "noise", "2"], dtype="string")})
    table = count_table(df, "label")
    assert table["label"].tolist() == ["1", "2", "10", "noise", "(none)"]
    assert table["occurrences"].tolist() == [1, 2, 1, 1, 1]
