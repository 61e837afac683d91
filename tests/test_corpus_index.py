"""Corpus index (analysis.corpus_index): counts against an independent count, sampling, resuming, corruption, bad
input, and the ``index`` / ``occurrences`` subcommands. Planted data in temp folders; no timing asserted."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import zstandard
from scipy.stats import chisquare

from analysis.cli import main as cli
from analysis.corpus import ColumnSpec, find_occurrences, load_corpus
from analysis.corpus_index import build, build_index, count_hits, open_index, sample_occurrences, verify
from analysis.errors import CorpusError
from tests.conftest import ROOT
from tests.killing import blocking_cli

FILLER = "the of river bank Ökonomie naïve über and money flows straße sails".split()
# (text, hits of the target "café|plane"): at the start and end, inside longer words (no hit), across case,
# next to non-ASCII letters and punctuation, several in one paragraph
PLANTED = [
    ("café at the start", 1), ("ends with a Plane", 1), ("CAFÉ and café and Café", 3), ("cafés are not café", 1),
    ("airplane planes biplane planet", 0), ("Xcafé caféX _café café_", 0), ("plane,plane;PLANE.", 3),
    ("überplane plane-über", 1), ("l'café (plane) «café»", 3), ("naïve café\nplane on a new line", 2),
]


def independent_count(texts, forms) -> list[int]:
    """Hits per text with the standard library's re (not the regex module the index uses)."""
    body = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    pat = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
    return [len(pat.findall(t)) for t in texts]


def make_docs(n: int, seed: int = 1) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        planted, _ = PLANTED[i % len(PLANTED)] if rng.random() < 0.6 else ("", 0)
        pos = rng.randint(0, len(words))
        text = " ".join(words[:pos] + ([planted] if planted else []) + words[pos:])
        rows.append({"text": text, "yr": str(1990 + i % 7), "grp": f"p{i % 3}", "src": f"s{i}"})
    return pd.DataFrame(rows)


