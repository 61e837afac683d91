"""The embedding cache: hits, relocation, corruption, bad input, and resuming a killed run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from analysis import encoder, store
from analysis.cli import main as cli
from analysis.corpus import find_occurrences
from analysis.errors import ConfigError, ModelLoadError
from tests.conftest import ROOT, TRAIN_TEXTS
from tests.killing import blocking_cli
from tests.test_encoder import cosines, manual


def occurrences(n_docs=40):
    docs = pd.DataFrame({"doc_id": [str(i) for i in range(n_docs)],
                         "text": [TRAIN_TEXTS[i % len(TRAIN_TEXTS)] + f" Item {i}." for i in range(n_docs)]})
    return find_occurrences(docs, "plane|planes")


def test_cache_hit_and_exactness(cache_dir, tiny_bert):
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    assert not es.cache_hit and es.vectors.shape == (len(occ), 4, 32)
    assert (cache_dir / "embeddings" / es.key / "manifest.json").exists()  # relocated by SENSESCOPE_CACHE
    again = store.get_or_compute(occ, tiny_bert)
    assert again.cache_hit and again.key == es.key
    assert isinstance(again.vectors, np.memmap) and again.vectors.dtype == np.float16
    lm = encoder.load_model(tiny_bert)
    for i in (0, 5, len(occ) - 1):
        ref, _ = manual(lm, occ["text"][i], occ["start"][i], occ["end"][i])
        assert cosines(ref, np.asarray(again.vectors[i], dtype=np.float32)).min() > 0.99999
    # another layer choice or pooling is another entry
    other = store.get_or_compute(occ, tiny_bert, layers=[-1], pooling="first")
    assert other.key != es.key and other.layers == (3,)
    manifest = json.loads((cache_dir / "embeddings" / es.key / "manifest.json").read_text())
    assert manifest["rows"] == len(occ) and manifest["layers"] == [0, 1, 2, 3] and "versions" in manifest


def test_a_cache_hit_with_a_load_hook_never_loads_the_model(cache_dir, tiny_bert, monkeypatch):
    """With ``load`` (how the dashboard passes its shared model) the key comes from the model's config and weight
    files: a hit has the key and vectors of the run that computed them and loads nothing; a miss calls the hook once
    and embeds with what it gives."""
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    shared = encoder.load_model(tiny_bert)
    calls = []

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(encoder, "load_model", no_loading)
    hit = store.get_or_compute(occ, tiny_bert, load=lambda: calls.append(1) or no_loading())
    assert hit.cache_hit and hit.key == es.key and calls == []
    assert np.array_equal(np.asarray(hit.vectors), np.asarray(es.vectors))
    other = store.get_or_compute(occ, tiny_bert, layers=[-1], load=lambda: calls.append(1) or shared)
    assert not other.cache_hit and calls == [1] and other.key != es.key
    np.testing.assert_allclose(np.asarray(other.vectors[:, 0], dtype=np.float32),
                               np.asarray(es.vectors[:, -1], dtype=np.float32), atol=1e-3)
    with pytest.raises(ModelLoadError):
        store.get_or_compute(occ, str(cache_dir / "no-such-model"), load=no_loading)


def test_corrupt_entry_is_recomputed(cache_dir, tiny_bert):
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    reference = np.asarray(es.vectors, dtype=np.float32).copy()
    vec_path = cache_dir / "embeddings" / es.key / "vectors.npy"
    raw = bytearray(vec_path.read_bytes())
    raw[-100:] = b"\x00" * 100  # flip bytes in the data
    vec_path.write_bytes(bytes(raw))
    assert store.open_entry(es.key) is None  # detected, never returned
    again = store.get_or_compute(occ, tiny_bert)
    assert not again.cache_hit
    np.testing.assert_allclose(np.asarray(again.vectors, dtype=np.float32), reference)
    # a half-written entry (no manifest) is not finished
    (cache_dir / "embeddings" / es.key / "manifest.json").unlink()
    assert store.open_entry(es.key) is None


def test_bad_input_caches_nothing(cache_dir, tiny_bert):
    occ = occurrences()
    with pytest.raises(ConfigError, match="is not in"):
        store.get_or_compute(occ, tiny_bert, layers=[12])
    bad = occ.copy()
    bad.loc[3, "end"] = 10_000
    with pytest.raises(ConfigError, match="outside its text"):
        store.get_or_compute(bad, tiny_bert)
    with pytest.raises(ModelLoadError):
        store.get_or_compute(occ, "nobody/nothing")
    with pytest.raises(ConfigError, match="no occurrences"):
        store.get_or_compute(occ.iloc[:0], tiny_bert)
    assert not (cache_dir / "embeddings").exists() or not any((cache_dir / "embeddings").iterdir())


def write_corpus(path, n=900):
    texts = [TRAIN_TEXTS[i % len(TRAIN_TEXTS)] + f" Number {i}, plane {i % 7}." for i in range(n)]
    pd.DataFrame({"id": range(n), "text": texts}).to_csv(path, index=False)


# Runs the real CLI, but the encoder blocks (forever) when it starts chunk number BLOCK_AT + 1, after writing a marker
# file: the test kills the process in a known state (BLOCK_AT chunks finished, one in progress) however loaded the
# machine is, instead of racing a running process.
_BLOCKING_CLI = blocking_cli("analysis.encoder", "embed_spans")


def _verified_chunks(cache) -> list:
    """Chunks a resumed run may use: the .npy and its checksum sidecar are both there."""
    return [p for p in cache.glob("embeddings/*.partial/chunks/[0-9]*.npy") if p.with_suffix(".json").exists()]


def test_killed_run_resumes_from_finished_chunks(tmp_path, tiny_bert, monkeypatch):
    corpus = tmp_path / "big.csv"
    write_corpus(corpus, n=120)
    cache = tmp_path / "cache"
    marker = tmp_path / "blocked"
    env = {**os.environ, "SENSESCOPE_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    args = ["embed", str(corpus), "--target", "plane|planes", "--model", tiny_bert, "--chunk-size", "20",
            "--batch-size", "8"]
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_CLI, str(marker), "3", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # generous: only a broken run takes long (states are waited for, not timed)
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    err = proc.communicate()[1].decode(errors="replace")
    assert alive and marker.exists(), f"the run did not reach its fourth chunk: {err[-2000:]}"
    finished = _verified_chunks(cache)
    occ = store_occurrences(corpus)
    n_chunks = -(-len(occ) // 20)
    assert 1 <= len(finished) < n_chunks
    assert not [p for p in cache.glob("embeddings/*") if p.is_dir() and "." not in p.name]  # nothing finished
    # resume in-process and count the chunks that are encoded again
    calls = []
    real = encoder.embed_spans
    monkeypatch.setattr(encoder, "embed_spans", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setenv("SENSESCOPE_CACHE", str(cache))
    resumed = store.get_or_compute(occ, tiny_bert, chunk_size=20, batch_size=8)
    assert 0 < len(calls) < n_chunks  # fewer chunks than a fresh run
    assert len(calls) == n_chunks - len(finished)  # every verified chunk was used
    monkeypatch.setattr(encoder, "embed_spans", real)
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "fresh"))
    fresh = store.get_or_compute(occ, tiny_bert, chunk_size=20, batch_size=8)
    np.testing.assert_array_equal(np.asarray(resumed.vectors), np.asarray(fresh.vectors))
    assert not list(cache.glob("embeddings/*.partial"))  # work in progress cleaned up
    assert not list(cache.glob("embeddings/*.lock"))  # the killed run's lock went with it


def store_occurrences(corpus):
    from analysis.cli.embed import load_occurrences

    class Args:
        target = "plane|planes"; regex = False; substring = False; case_sensitive = False
        text_column = None; id_column = None
    Args.corpus = str(corpus)
    return load_occurrences(Args)


def test_cli_embed_out_and_cache_commands(tmp_path, cache_dir, tiny_bert, capsys):
    corpus = tmp_path / "c.csv"
    write_corpus(corpus, n=30)
    out = tmp_path / "out"
    assert cli(["embed", str(corpus), "--target", "plane|planes", "--model", tiny_bert, "--layers", "0-2",
                "--out", str(out)]) == 0
    occ = pd.read_csv(out / "occurrences.csv")
    vecs = np.load(out / "vectors.npy")
    assert vecs.shape == (len(occ), 3, 32) and {"occurrence_id", "start", "end", "id"} <= set(occ.columns)
    assert cli(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert "done" in listing and str(cache_dir) in listing
    assert cli(["cache", "rm", "--all"]) == 0
    assert store.list_entries().empty
    # bad input: exit status 2 with one line on stderr, nothing cached
    assert cli(["embed", str(corpus), "--target", "zeppelin", "--model", tiny_bert]) == 2
    assert cli(["embed", str(corpus), "--target", "plane", "--model", tiny_bert, "--layers", "7"]) == 2
    assert cli(["embed", str(corpus), "--target", "plane", "--model", str(tmp_path / "nope")]) == 2
    assert cli(["embed", str(corpus), "--text-column", "body", "--target", "plane", "--model", tiny_bert]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    assert "zeppelin" in err[0] and "is not in" in err[1] and "does not exist" in err[2] and "body" in err[3]
    assert store.list_entries().empty


@pytest.mark.slow
def test_loading_10000_cached_occurrences_is_fast(cache_dir, tiny_bert):
    """Functional check that a 10,000-row entry opens memory-mapped; the timing target lives in bench/embed.py."""
    docs = pd.DataFrame({"doc_id": [str(i) for i in range(2500)],
                         "text": [f"plane {i} plane plane plane" for i in range(2500)]})
    occ = find_occurrences(docs, "plane")
    first = store.get_or_compute(occ, tiny_bert, batch_size=256)
    assert not first.cache_hit
    es2 = store.get_or_compute(occ, tiny_bert)
    assert es2.cache_hit and es2.n == 10_000 and es2.layer(-1).shape == (10_000, 32)
