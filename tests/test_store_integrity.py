"""What the cache lets in and what it deletes: verified chunks, leftovers of killed runs, proof before deletion,
one file mode, manifests without install paths, bad chunk sizes."""

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import encoder, store
from analysis.errors import ConfigError, SenseScopeError
from tests.test_store import occurrences

CHUNK = 10


class Killed(BaseException):
    """Stands in for SIGKILL inside the process (BaseException: nothing catches it on the way out)."""


def _kill_after(monkeypatch, n_chunks: int) -> None:
    real, calls = encoder.embed_spans, []

    def embed(*a, **k):
        calls.append(1)
        if len(calls) > n_chunks:
            raise Killed()
        return real(*a, **k)

    monkeypatch.setattr(encoder, "embed_spans", embed)


def _count_calls(monkeypatch) -> list:
    real, calls = encoder.embed_spans, []
    monkeypatch.setattr(encoder, "embed_spans", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


@pytest.fixture(scope="module")
def reference(tiny_bert, tmp_path_factory):
    """Vectors of an undisturbed run (its own cache)."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("SENSESCOPE_CACHE", str(tmp_path_factory.mktemp("reference")))
        es = store.get_or_compute(occurrences(), tiny_bert, chunk_size=CHUNK)
        return np.asarray(es.vectors).copy()


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    for i in range(16):  # 16 bytes in the data, well after the .npy header
        raw[-200 + 7 * i] ^= 0xFF
    path.write_bytes(bytes(raw))


def _rewrite(path: Path, fill, sidecar: bool = False) -> None:
    arr = np.load(path)
    bad = np.full_like(arr, fill)
    np.save(path, bad)
    if sidecar:  # as if the model itself had produced it: the checksum matches, the values are not finite
        from analysis import cache_files

        cache_files.save_chunk(path, bad)


@pytest.mark.parametrize("damage", ["flipped", "zeros", "nan", "nan_with_checksum", "no_checksum", "truncated"])
def test_damaged_partial_chunk_is_recomputed(cache_dir, tiny_bert, reference, monkeypatch, damage):
    occ = occurrences()
    _kill_after(monkeypatch, 3)
    with pytest.raises(Killed):
        store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)
    chunks = sorted((cache_dir / "embeddings").glob("*.partial/chunks/[0-9]*.npy"))
    assert len(chunks) == 3
    target = chunks[1]
    if damage == "flipped":
        _flip(target)
    elif damage == "zeros":
        _rewrite(target, 0.0)
    elif damage == "nan":
        _rewrite(target, np.nan)
    elif damage == "nan_with_checksum":
        _rewrite(target, np.nan, sidecar=True)
    elif damage == "no_checksum":
        target.with_suffix(".json").unlink()
        _rewrite(target, 0.0)
    else:
        target.write_bytes(target.read_bytes()[:100])
    monkeypatch.undo()
    monkeypatch.setenv("SENSESCOPE_CACHE", str(cache_dir))
    calls = _count_calls(monkeypatch)
    es = store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)
    n_chunks = -(-len(occ) // CHUNK)
    assert len(calls) == n_chunks - 2  # the damaged chunk and the unfinished ones, nothing else
    np.testing.assert_array_equal(np.asarray(es.vectors), reference)
    again = store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)  # and the committed entry is served as is
    assert again.cache_hit
    np.testing.assert_array_equal(np.asarray(again.vectors), reference)


def test_kill_between_final_rename_and_cleanup_leaves_nothing(cache_dir, tiny_bert, monkeypatch):
    occ = occurrences()
    real_rmtree = shutil.rmtree

    def killed_at_cleanup(path, *a, **k):
        if str(path).endswith(".partial"):
            raise Killed()
        return real_rmtree(path, *a, **k)

    monkeypatch.setattr(shutil, "rmtree", killed_at_cleanup)
    with pytest.raises(Killed):
        store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    emb = cache_dir / "embeddings"
    assert list(emb.glob("*.partial"))  # the state a kill at that moment leaves
    es = store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)
    assert es.cache_hit
    assert sorted(p.name for p in emb.iterdir()) == [es.key]


def test_stale_leftovers_are_cleaned_but_live_runs_are_not_touched(cache_dir, tiny_bert):
    from analysis import cache_files

    emb = cache_dir / "embeddings"
    (emb / "deadbeef.staging").mkdir(parents=True)  # a run killed while writing its entry
    (emb / "deadbeef.staging" / "vectors.npy").write_bytes(b"x")
    resumable = emb / "cafe0001.partial" / "chunks"  # a killed run of another key: its chunks are kept
    resumable.mkdir(parents=True)
    (resumable / "000000.npy").write_bytes(b"kept")
    (resumable / ".tmp-1-abc.npy").write_bytes(b"half")
    (emb / "0rphan.lock").write_bytes(b"")  # the lock file of a killed run
    live = emb / "11fe0002.partial" / "chunks"  # another run, alive: holds its key's lock
    live.mkdir(parents=True)
    (live / ".tmp-2-def.npy").write_bytes(b"being written")
    (emb / "11fe0002.staging").mkdir()
    lock = cache_files.KeyLock(emb, "11fe0002")
    assert lock.acquire(blocking=False)
    try:
        store.get_or_compute(occurrences(8), tiny_bert)
        names = {p.name for p in emb.iterdir()}
        assert "deadbeef.staging" not in names and "0rphan.lock" not in names
        assert (resumable / "000000.npy").exists() and not (resumable / ".tmp-1-abc.npy").exists()
        assert (live / ".tmp-2-def.npy").exists() and (emb / "11fe0002.staging").is_dir()
    finally:
        lock.release()
    store.get_or_compute(occurrences(8), tiny_bert)  # the live run is gone now: its leftovers go
    assert not (emb / "11fe0002.staging").exists() and not (live / ".tmp-2-def.npy").exists()


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied"), OSError(5, "Input/output error"),
                                   MemoryError()])
def test_read_errors_leave_the_entry_on_disk(cache_dir, tiny_bert, monkeypatch, error):
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    folder = cache_dir / "embeddings" / es.key
    before = sorted(p.name for p in folder.iterdir())

    def failing(*a, **k):
        raise error

    import pyarrow.parquet as pq

    monkeypatch.setattr(pd, "read_parquet", failing)
    monkeypatch.setattr(pq, "ParquetFile", failing)  # a cache hit reads only the stored table's row count
    expected = MemoryError if isinstance(error, MemoryError) else store.CacheReadError
    with pytest.raises(expected) as info:
        store.open_entry(es.key)
    if expected is store.CacheReadError:
        assert isinstance(info.value, SenseScopeError) and "left in place" in str(info.value)
    with pytest.raises(expected):
        store.get_or_compute(occ, tiny_bert)
    assert sorted(p.name for p in folder.iterdir()) == before
    monkeypatch.undo()
    monkeypatch.setenv("SENSESCOPE_CACHE", str(cache_dir))
    assert store.get_or_compute(occ, tiny_bert).cache_hit  # still there, still valid


@pytest.mark.parametrize("carried", [False, True], ids=["own table", "caller's table"])
@pytest.mark.parametrize("damage", ["manifest_not_json", "manifest_not_ours", "parquet_flipped", "parquet_cut",
                                    "vectors_missing", "rows"])
def test_proven_corruption_deletes_and_recomputes(cache_dir, tiny_bert, damage, carried):
    """Each damage is proven (and the entry deleted) whether the entry's own table is read or the caller's table
    is carried instead (get_or_compute's hit: then only the stored table's row count is read)."""
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    reference = np.asarray(es.vectors).copy()
    folder = cache_dir / "embeddings" / es.key
    if damage == "manifest_not_json":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "manifest_not_ours":
        (folder / "manifest.json").write_text("[1, 2]")
    elif damage == "parquet_flipped":
        _flip(folder / "occurrences.parquet")
    elif damage == "parquet_cut":
        raw = (folder / "occurrences.parquet").read_bytes()
        (folder / "occurrences.parquet").write_bytes(raw[: len(raw) // 2])
    elif damage == "vectors_missing":
        (folder / "vectors.npy").unlink()
    else:
        m = json.loads((folder / "manifest.json").read_text())
        m.pop("occurrences_sha256")
        (folder / "manifest.json").write_text(json.dumps(m))
        occ.iloc[:3].to_parquet(folder / "occurrences.parquet")
    assert store.open_entry(es.key, occurrences=occ if carried else None) is None
    assert not folder.exists()
    again = store.get_or_compute(occ, tiny_bert)
    assert not again.cache_hit
    np.testing.assert_array_equal(np.asarray(again.vectors), reference)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_every_file_gets_the_same_mode(cache_dir, tiny_bert, monkeypatch, umask):
    old = os.umask(umask)
    try:
        occ = occurrences()
        _kill_after(monkeypatch, 2)
        with pytest.raises(Killed):
            store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)
        partial_files = [p for p in (cache_dir / "embeddings").rglob("*") if p.is_file() and ".partial" in str(p)]
        monkeypatch.undo()
        monkeypatch.setenv("SENSESCOPE_CACHE", str(cache_dir))
        es = store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK)
    finally:
        os.umask(old)
    entry_files = list((cache_dir / "embeddings" / es.key).iterdir())
    assert {p.name for p in entry_files} == {"vectors.npy", "occurrences.parquet", "manifest.json"}
    assert len(partial_files) == 4  # 2 chunks and their checksums
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in entry_files}
    assert set(modes.values()) == {0o666 & ~umask}, modes
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in partial_files if p.exists()} <= {0o666 & ~umask}


def test_manifest_names_the_model_without_install_paths(cache_dir, tiny_bert):
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    manifest = json.loads((cache_dir / "embeddings" / es.key / "manifest.json").read_text())
    assert manifest["model_path"] == Path(tiny_bert).name
    # a folder the user typed is named like model_path (relative to the project or a cache, else its name)
    assert manifest["model"] == Path(tiny_bert).name
    strings = [v for v in manifest.values() if isinstance(v, str)]
    assert not [v for v in strings if v.startswith("/")], strings
    default = store.get_or_compute(occ.iloc[:2], None, layers=[0])  # the packaged model: named by its id
    assert default.manifest["model_path"] == "all-MiniLM-L6-v2" == default.manifest["model"]
    # the key is what it always was (the resolved path), with or without an already loaded model
    info = encoder.model_info(tiny_bert)
    assert info["path"] == str(Path(tiny_bert).resolve())
    assert es.key == store.embedding_key(info, occ, [0, 1, 2, 3], "mean", None)
    lm = encoder.load_model(tiny_bert)
    assert store.get_or_compute(occ, tiny_bert, loaded=lm).key == es.key


@pytest.mark.parametrize("size", [0, -1, 2.5])
def test_bad_chunk_or_batch_size_leaves_nothing(cache_dir, tiny_bert, size):
    with pytest.raises(ConfigError, match="chunk size"):
        store.get_or_compute(occurrences(), tiny_bert, chunk_size=size)
    with pytest.raises(ConfigError, match="batch size"):
        store.get_or_compute(occurrences(), tiny_bert, batch_size=size)
    assert not (cache_dir / "embeddings").exists() or not any((cache_dir / "embeddings").iterdir())


def test_same_key_runs_take_turns(cache_dir, tiny_bert, monkeypatch):
    """A second run of a key that is being computed waits, then serves the first run's entry (no double work)."""
    import threading

    occ = occurrences()
    lm = encoder.load_model(tiny_bert)
    started, release = threading.Event(), threading.Event()
    real, calls = encoder.embed_spans, []

    def slow(*a, **k):
        calls.append(threading.current_thread().name)
        started.set()
        assert release.wait(timeout=300)
        return real(*a, **k)

    monkeypatch.setattr(encoder, "embed_spans", slow)
    results = {}
    first = threading.Thread(target=lambda: results.update(a=store.get_or_compute(occ, loaded=lm)), name="a")
    first.start()
    assert started.wait(timeout=300)
    second = threading.Thread(target=lambda: results.update(b=store.get_or_compute(occ, loaded=lm)), name="b")
    second.start()
    second.join(timeout=1)  # it cannot finish while the first holds the key
    assert second.is_alive()
    release.set()
    first.join(timeout=300)
    second.join(timeout=300)
    assert not results["a"].cache_hit and results["b"].cache_hit
    assert set(calls) == {"a"}


def _counted_sums(monkeypatch) -> list:
    """Count the files whose sha256 the cache reads (analysis.cache_files.sha256_file)."""
    from analysis import cache_files

    real, calls = cache_files.sha256_file, []
    monkeypatch.setattr(cache_files, "sha256_file", lambda p: calls.append(Path(p).name) or real(p))
    return calls


def _later(monkeypatch, seconds: float) -> None:
    """The checks that follow begin ``seconds`` later than now (the files look settled, as they are after a while)."""
    from analysis import cache_files

    real = cache_files.time.time_ns
    monkeypatch.setattr(cache_files.time, "time_ns", lambda: real() + int(seconds * 1e9))


def test_a_settled_entry_is_checked_once_then_trusted_until_a_file_changes(cache_dir, tiny_bert, monkeypatch):
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    folder = cache_dir / "embeddings" / es.key
    sums = _counted_sums(monkeypatch)
    # Just written: the files are not settled, so a check passes but leaves no stamp (a change in the same
    # timestamp tick could hide from it) and the next open checks again.
    assert store.open_entry(es.key) is not None and not (folder / "verified.json").exists()
    assert sums == ["vectors.npy", "occurrences.parquet"]
    _later(monkeypatch, 10)
    sums.clear()
    assert store.open_entry(es.key) is not None and (folder / "verified.json").exists()
    assert sums == ["vectors.npy", "occurrences.parquet"]  # checked, and stamped
    sums.clear()
    hit = store.get_or_compute(occ, tiny_bert)
    assert hit.cache_hit and sums == []  # the stamp stands for the check
    # A replaced file (new inode, same size and bytes but one flipped block) is checked again, and caught.
    vec = folder / "vectors.npy"
    raw = bytearray(vec.read_bytes())
    raw[-50:] = bytes(b ^ 0xFF for b in raw[-50:])
    (folder / "new.npy").write_bytes(bytes(raw))
    os.replace(folder / "new.npy", vec)
    assert store.open_entry(es.key) is None and not folder.exists()
    assert "vectors.npy" in sums


def test_changed_files_are_checked_again_and_cache_verify_ignores_stamps(cache_dir, tiny_bert, monkeypatch,
                                                                           capsys):
    from analysis.cli import main as cli

    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    folder = cache_dir / "embeddings" / es.key
    _later(monkeypatch, 10)
    assert store.open_entry(es.key) is not None and (folder / "verified.json").exists()
    # A longer occurrences table (another size): not trusted, checked, caught.
    table = folder / "occurrences.parquet"
    good = table.read_bytes()
    table.write_bytes(good[:-1] + bytes([good[-1] ^ 1]) + b"x")
    assert store.open_entry(es.key) is None and not folder.exists()
    # Damage the stamp cannot see (below the file system: the stamp is made to match the damaged file) passes an
    # ordinary open, and `cache verify` (every sum read again) finds it, removes the entry and exits 1.
    es = store.get_or_compute(occ, tiny_bert)
    assert store.open_entry(es.key) is not None
    _flip(folder / "vectors.npy")
    stamp = json.loads((folder / "verified.json").read_text())
    stamp["stats"]["vectors.npy"] = [*(lambda st: [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])(
        (folder / "vectors.npy").stat())]
    (folder / "verified.json").write_text(json.dumps(stamp))
    assert store.open_entry(es.key) is not None
    capsys.readouterr()
    assert cli(["cache", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"{es.key}: corrupt" in out and "0 of 1 entries whole" in out and not folder.exists()
    es = store.get_or_compute(occ, tiny_bert)
    assert cli(["cache", "verify", es.key[:6]]) == 0 and f"{es.key}: ok" in capsys.readouterr().out


def test_the_writer_of_a_big_entry_stamps_it_once_settled(cache_dir, tiny_bert, monkeypatch):
    """Above STAMP_ON_WRITE bytes the writer waits until its files settle, checks them once more and stamps them, so
    the entry's first open reads no sums; below it (every other test here) nothing waits and nothing is stamped."""
    from analysis import cache_files

    monkeypatch.setattr(store, "STAMP_ON_WRITE", 0)
    monkeypatch.setattr(cache_files, "STAMP_MARGIN_NS", 50_000_000)  # 50 ms instead of 2 s: a short wait here
    occ = occurrences()
    es = store.get_or_compute(occ, tiny_bert)
    assert not es.cache_hit and (cache_dir / "embeddings" / es.key / "verified.json").exists()
    sums = _counted_sums(monkeypatch)
    assert store.get_or_compute(occ, tiny_bert).cache_hit and sums == []


def test_a_cache_hit_carries_the_callers_table_without_reading_the_stored_one(cache_dir, tiny_bert, monkeypatch):
    occ = occurrences()
    store.get_or_compute(occ, tiny_bert)
    relabelled = occ.assign(label="new label")  # metadata is not in the key

    def no_read(*a, **k):
        raise AssertionError("the stored occurrences table was read")

    with monkeypatch.context() as patched:
        patched.setattr(pd, "read_parquet", no_read)
        hit = store.get_or_compute(relabelled, tiny_bert)
    assert hit.cache_hit and hit.occurrences.equals(relabelled.reset_index(drop=True))
    assert len(store.open_entry(hit.key).occurrences) == len(occ)  # without a table given, the stored one is read
