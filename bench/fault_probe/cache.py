"""Cache corruption: damaged finished entries and partial chunks, leftovers, and transient read errors."""

from __future__ import annotations

import hashlib, json, os, shutil  # noqa: E401
from dataclasses import dataclass
from pathlib import Path

import common as C
from common import guard, in_cache, leftovers

CAT = "cache corruption"


class _Stop(Exception):
    pass


@dataclass
class Ref:
    """The undisturbed entry every case is compared with, and how to compute it again."""
    model: str
    occ: object
    kw: dict
    key: str = ""
    vectors: object = None
    emb_ref: Path = Path()
    tpl: Path = Path()  # a killed run's partial folder

    def compute(self, cache: Path, **extra):
        from analysis import store

        return in_cache(cache, lambda: store.get_or_compute(self.occ, self.model, **self.kw, **extra))

    def equal(self, es) -> bool:
        import numpy as np

        return np.array_equal(np.array(es.vectors), self.vectors)

    def copy_entry(self, cache: Path) -> Path:
        """A copy of the finished reference entry in ``cache``; its folder."""
        shutil.copytree(self.emb_ref / self.key, cache / "embeddings" / self.key)
        return cache / "embeddings" / self.key


def flip(path: Path, n: int = 16, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    start = at if at is not None else len(data) - n - 8
    for i in range(start, start + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(entry: Path, change) -> None:
    d = json.loads((entry / "manifest.json").read_text())
    change(d)
    (entry / "manifest.json").write_text(json.dumps(d))


def _rewrite_npy(path: Path, arr, sidecar: bool) -> None:
    from analysis import cache_files

    data = cache_files.npy_bytes(arr)
    path.write_bytes(data)
    if sidecar:
        meta = {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(arr.shape), "dtype": str(arr.dtype)}
        path.with_suffix(".json").write_text(json.dumps(meta))


def _reference(m: dict) -> Ref:
    import numpy as np
    from analysis import corpus, encoder

    lm = encoder.load_model(m["tiny"])
    occ = corpus.find_occurrences(corpus.load_corpus(C.W / "good.csv"), "plane")
    ref = Ref(model=m["tiny"], occ=occ, kw=dict(loaded=lm, chunk_size=8, batch_size=8))
    es = ref.compute(C.W / "cc_ref")
    ref.key, ref.vectors, ref.emb_ref = es.key, np.array(es.vectors), C.W / "cc_ref" / "embeddings"

    def stop(done, total):  # a killed run's partial folder: 3 finished chunks of 5
        if done >= 24:
            raise _Stop
    try:
        ref.compute(C.W / "cc_tpl", progress=stop)
    except _Stop:
        pass
    ref.tpl = C.W / "cc_tpl" / "embeddings" / f"{ref.key}.partial"
    return ref


def _resumed(ref: Ref, name: str, setup, partial: bool) -> None:
    """Damage a copy of the finished entry (or of the partial folder) with ``setup``; the next read recomputes."""
    from analysis import store

    cache = C.W / f"cc_{len(C.RESULTS.get(CAT, []))}"
    emb, key = cache / "embeddings", ref.key
    shutil.copytree(ref.tpl if partial else ref.emb_ref / key, emb / (f"{key}.partial" if partial else key))
    setup(emb / f"{key}.partial" / "chunks" if partial else emb / key, emb)

    def check():
        es = ref.compute(cache)
        again = in_cache(cache, lambda: store.open_entry(key))  # verified read of what is now on disk
        equal = ref.equal(es)
        ok = equal and not es.cache_hit and again is not None and not leftovers(cache)
        return ok, f"equal={equal} cache_hit={es.cache_hit} reopened={again is not None} left={leftovers(cache)}"
    guard(CAT, name, check)


def _finished_cases() -> list:
    import numpy as np

    return [
        ("entry: 16 flipped bytes in vectors.npy", lambda e, _: flip(e / "vectors.npy")),
        ("entry: vectors.npy truncated to half", lambda e, _: os.truncate(e / "vectors.npy",
                                                                         (e / "vectors.npy").stat().st_size // 2)),
        ("entry: vectors.npy empty", lambda e, _: os.truncate(e / "vectors.npy", 0)),
        ("entry: vectors.npy deleted", lambda e, _: (e / "vectors.npy").unlink()),
        ("entry: vectors.npy of a wrong shape", lambda e, _: np.save(e / "vectors.npy", np.zeros((3, 4, 32),
                                                                                              np.float16))),
        ("entry: vectors.npy a pickled object array", lambda e, _: np.save(e / "vectors.npy", np.array([{}], object),
                                                                          allow_pickle=True)),
        ("entry: occurrences.parquet deleted", lambda e, _: (e / "occurrences.parquet").unlink()),
        ("entry: occurrences.parquet garbage", lambda e, _: (e / "occurrences.parquet").write_bytes(b"PAR1xx")),
        ("entry: occurrences.parquet flipped bytes", lambda e, _: flip(e / "occurrences.parquet", at=200)),
        ("entry: manifest.json deleted", lambda e, _: (e / "manifest.json").unlink()),
        ("entry: manifest.json not JSON", lambda e, _: (e / "manifest.json").write_text("{oops")),
        ("entry: manifest.json invalid UTF-8", lambda e, _: (e / "manifest.json").write_bytes(b"\xff\xfe{")),
        ("entry: manifest.json without sha256", lambda e, _: _edit_manifest(e, lambda d: d.pop("sha256"))),
        ("entry: manifest.json wrong row count", lambda e, _: _edit_manifest(e, lambda d: d.update(rows=7))),
    ]


def _partial_cases(key: str) -> list:
    import numpy as np

    c0 = lambda d: d / "000000.npy"  # noqa: E731
    shape0 = lambda d: np.load(c0(d)).shape  # noqa: E731
    nan0 = lambda d: np.full(shape0(d), np.nan, np.float16)  # noqa: E731
    return [
        ("chunk: 16 flipped bytes (stale sidecar)", lambda d, _: flip(c0(d))),
        ("chunk: all zeros (stale sidecar)", lambda d, _: _rewrite_npy(c0(d), np.zeros(shape0(d), np.float16), False)),
        ("chunk: all NaN (stale sidecar)", lambda d, _: _rewrite_npy(c0(d), nan0(d), False)),
        ("chunk: all NaN with a matching sidecar", lambda d, _: _rewrite_npy(c0(d), nan0(d), True)),
        ("chunk: wrong shape with a matching sidecar", lambda d, _: _rewrite_npy(c0(d), np.zeros((2, 4, 32),
                                                                                                np.float16), True)),
        ("chunk: sidecar missing", lambda d, _: c0(d).with_suffix(".json").unlink()),
        ("chunk: sidecar not JSON", lambda d, _: c0(d).with_suffix(".json").write_text("{")),
        ("chunk: truncated", lambda d, _: os.truncate(c0(d), 100)),
        ("leftovers: .tmp- file in chunks and a .staging folder",
         lambda d, e: ((d / ".tmp-1-abc.npy").write_bytes(b"x"), (e / f"{key}.staging").mkdir())),
    ]


def _stale_partial(ref: Ref):
    """A kill between the final rename and the clean-up: entry finished, .partial still there."""
    cache = C.W / "cc_stale"
    ref.copy_entry(cache)
    shutil.copytree(ref.tpl, cache / "embeddings" / f"{ref.key}.partial")
    es = ref.compute(cache)
    return (es.cache_hit and ref.equal(es) and not leftovers(cache),
            f"cache_hit={es.cache_hit} left={leftovers(cache)}")


def _transient_case(ref: Ref, i: int, target, attr: str, exc: OSError):
    """``target.attr`` raises ``exc`` once: a SenseScopeError, the entry stays, and the next read is a hit."""
    from analysis.errors import SenseScopeError

    def run():
        cache = C.W / f"cc_tr{i}"
        entry = ref.copy_entry(cache)
        saved = getattr(target, attr)
        setattr(target, attr, lambda *a, **k: (_ for _ in ()).throw(exc))
        try:
            ref.compute(cache)
            raised = "nothing raised"
        except SenseScopeError as e:
            raised = f"{type(e).__name__}: {e}"
        finally:
            setattr(target, attr, saved)
        kept = all((entry / f).exists() for f in ("manifest.json", "vectors.npy", "occurrences.parquet"))
        es = ref.compute(cache)
        ok = raised != "nothing raised" and kept and es.cache_hit and ref.equal(es)
        return ok, f"{raised[:160]}; entry kept={kept}; next read hit={es.cache_hit}"
    return run


def _chmod_case(ref: Ref):
    from analysis.errors import SenseScopeError

    entry = ref.copy_entry(C.W / "cc_chmod")
    (entry / "vectors.npy").chmod(0)
    try:
        ref.compute(C.W / "cc_chmod")
        return False, "no error raised on an unreadable vectors.npy"
    except SenseScopeError as e:
        return (entry / "vectors.npy").exists(), str(e)[:200]


def _transient(ref: Ref) -> None:
    import pandas as pd
    from analysis import store

    perm = PermissionError(13, "Permission denied")
    guard(CAT, "transient: PermissionError reading vectors.npy keeps the entry",
          _transient_case(ref, 0, store.np, "load", perm))
    guard(CAT, "transient: EIO while checksumming keeps the entry",
          _transient_case(ref, 1, store, "sha256_file", OSError(5, "Input/output error")))
    guard(CAT, "transient: PermissionError reading occurrences.parquet keeps the entry",
          _transient_case(ref, 2, pd, "read_parquet", perm))
    if os.geteuid() != 0:
        guard(CAT, "transient: chmod 000 vectors.npy keeps the entry", lambda: _chmod_case(ref))


def probe_cache(m: dict) -> None:
    ref = _reference(m)
    for name, setup in _finished_cases():
        _resumed(ref, name, setup, partial=False)
    for name, setup in _partial_cases(ref.key):
        _resumed(ref, name, setup, partial=True)
    guard(CAT, "leftovers: .partial beside a finished entry", lambda: _stale_partial(ref))
    _transient(ref)
