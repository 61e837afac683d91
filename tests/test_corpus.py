"""Corpus loading and occurrence finding."""

import json

import pandas as pd
import pytest

from analysis.corpus import (ColumnSpec, find_occurrences, kwic, kwic_html, load_corpus, parse_years, texts_and_spans)
from analysis.errors import ConfigError, CorpusError, NoOccurrencesError
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
    occ = find_occurrences(docs, "plane|planes", labelled_hits="all")
    assert occ["form"].tolist() == ["plane", "Planes", "plane"]
    for t, s, e, f in zip(occ["text"], occ["start"], occ["end"], occ["form"]):
        assert t[s:e] == f
    assert occ["label"].tolist() == ["aircraft", "aircraft", "geometry"]
    # By default a labelled row keeps its first hit only (row "a" has two).
    first = find_occurrences(docs, "plane|planes")
    assert first["form"].tolist() == ["plane", "plane"] and first.attrs["labelled_hits_dropped"] == 1


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


# ------------------------------------------------------------------------------------------- patterns that backtrack
def test_catastrophic_regex_is_stopped_with_a_clear_message():
    # (a+)+$ backtracks exponentially on a's followed by a b: without a time limit this search never ends (the test
    # would hang, which is its failure mode; nothing here measures time).
    docs = pd.DataFrame({"doc_id": ["1", "2"], "text": ["a plane", "a" * 50_000 + "b"]})
    with pytest.raises(CorpusError, match=r"took longer than 2 s.*avoid nested repetition like \(a\+\)\+"):
        find_occurrences(docs, "(a+)+$", regex=True)


def test_deadline_covers_the_whole_corpus(monkeypatch):
    # Many documents, each far under the limit on its own (tens of milliseconds), must not add up to an unbounded
    # search: the limit is for the corpus, not per document.
    import analysis.textsearch as search_mod

    monkeypatch.setattr(search_mod, "REGEX_DEADLINE_S", 0.2, raising=False)
    docs = pd.DataFrame({"doc_id": [str(i) for i in range(200)], "text": ["a" * 24 + "b"] * 200})
    with pytest.raises(CorpusError, match="took longer than 0.2 s"):
        find_occurrences(docs, "(a|aa)+$", regex=True)


def test_search_keeps_unicode_whole_words_and_case_folding():
    docs = pd.DataFrame({"doc_id": ["1"], "text": ["Café cafés CAFÉ café_x naïve Naïve"]})
    assert find_occurrences(docs, "café")["form"].tolist() == ["Café", "CAFÉ"]  # é is a word character
    assert find_occurrences(docs, "naïve", case_sensitive=True)["form"].tolist() == ["naïve"]
    assert find_occurrences(docs, r"caf\w+", regex=True)["form"].tolist() == ["Café", "cafés", "CAFÉ", "café_x"]
    with pytest.raises(CorpusError, match="not a valid regular expression"):
        find_occurrences(docs, "caf(é", regex=True)


# ------------------------------------------------------------------------------------------ no silently altered values
def test_negative_and_bc_years_keep_their_sign():
    years = parse_years(pd.Series(["-500", "500 BC", "44 BCE", "−12", -300, "1836-05-01", "May 1901", "+20", "2.5"]))
    assert years.tolist()[:8] == [-500, -500, -44, -12, -300, 1836, 1901, 20]
    assert pd.isna(years.iloc[8])


def test_non_integral_offsets_are_refused_not_rounded(tmp_path):
    p = tmp_path / "spans.csv"
    pd.DataFrame({"text": ["a plane here", "one plane"], "start": ["2", "4.0"], "end": ["7", "9"]}).to_csv(
        p, index=False)
    assert find_occurrences(load_corpus(p))["form"].tolist() == ["plane", "plane"]  # 4.0 is a whole number
    pd.DataFrame({"text": ["a plane here", "one plane"], "start": [2, 2.5], "end": [7, 9]}).to_csv(p, index=False)
    with pytest.raises(CorpusError, match=r"column 'start' row 2 holds '2.5'.*not a whole number"):
        load_corpus(p)