def write_mixed_folder(folder, docs: pd.DataFrame) -> None:
    """The same documents split over CSV, gzipped JSONL and zstd-compressed TSV (texts have no tabs or quotes)."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b, c = np.array_split(np.arange(len(docs)), 3)
    docs.iloc[a].to_csv(folder / "a.csv", index=False)
    sub = folder / "sub"
    sub.mkdir()
    with gzip.open(sub / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        for rec in docs.iloc[b].to_dict("records"):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tsv = docs.iloc[c].assign(text=lambda d: d["text"].str.replace("\n", " ")).to_csv(sep="\t", index=False)
    (sub / "c.tsv.zst").write_bytes(zstandard.ZstdCompressor().compress(tsv.encode("utf-8")))
    (folder / "README.md").write_text("not a corpus file: passed over")


SPEC = ColumnSpec(year="yr", period="grp")


def test_counts_equal_an_independent_count(tmp_path):
    docs = make_docs(400)
    write_mixed_folder(tmp_path / "corpus", docs)
    index = build_index([tmp_path / "corpus"], tmp_path / "ix", SPEC, batch_rows=37)
    texts = list(docs["text"].iloc[:267]) + list(docs["text"].iloc[267:].str.replace("\n", " "))
    per_doc = independent_count(texts, ["café", "plane"])
    counts = count_hits(index, "café|plane")
    assert counts["total"] == sum(per_doc) > 0
    assert counts["documents"] == sum(1 for c in per_doc if c)
    years = docs["yr"].to_numpy()
    assert counts["per_year"] == {y: sum(c for c, yy in zip(per_doc, years) if yy == y) for y in sorted(set(years))
                                  if any(c for c, yy in zip(per_doc, years) if yy == y)}
    assert sum(counts["per_period"].values()) == counts["total"]
    # the planted table is right by construction: each planted text alone gives its stated count
    assert independent_count([t for t, _ in PLANTED], ["café", "plane"]) == [h for _, h in PLANTED]
    assert count_hits(index, "CAFÉ", case_sensitive=True)["total"] == sum(t.count("CAFÉ") for t in texts)


def test_index_occurrences_equal_find_occurrences(tmp_path):
    docs = make_docs(120)
    docs.to_csv(tmp_path / "c.csv", index=False)
    index = build_index([tmp_path / "c.csv"], tmp_path / "ix", SPEC, batch_rows=25)
    ref = find_occurrences(load_corpus(tmp_path / "c.csv", SPEC), "café|plane")
    occ = sample_occurrences(index, "café|plane")
    pd.testing.assert_frame_equal(occ, ref, check_dtype=False)
    cut = sample_occurrences(index, "café|plane", context_chars=4)
    assert (cut["text"].str.len() <= cut["form"].str.len() + 8).all()
    assert [t[s:e] for t, s, e in zip(cut["text"], cut["start"], cut["end"])] == list(ref["form"])
    assert [t[o:o + len(c)] for t, o, c in zip(ref["text"], cut["text_offset"], cut["text"])] == list(cut["text"])


def test_regex_target_and_substring(tmp_path):
    docs = make_docs(90)
    docs.to_csv(tmp_path / "c.csv", index=False)
    index = build_index([tmp_path / "c.csv"], tmp_path / "ix", SPEC)
    full = load_corpus(tmp_path / "c.csv", SPEC)
    for target, opts in (("caf[ée]s?", {"regex": True}), ("plane", {"whole_word": False})):
        assert count_hits(index, target, **opts)["total"] == len(find_occurrences(full, target, **opts))


def test_sampling_is_seeded_and_per_period_caps(tmp_path):
    docs = make_docs(300)
    docs.to_csv(tmp_path / "c.csv", index=False)
    index = build_index([tmp_path / "c.csv"], tmp_path / "ix", SPEC, batch_rows=50)
    a = sample_occurrences(index, "café|plane", n=25, seed=3)
    b = sample_occurrences(index, "café|plane", n=25, seed=3)
    c = sample_occurrences(index, "café|plane", n=25, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 25 and not a[["doc_id", "start"]].equals(c[["doc_id", "start"]])
    capped = sample_occurrences(index, "café|plane", n=10, per_period=True, seed=0)
    assert capped["period"].value_counts().to_dict() == {"p0": 10, "p1": 10, "p2": 10}
    total = count_hits(index, "café|plane")["total"]
    assert len(sample_occurrences(index, "café|plane", n=10 ** 6)) == total  # n above the hits: all of them


def test_sampling_is_uniform_over_hits(tmp_path):
    sizes = {"s0": 40, "s1": 80, "s2": 120, "s3": 160}  # planted strata: hits per period
    rows = [{"text": f"one plane here {i}", "grp": g} for g, k in sizes.items() for i in range(k)]
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(tmp_path / "c.csv", index=False)
    index = build_index([tmp_path / "c.csv"], tmp_path / "ix", ColumnSpec(period="grp"))
    seen = {g: 0 for g in sizes}
    for seed in range(200):
        for g in sample_occurrences(index, "plane", n=20, seed=seed)["period"]:
            seen[g] += 1
    total = sum(sizes.values())
    observed = [seen[g] for g in sizes]
    expected = [sum(observed) * k / total for k in sizes.values()]
    assert chisquare(observed, expected).pvalue > 1e-3, (observed, expected)


_BLOCKING_BUILD = blocking_cli("analysis.corpus_index.build", "write_part")


def _frames(index) -> pd.DataFrame:
    idx = open_index(index)
    return pd.concat([pd.read_parquet(f) for f in idx.files], ignore_index=True)


def test_killed_build_resumes_and_equals_an_uninterrupted_build(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = make_docs(200)
    for k, part in enumerate(np.array_split(np.arange(200), 4)):
        docs.iloc[part].to_csv(corpus / f"f{k}.csv", index=False)
    marker, out = tmp_path / "blocked", tmp_path / "ix"
    # one batch (one write_part call) per file: the third call blocks, after two files are finished
    args = ["index", str(corpus), "--out", str(out), "--year-column", "yr", "--period-column", "grp"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_BUILD, str(marker), "2", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # states are waited for, not timed
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    err = proc.communicate()[1].decode(errors="replace")
    assert alive and marker.exists(), f"the build did not reach its third part: {err[-2000:]}"
    assert not out.exists()  # nothing half-built under the index's name
    partial = tmp_path / "ix.partial"
    assert len(list(partial.glob("parts/*/DONE.json"))) == 2
    calls = []
    real = build.write_part
    monkeypatch.setattr(build, "write_part", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = build_index([corpus], out, SPEC)
    assert len(calls) == 2  # only the two unfinished files were written again
    assert not partial.exists() and verify(resumed, deep=True) is None
    fresh = build_index([corpus], tmp_path / "fresh", SPEC)
    pd.testing.assert_frame_equal(_frames(resumed), _frames(fresh))
    assert count_hits(resumed, "café|plane") == count_hits(fresh, "café|plane")


def test_corrupt_or_partial_index_is_detected_and_rebuilt(tmp_path):
    make_docs(150).to_csv(tmp_path / "c.csv", index=False)
    index = build_index([tmp_path / "c.csv"], tmp_path / "ix", SPEC, batch_rows=40)
    good = count_hits(index, "café|plane")
    part = index / open_index(index).manifest["files"][1]["path"]
    data = bytearray(part.read_bytes())
    part.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(CorpusError, match="has .* bytes, not"):
        count_hits(index, "café|plane")
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped: only the checksum sees it
    part.write_bytes(bytes(data))
    assert verify(index) is None and "checksum" in verify(index, deep=True)
    rebuilt = build_index([tmp_path / "c.csv"], index, SPEC, batch_rows=40)
    assert verify(rebuilt, deep=True) is None and count_hits(rebuilt, "café|plane") == good
    (index / "manifest.json").unlink()
    with pytest.raises(CorpusError, match="did not finish"):
        sample_occurrences(index, "plane", n=3)


def test_bad_file_in_a_folder_is_named_and_skipped_only_on_request(tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    make_docs(30).to_csv(folder / "good.csv", index=False)
    (folder / "bad.csv.gz").write_bytes(b"this is not gzip data at all")
    with pytest.raises(CorpusError, match=re.escape(str(folder / "bad.csv.gz"))):
        build_index([folder], tmp_path / "ix", SPEC)
    assert not (tmp_path / "ix").exists()
    assert cli(["index", str(folder), "--out", str(tmp_path / "ix"), "--year-column", "yr"]) == 2
    assert "bad.csv.gz" in capsys.readouterr().err
    assert cli(["index", str(folder), "--out", str(tmp_path / "ix"), "--year-column", "yr", "--skip-bad"]) == 0
    manifest = open_index(tmp_path / "ix").manifest
    assert [s["path"] for s in manifest["skipped"]] == [str(folder / "bad.csv.gz")]
    assert manifest["documents"] == 30


def test_mixed_schemas_name_the_files(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    pd.DataFrame({"text": ["a plane"], "yr": ["1990"]}).to_csv(folder / "a.csv", index=False)
    pd.DataFrame({"text": ["a plane"], "author": ["x"]}).to_csv(folder / "b.csv", index=False)
    with pytest.raises(CorpusError, match="mixed schemas") as err:
        build_index([folder], tmp_path / "ix")
    assert "a.csv" in str(err.value) and "b.csv" in str(err.value) and "author" in str(err.value)


def test_plain_text_paragraphs_match_load_corpus(tmp_path):
    text = "First para café\nstill first.\n\n  Second plane para.\n\n\nThird CAFÉ.\n"
    path = tmp_path / "t.txt.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    (tmp_path / "t.txt").write_text(text)
    index = build_index([path], tmp_path / "ix", batch_rows=1)
    occ = sample_occurrences(index, "café|plane")
    pd.testing.assert_frame_equal(occ, find_occurrences(load_corpus(tmp_path / "t.txt"), "café|plane"))


def test_occurrences_cli_on_index_and_file_agree(tmp_path, capsys):
    docs = make_docs(200)
    docs.to_csv(tmp_path / "c.csv", index=False)
    cols = ["--year-column", "yr", "--period-column", "grp"]
    assert cli(["index", str(tmp_path / "c.csv"), "--out", str(tmp_path / "ix"), *cols]) == 0
    common = ["--target", "café|plane", "--sample", "7", "--per-period", "--seed", "5", "--context-chars", "10"]
    assert cli(["occurrences", str(tmp_path / "ix"), *common, "--out", str(tmp_path / "o1")]) == 0
    assert cli(["occurrences", str(tmp_path / "c.csv"), *cols, *common, "--out", str(tmp_path / "o2")]) == 0
    c1 = json.loads((tmp_path / "o1" / "counts.json").read_text())
    c2 = json.loads((tmp_path / "o2" / "counts.json").read_text())
    assert c1 == c2 and c1["sampled"] == 21 and c1["total"] == count_hits(tmp_path / "ix", "café|plane")["total"]
    o1 = pd.read_parquet(tmp_path / "o1" / "occurrences.parquet")
    o2 = pd.read_parquet(tmp_path / "o2" / "occurrences.parquet")
    pd.testing.assert_frame_equal(o1, o2, check_dtype=False)


@pytest.mark.parametrize("args", [
    ["occurrences", "{ix}", "--target", "zeppelin", "--out", "{tmp}/o"],          # no hit
    ["occurrences", "{ix}", "--target", "plane", "--per-period", "--out", "{tmp}/o"],  # cap without --sample
    ["occurrences", "{ix}", "--target", "plane", "--sample", "0", "--out", "{tmp}/o"],
    ["occurrences", "{ix}", "--target", "plane", "--out", "{tmp}/c.csv"],         # --out is a file
    ["occurrences", "{tmp}/missing", "--target", "plane", "--out", "{tmp}/o"],
    ["index", "{tmp}/c.csv", "--out", "{tmp}/notindex"],                          # a folder that is not an index
    ["index", "{tmp}/c.csv", "--text-column", "nope", "--out", "{tmp}/ix2"],
])
def test_cli_errors_exit_2(tmp_path, capsys, args):
    make_docs(20).to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "notindex").mkdir()
    (tmp_path / "notindex" / "keep.txt").write_text("mine")
    assert cli(["index", str(tmp_path / "c.csv"), "--out", str(tmp_path / "ix")]) == 0
    capsys.readouterr()
    argv = [a.format(ix=tmp_path / "ix", tmp=tmp_path) for a in args]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert (tmp_path / "notindex" / "keep.txt").read_text() == "mine"


def test_dotted_and_dotless_i_fold_as_in_find_occurrences(tmp_path):
    # Python's regex folds İ with i and ı with I; RE2 (DuckDB's coarse filter) does not unless told
    texts = ["İstanbul at start", "in ISTANBUL", "ıstanbul", "istanbul", "Istanbulx", "kİlİm kilim"]
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "c.csv", index=False)
    index = build_index([tmp_path / "c.csv"], tmp_path / "ix")
    full = load_corpus(tmp_path / "c.csv")
    for target in ("istanbul", "İSTANBUL", "kilim"):
        assert count_hits(index, target)["total"] == len(find_occurrences(full, target)) >= 2


def test_an_index_is_a_corpus_for_embed_senses_and_shift_rank(tmp_path, tiny_bert, cache_dir, capsys):
    """Every corpus-reading subcommand takes an index; embed's sample equals the `occurrences` sample of the file."""
    docs = make_docs(240)
    docs.to_csv(tmp_path / "c.csv", index=False)
    cols = ["--year-column", "yr", "--period-column", "grp"]
    assert cli(["index", str(tmp_path / "c.csv"), "--out", str(tmp_path / "ix"), *cols]) == 0
    pick = ["--target", "café|plane", "--sample", "6", "--per-period", "--seed", "3", "--context-chars", "40"]
    assert cli(["embed", str(tmp_path / "ix"), *pick, "--model", tiny_bert, "--out", str(tmp_path / "e")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["occurrences"] == 18  # 6 from each of the three periods
    embedded = pd.read_csv(tmp_path / "e" / "occurrences.csv")
    assert cli(["occurrences", str(tmp_path / "c.csv"), *cols, *pick, "--out", str(tmp_path / "o")]) == 0
    from_file = pd.read_parquet(tmp_path / "o" / "occurrences.parquet")
    assert embedded["text"].tolist() == from_file["text"].tolist()
    assert (embedded["end"] - embedded["start"]).tolist() == [len(f) for f in from_file["form"]]
    assert embedded["text"].str.len().max() <= 2 * 40 + len("café")  # cut to 40 characters either side
    capsys.readouterr()
    rc = cli(["senses", str(tmp_path / "ix"), "--target", "café|plane", "--sample", "30", "--model", tiny_bert,
              "--k", "2", "--projection", "pca", "--formats", "html", "--out", str(tmp_path / "s")])
    assert rc == 0, capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "s" / "assignments.csv")) == 30
    rc = cli(["shift-rank", str(tmp_path / "ix"), "--targets", "café,plane", "--model", tiny_bert, "--k", "2",
              "--permutations", "19", "--boot", "10", "--formats", "html", "--out", str(tmp_path / "r")])
    assert rc == 0, capsys.readouterr().err
    assert sorted(pd.read_csv(tmp_path / "r" / "ranking.csv")["target"]) == ["café", "plane"]
    # the index needs a target, and a bad sampling option stops before anything is read
    assert cli(["embed", str(tmp_path / "ix"), "--model", tiny_bert]) == 2
    assert "needs --target" in capsys.readouterr().err
    assert cli(["embed", str(tmp_path / "ix"), "--target", "plane", "--per-period", "--model", tiny_bert]) == 2
    assert "--per-period needs --sample" in capsys.readouterr().err