def test_jsonl_lone_surrogate_is_refused_naming_the_line(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"text": "a plane"}\n{"text": "bad \\ud800 plane"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 2 .*lone UTF-16 surrogate"):
        load_corpus(p)
    # A surrogate pair is one character, and an escaped backslash is text: both load.
    p.write_text('{"text": "ok \\ud83d\\ude00 plane"}\n{"text": "path \\\\ud800 plane"}\n', encoding="utf-8")
    assert load_corpus(p)["text"].tolist() == ["ok \U0001F600 plane", "path \\ud800 plane"]


# ---------------------------------------------------------------------------------------- labelled rows, several hits
def test_labelled_rows_keep_their_first_hit_by_default():
    docs = pd.DataFrame({"doc_id": ["a", "b", "c"], "text": ["plane and plane again plane", "plane, plane", "plane"],
                         "label": pd.Series(["air", None, "geo"], dtype="string")})
    occ = find_occurrences(docs, "plane")
    assert occ["doc_id"].tolist() == ["a", "b", "b", "c"]  # the unlabelled row keeps both hits
    assert occ["start"].tolist() == [0, 0, 7, 0] and occ["occurrence_id"].tolist() == [0, 1, 2, 3]
    assert occ.attrs["labelled_hits_dropped"] == 2
    every = find_occurrences(docs, "plane", labelled_hits="all")
    assert every["doc_id"].tolist() == ["a", "a", "a", "b", "b", "c"] and every.attrs["labelled_hits_dropped"] == 0
    assert every["label"].tolist()[:3] == ["air"] * 3
    with pytest.raises(ConfigError, match="labelled_hits"):
        find_occurrences(docs, "plane", labelled_hits="some")


def test_given_spans_are_not_affected_by_labelled_hits():
    docs = load_corpus(DEMO / "dwug_en")
    occ = find_occurrences(docs, "plane_nn")
    assert len(occ) == 200 and occ.attrs["labelled_hits_dropped"] == 0
    assert len(find_occurrences(docs, "plane_nn", labelled_hits="all")) == 200


# ------------------------------------------------------------------------------------------------ natural label order
def test_label_counts_sort_naturally_on_the_corpus_page():
    from analysis.corpus import summarize
    from analysis.plots.corpus import count_table, plot_counts

    labels = ["s10", "s2", "s0", "s11", "s1", "s2"]
    occ = pd.DataFrame({"doc_id": list("abcdef"), "form": ["x"] * 6, "label": labels})
    order = ["s0", "s1", "s2", "s10", "s11"]
    assert list(summarize(occ)["label"]) == order and summarize(occ)["label"]["s2"] == 2
    table = count_table(occ, "label")
    assert table["label"].tolist() == order
    fig = plot_counts(table, column="label")
    assert list(fig.to_dict()["data"][0]["x"]) == order
    assert list(fig.layout.xaxis.categoryarray) == order


def test_legends_and_heatmaps_sort_labels_naturally():
    from analysis.plots.senses import plot_contingency, plot_projection

    labels = ["s10", "s2", "s0", "s11", "s1"]
    view = pd.DataFrame({"occurrence_id": range(5), "x": range(5), "y": range(5), "label": labels})
    assert [t["name"] for t in plot_projection(view, color="label").to_dict()["data"]] == \
        ["s0", "s1", "s2", "s10", "s11"]
    table = pd.DataFrame([[1, 2, 3, 4, 5]], index=["c0"], columns=labels)
    (hm,) = plot_contingency(table).to_dict()["data"]
    assert list(hm["x"]) == ["s0", "s1", "s2", "s10", "s11"]


def _content_hash_one_piece_at_a_time(occ: pd.DataFrame) -> str:
    """The definition of the occurrences' content hash, one update per piece (cache keys depend on these bytes)."""
    import hashlib

    h = hashlib.sha256()
    for t, s, e in zip(occ["text"], occ["start"], occ["end"]):
        h.update(f"{int(s)}:{int(e)}:{len(t)}\x00".encode())
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return h.hexdigest()[:20]


def test_content_hash_keeps_its_bytes_and_sees_every_change():
    """The fast content hash (one encode per block) hashes the same bytes as one update per piece, for texts with
    accents, emoji, a lone surrogate and spans given as floats; changing one span or one character changes it."""
    import numpy as np

    from analysis.corpus import content_hash

    rng = np.random.default_rng(3)
    alphabet = list("abc xyzÉéß中文") + ["😀", "\ud800"]
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 30))) for _ in range(250_123)]
    occ = pd.DataFrame({"text": pd.Series(texts, dtype=object), "start": rng.integers(0, 5, len(texts)).astype(float),
                        "end": rng.integers(5, 9, len(texts))})
    assert content_hash(occ) == _content_hash_one_piece_at_a_time(occ)
    arrow = occ.assign(text=pd.Series([t.replace("\ud800", "?") for t in texts], dtype="string[pyarrow]"))
    assert content_hash(arrow) == _content_hash_one_piece_at_a_time(arrow)
    moved = occ.copy()
    moved.loc[200_001, "end"] += 1
    assert content_hash(moved) != content_hash(occ)
    edited = occ.copy()
    edited.loc[199_999, "text"] = edited.loc[199_999, "text"] + "a"
    assert content_hash(edited) != content_hash(occ)