def test_frequency_per_year_against_the_corpus_size_and_the_cost_estimate(tmp_path):
    from analysis.corpus_index.query import embedding_cost, frequency_table
    from analysis.plots.corpus import plot_frequency

    docs = make_docs(300)
    docs.to_csv(tmp_path / "c.csv", index=False)
    build_index([tmp_path / "c.csv"], tmp_path / "ix", SPEC)
    stats = open_index(tmp_path / "ix").manifest["stats"]
    counts = count_hits(tmp_path / "ix", "café|plane")
    table = frequency_table(counts, stats, by="year")
    assert table["year"].tolist() == [str(y) for y in range(1990, 1997)]
    for _, r in table.iterrows():  # each year's hits, documents and words, counted independently here
        mine = docs[docs["yr"] == r["year"]]
        assert r["hits"] == sum(independent_count(mine["text"], ["café", "plane"]))
        assert r["documents"] == len(mine) and r["words"] == sum(len(t.split()) for t in mine["text"])
        assert r["per_million_words"] == pytest.approx(r["hits"] / r["words"] * 1e6)
    fig = plot_frequency(table, measure="per_thousand_documents")
    assert list(fig.data[0].y) == pytest.approx((table["hits"] / table["documents"] * 1000).tolist())
    # the estimate scales with the number and length of the texts, and cuts texts at the model's window
    one = embedding_cost(1000, 191)
    assert one["seconds"] == pytest.approx(1000 * (191 / 4.35 + 2) / 7000)
    assert embedding_cost(2000, 191)["seconds"] == pytest.approx(2 * one["seconds"])
    assert embedding_cost(10, 1e6, max_tokens=256)["tokens_per_text"] == 256
    assert embedding_cost(60_000, 800)["text"].endswith(" min") and embedding_cost(10, 100)["text"].endswith(" s")


def test_whole_index_documents_for_the_commands_that_need_every_text(tmp_path):
    from analysis.corpus_index.select import load_documents

    make_docs(120).to_csv(tmp_path / "c.csv", index=False)
    build_index([tmp_path / "c.csv"], tmp_path / "ix", SPEC)
    from_index = load_documents(tmp_path / "ix")
    from_files = load_documents(tmp_path / "c.csv", SPEC)
    assert from_index["text"].tolist() == from_files["text"].tolist()  # every document, in corpus order
    assert from_index["year"].tolist() == from_files["year"].tolist() and "_row" not in from_index.columns


def test_a_second_build_of_the_same_index_is_refused_while_the_first_runs(tmp_path):
    """The first build is held inside its work (a blocked part write, marker file); a second one is refused with a
    clear message, and once the first is killed a rerun builds the index."""
    make_docs(300).to_csv(tmp_path / "c.csv", index=False)
    marker, out = tmp_path / "blocked", tmp_path / "ix"
    args = ["index", str(tmp_path / "c.csv"), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_BUILD, str(marker), "0", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 600
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no marker"
        with pytest.raises(Exception, match="another build of the index"):
            build_index([tmp_path / "c.csv"], out)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert build_index([tmp_path / "c.csv"], out) == out and verify(out) is None
