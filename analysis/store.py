"""Content-addressed cache of embedding sets, under ``cache/`` or ``$SENSESCOPE_CACHE``.

Key
    sha256 of the canonical JSON of everything the vectors depend on: model path + weights fingerprint, layers,
    pooling, window, the hash of the occurrences' texts and spans, and the package version. Metadata (years, labels)
    is not part of the key, so relabelling a corpus reuses its vectors; the stored occurrences table is the one of
    the run that computed them, and :func:`get_or_compute` returns the caller's table with the cached vectors.

Layout of an entry ``embeddings/<key>/``
    ``vectors.npy``       (n_occurrences, n_layers, dim), **float16** — half the disk and load time of float32; the
                          rounding error (relative 2^-11 per element) changes cosines by ~1e-7, far below anything the
                          analyses resolve. If a model produces values beyond float16's range (|x| > 65504) the entry is
                          stored as float32 instead, and the manifest says so. Opened memory-mapped.
    ``occurrences.parquet`` the occurrences table (same row order)
    ``manifest.json``     model, layers, pooling, window, versions, created, rows, dim, dtype, sha256 of vectors.npy;
                          written last, so an entry without it is not finished.
    ``verified.json``     stamp of a passed check of the sums, trusted while no file changed (see
                          :func:`analysis.cache_files.sums_hold`; ``python -m analysis cache verify`` ignores it).

Work in progress lives in ``embeddings/<key>.partial/chunks/NNNNNN.npy`` (one file per chunk of occurrences, each
written to a temporary name and renamed, with a ``NNNNNN.json`` checksum beside it), so a killed run resumes from its
finished chunks; a chunk is used only when its checksum, shape and values check out (see :mod:`analysis.cache_files`,
which also holds the per-key lock and the clean-up of leftovers of killed runs).

A corrupt or half-written entry (manifest missing or not JSON, wrong shape, wrong checksum, wrong row count) is never
returned: it is removed and recomputed. Any other error while reading an entry (permissions, I/O) leaves the entry on
disk and raises :class:`CacheReadError` (or propagates, e.g. MemoryError): only proof of corruption deletes.

Manifests name the model by its id or a display path (:func:`analysis.encoder.display_model_path`), never an absolute
install path; the key keeps using the resolved path, so existing entries stay valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analysis import __version__
from analysis.cache_files import (KeyLock, atomic_write, atomic_write_bytes, clean_leftovers, load_chunk, save_chunk,
                                  settle, sha256_file, sums_hold)
from analysis.corpus import content_hash, texts_and_spans
from analysis.errors import ConfigError, SenseScopeError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHUNK = 2048
FLOAT16_MAX = 65504.0
STAMP_ON_WRITE = 1 << 30  #: bytes of vectors from which the writer checks and stamps the entry it wrote


class CacheReadError(SenseScopeError):
    """A cache entry is there but cannot be read (permissions, I/O); it is left on disk, not deleted."""


class _Corrupt(Exception):
    """Proof that an entry is corrupt (checksum, shape, row count, unreadable manifest): it may be deleted."""


def cache_root() -> Path:
    """``$SENSESCOPE_CACHE`` if set, else ``cache/`` in the project folder."""
    env = os.environ.get("SENSESCOPE_CACHE")
    return Path(env).expanduser() if env else ROOT / "cache"


def _emb_dir() -> Path:
    return cache_root() / "embeddings"


@dataclass
class EmbeddingSet:
    """Vectors of every occurrence at several layers, plus the occurrences table and the manifest.

    Attributes
    ----------
    vectors : ndarray of shape (n_occurrences, n_layers, dim), float16 (memory-mapped) or float32
    layers : hidden-state indices of the second axis (0 = embedding layer)
    occurrences : DataFrame, one row per occurrence, same order as ``vectors``
    manifest : dict (model, layers, pooling, window, versions, created, rows, ...)
    """

    vectors: np.ndarray
    layers: tuple[int, ...]
    occurrences: pd.DataFrame
    manifest: dict
    key: str = ""
    cache_hit: bool = False
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[2])

    @property
    def model(self) -> str:
        return str(self.manifest.get("model", ""))

    def layer(self, layer: int) -> np.ndarray:
        """float32 (n, dim) vectors of one layer (negative counts from the top)."""
        layers = list(self.layers)
        if layer < 0:
            layer = layers[layer]
        if layer not in layers:
            raise ConfigError(f"layer {layer} is not in this embedding set (layers {layers[0]}..{layers[-1]})")
        return np.asarray(self.vectors[:, layers.index(layer), :], dtype=np.float32)

    def layer_mean(self, first: int, last: int) -> np.ndarray:
        """float32 (n, dim): the mean of layers first..last (inclusive)."""
        idx = [i for i, l in enumerate(self.layers) if first <= l <= last]
        if not idx:
            raise ConfigError(f"no layer between {first} and {last} in this embedding set")
        return np.asarray(self.vectors[:, idx, :], dtype=np.float32).mean(axis=1)


def embedding_key(info: dict, occ: pd.DataFrame, layers: list[int], pooling: str, window: int | None) -> str:
    config = {"model": info["path"], "fingerprint": info["fingerprint"], "layers": list(map(int, layers)),
              "pooling": pooling, "window": window, "corpus": content_hash(occ), "n": int(len(occ)),
              "version": __version__}
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:24]


def _versions() -> dict:
    import importlib.metadata as md

    out = {"sensescope": __version__}
    for pkg in ("torch", "transformers", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def open_entry(key: str, *, verify: bool | str = True, occurrences: pd.DataFrame | None = None) -> EmbeddingSet | None:
    """The finished entry ``key``, or None if absent or proven corrupt (a corrupt entry is deleted).

    ``verify``: True checks the files' sha256 sums unless a valid ``verified.json`` says they were checked and have
    not changed since (:func:`analysis.cache_files.sums_hold`); ``"always"`` reads every sum again; False checks
    shapes and row counts only (for the writer, which has just computed the sums).

    ``occurrences``: the caller's table for this key (which covers texts and spans, not metadata), carried by the
    entry instead of its own, of which only the row count is read (a million stored contexts took ~1 s to read).

    Raises CacheReadError, leaving the entry on disk, when it cannot be read for another reason (permissions, I/O).
    """
    folder = _emb_dir() / key
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return None
    try:
        manifest, vectors, occ = _read_entry(folder, verify, read_occurrences=occurrences is None)
    except _Corrupt:
        _discard(key)  # corrupt: never returned, recomputed by the caller
        return None
    except OSError as exc:
        from analysis.paths import display_path

        raise CacheReadError(f"cannot read the cached embeddings in {display_path(folder)} "
                             f"({exc.strerror or exc}); the entry is left in place: check the cache folder "
                             f"(its permissions, the disk) or remove it with `python -m analysis cache rm "
                             f"{key}`") from exc
    occ = occ if occurrences is None else occurrences.reset_index(drop=True)
    return EmbeddingSet(vectors=vectors, layers=tuple(manifest["layers"]), occurrences=occ, manifest=manifest,
                        key=key, cache_hit=True)


def _read_entry(folder: Path, verify: bool | str, read_occurrences: bool = True) -> tuple[dict, np.ndarray, object]:
    """Manifest, memory-mapped vectors and occurrences (None unless ``read_occurrences``: their row count is read) of
    an entry; _Corrupt only on proof, OSError passes through."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        expect = (int(manifest["rows"]), len(manifest["layers"]), int(manifest["dim"]))
        checksum = str(manifest["sha256"])
    except (ValueError, KeyError, TypeError) as exc:  # not JSON (or not UTF-8), or not a manifest of ours
        raise _Corrupt("unreadable manifest") from exc
    try:
        vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
    except FileNotFoundError as exc:
        raise _Corrupt("no vectors") from exc
    except (ValueError, EOFError) as exc:  # not an .npy, or shorter than its header says
        raise _Corrupt("bad vectors file") from exc
    if tuple(vectors.shape) != expect:
        raise _Corrupt(f"shape {vectors.shape} != {expect}")
    occ_path = folder / "occurrences.parquet"
    if not occ_path.exists():
        raise _Corrupt("no occurrences table")
    if verify:  # "always": every sum read again; True: a valid verified.json stands for it (see analysis.cache_files)
        bad = sums_hold(folder, {"vectors.npy": checksum, "occurrences.parquet": manifest.get("occurrences_sha256")},
                        use_stamp=verify != "always")
        if bad:
            raise _Corrupt(f"{bad}: checksum mismatch")
    try:
        import pyarrow.parquet as pq

        occ = pd.read_parquet(occ_path) if read_occurrences else None
        rows = len(occ) if read_occurrences else pq.ParquetFile(occ_path).metadata.num_rows
    except ValueError as exc:  # pyarrow's ArrowInvalid: not a parquet file (OSError = I/O, passes through)
        raise _Corrupt("bad occurrences table") from exc
    if rows != expect[0]:
        raise _Corrupt("occurrence count mismatch")
    return manifest, vectors, occ


def _discard(key: str) -> None:
    """Delete a corrupt entry, unless a run of that key holds its lock (it is about to replace the entry anyway)."""
    lock = KeyLock(_emb_dir(), key)
    if lock.acquire(blocking=False):
        try:
            shutil.rmtree(_emb_dir() / key, ignore_errors=True)
        finally:
            lock.release()


def _positive_int(value, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or number != value:
        raise ConfigError(f"the {what} must be a whole number of at least 1, not {value!r}")
    return number


def get_or_compute(occ: pd.DataFrame, model: str | None = None, *, layers=None, pooling: str = "mean",
                   window: int | None = None, chunk_size: int = DEFAULT_CHUNK, batch_size: int = 64,
                   progress: Callable[[int, int], None] | None = None, loaded=None, load: Callable | None = None,
                   device: str | None = None, engine=None) -> EmbeddingSet:
    """Embedding set of ``occ`` with ``model``: from the cache when there, else computed (resuming finished chunks).

    Parameters
    ----------
    occ : occurrences table (see ``docs/ARCHITECTURE.md``)
    model : hub id, folder, or None for the packaged default
    layers : hidden-state indices to keep (None = all, embedding layer included)
    chunk_size, batch_size : occurrences per cached chunk and per forward pass (whole numbers >= 1)
    loaded : an already loaded :class:`analysis.encoder.LoadedModel` for ``model`` (saves a reload)
    load : without ``loaded``, what gives the model on a miss (e.g. a server's shared copy); the key then comes from
        the model's config and weight files, so a cache hit never loads the model. Default: load ``model`` here.
    progress : progress(done, total) over occurrences, cached chunks included
    engine : what encodes the missing chunks (see :class:`ChunkPlan`); None = this process
        (:class:`LocalEngine`), e.g. :class:`analysis.ray_engine.RayEngine` for a Ray cluster. Whatever the engine,
        this function verifies the finished chunks, writes the ones it is given, and finishes the entry, so keys,
        files and checks are the same. With an engine the device is the engine's: ``device`` must be None, and the
        model loaded here (for the key and to check the spans) stays on the CPU.

    Bad input raises ConfigError before anything is written. Two runs of the same key take turns (the second gets
    the first one's entry); leftovers of killed runs are cleaned first.
    """
    from analysis import encoder

    chunk_size = _positive_int(chunk_size, "chunk size")
    batch_size = _positive_int(batch_size, "batch size")
    if engine is not None and device is not None:
        raise ConfigError("with an engine, give the device to the engine, not to get_or_compute")
    if device is not None:
        encoder.pick_device(device)  # a device this machine lacks is an error even when the entry is cached
    info, layer_list, key = _resolve(occ, model, layers, pooling, window, loaded)
    t0 = time.perf_counter()
    clean_leftovers(_emb_dir())
    entry = _cached(key, occ, t0, progress)
    if entry is not None:
        return entry
    lm = loaded or (load() if load else encoder.load_model(model, device=device if engine is None else "cpu"))
    texts, spans = texts_and_spans(occ)
    # Validate every span before any work is cached (bad input must leave nothing behind).
    encoder.plan_windows(lm, texts, spans, window=window, pooling=pooling)
    with KeyLock(_emb_dir(), key):
        entry = _cached(key, occ, t0, progress)  # another run of this key may have finished while we waited
        if entry is not None:
            return entry
        plan = ChunkPlan(model_path=lm.path, fingerprint=lm.fingerprint, dim=lm.dim, texts=texts, spans=spans,
                         layers=layer_list, pooling=pooling, window=window, chunk_size=chunk_size,
                         batch_size=batch_size)
        engine = engine if engine is not None else LocalEngine(lm)
        vectors = _compute_chunks(engine, key, plan, progress)
        seconds = time.perf_counter() - t0
        manifest = {"model": encoder.display_model_path(info.get("model", info.get("name"))),
                    "model_path": encoder.display_model_path(info["path"]), "fingerprint": info["fingerprint"],
                    "layers": layer_list, "pooling": pooling, "window": window,
                    "effective_window": window or lm.max_length, "corpus_hash": content_hash(occ),
                    "targets": sorted(map(str, occ["target"].unique()))[:20] if "target" in occ.columns else [],
                    "seconds": round(seconds, 3), "device": getattr(engine, "device_label", None) or lm.device}
        entry = _write_entry(key, vectors, occ, manifest)
        shutil.rmtree(_emb_dir() / f"{key}.partial", ignore_errors=True)
    entry.cache_hit, entry.seconds = False, seconds
    return entry


def _resolve(occ, model, layers, pooling, window, loaded) -> tuple[dict, list, str]:
    """Model info, layer list and cache key of a request."""
    from analysis import encoder

    if len(occ) == 0:
        raise ConfigError("there are no occurrences to embed")
    # Keys use the resolved path (as always, so existing entries stay valid); manifests get the display form.
    info = {**loaded.describe(), "path": loaded.path} if loaded is not None else encoder.model_info(model)
    layer_list = encoder.normalize_layers(info["n_layers"], info.get("model", info.get("name", "model")), layers)
    if pooling not in {"mean", "first"}:
        raise ConfigError(f"pooling must be 'mean' or 'first', not {pooling!r}")
    return info, layer_list, embedding_key(info, occ, layer_list, pooling, window)


def _cached(key: str, occ: pd.DataFrame, t0: float, progress) -> EmbeddingSet | None:
    entry = open_entry(key, occurrences=occ)  # the caller's table (maybe relabelled) goes with the vectors
    if entry is not None:
        entry.seconds = time.perf_counter() - t0
        if progress:
            progress(len(occ), len(occ))
    return entry


@dataclass(frozen=True)
class ChunkPlan:
    """What an engine needs to encode chunks of an entry: the model (path and weights fingerprint, which a remote
    worker checks against its own copy), the texts and spans, and the encoding settings. Chunk ``ci`` is the
    occurrences ``bounds(ci)``, the same cut as the chunk files of ``<key>.partial/chunks``."""

    model_path: str
    fingerprint: str
    dim: int
    texts: list
    spans: list
    layers: list
    pooling: str
    window: int | None
    chunk_size: int
    batch_size: int

    @property
    def n(self) -> int:
        return len(self.spans)

    @property
    def n_chunks(self) -> int:
        return -(-self.n // self.chunk_size)

    def bounds(self, ci: int) -> tuple[int, int]:
        lo = ci * self.chunk_size
        return lo, min(self.n, lo + self.chunk_size)

    def shape(self, ci: int) -> tuple[int, int, int]:
        lo, hi = self.bounds(ci)
        return hi - lo, len(self.layers), self.dim


class LocalEngine:
    """The single-process engine: encodes the missing chunks one after the other with an already loaded model.

    Engines have one method, ``run(plan, missing, progress)``: it yields ``(ci, vectors)`` for each chunk index in
    ``missing`` (each once, any order; vectors float32 of ``plan.shape(ci)``) and may call ``progress(rows)`` with
    the occurrences it has encoded so far in this run. An optional ``device_label`` names the device in manifests.
    """

    def __init__(self, lm):
        self.lm = lm

    def run(self, plan: ChunkPlan, missing: list[int], progress=None):
        from analysis import encoder

        done = 0
        for ci in missing:
            lo, hi = plan.bounds(ci)
            cb = (lambda d, t, done=done: progress(done + d)) if progress else None
            yield ci, encoder.embed_spans(self.lm, plan.texts, plan.spans[lo:hi], layers=plan.layers,
                                          pooling=plan.pooling, window=plan.window, batch_size=plan.batch_size,
                                          progress=cb)
            done += hi - lo


def _compute_chunks(engine, key: str, plan: ChunkPlan, progress) -> np.ndarray:
    """Vectors of all spans: verified chunks of an earlier run are reused, the engine computes the rest, and each
    chunk it returns is checked and saved (save_chunk) here, as it arrives (both engines hand them over in chunk
    order), so a killed run leaves only whole, checksummed chunks to resume from."""
    chunks_dir = _emb_dir() / f"{key}.partial" / "chunks"
    chunks_dir.mkdir(parents=True, exist_ok=True)
    parts: dict[int, np.ndarray] = {}
    for ci in range(plan.n_chunks):
        path = chunks_dir / f"{ci:06d}.npy"
        arr = load_chunk(path, plan.shape(ci)) if path.exists() else None
        if arr is not None:  # absent, or failed its checks: recomputed and rewritten, never used as it was
            parts[ci] = arr
    missing = [ci for ci in range(plan.n_chunks) if ci not in parts]
    cached = sum(plan.shape(ci)[0] for ci in parts)
    if progress and cached:
        progress(cached, plan.n)
    if missing:
        cb = (lambda rows: progress(cached + rows, plan.n)) if progress else None
        for ci, arr in engine.run(plan, missing, cb):
            if ci in parts or ci not in missing or tuple(arr.shape) != plan.shape(ci):
                raise RuntimeError(f"the engine returned chunk {ci} twice, unasked or with shape {arr.shape}")
            parts[ci] = _storage_array(np.asarray(arr))
            save_chunk(chunks_dir / f"{ci:06d}.npy", parts[ci])
    absent = [ci for ci in missing if ci not in parts]
    if absent:
        raise RuntimeError(f"the engine did not return chunks {absent[:5]}")
    ordered = [parts[ci] for ci in range(plan.n_chunks)]
    return np.concatenate(ordered, axis=0) if len(ordered) > 1 else ordered[0]


def write_entry(key: str, vectors: np.ndarray, occ: pd.DataFrame, manifest: dict) -> EmbeddingSet:
    """Write a finished entry atomically (under the key's lock): a staging folder renamed into place last."""
    with KeyLock(_emb_dir(), key):
        return _write_entry(key, vectors, occ, manifest)


def _write_entry(key: str, vectors: np.ndarray, occ: pd.DataFrame, manifest: dict) -> EmbeddingSet:
    vectors = _storage_array(vectors)
    final = _emb_dir() / key
    staging = _emb_dir() / f"{key}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    atomic_write(staging / "vectors.npy", lambda fh: np.save(fh, vectors, allow_pickle=False))
    table = occ.reset_index(drop=True)
    atomic_write(staging / "occurrences.parquet", lambda fh: table.to_parquet(fh, index=False))
    manifest = {**manifest, "key": key, "rows": int(vectors.shape[0]), "dim": int(vectors.shape[2]),
                "dtype": str(vectors.dtype), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "versions": _versions(), "sha256": sha256_file(staging / "vectors.npy"),
                "occurrences_sha256": sha256_file(staging / "occurrences.parquet")}
    atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    if big := vectors.nbytes >= STAMP_ON_WRITE:  # checked again once settled, and stamped: no sums read at 1st open
        settle(final, ["vectors.npy", "occurrences.parquet"])
    entry = open_entry(key, verify=big)
    if entry is None:  # the disk did not keep what was just written
        raise CacheReadError("the embeddings just written do not match their checksums (check the disk); a rerun "
                             "resumes from the finished chunks")
    entry.occurrences = occ.reset_index(drop=True)
    return entry


def _storage_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.float16:
        return arr
    if np.isfinite(arr).all() and np.abs(arr).max(initial=0.0) <= FLOAT16_MAX:
        return arr.astype(np.float16)
    return arr.astype(np.float32)


def list_entries() -> pd.DataFrame:
    """One row per cache entry: key, model, rows, layers, pooling, size, created, state (done / partial)."""
    rows = []
    root = _emb_dir()
    if root.exists():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir():
                continue
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            if folder.name.endswith(".partial"):
                n_chunks = len(list((folder / "chunks").glob("*.npy")))
                rows.append({"key": folder.name[: -len(".partial")], "state": f"partial ({n_chunks} chunks)",
                             "size_mb": round(size / 1e6, 2)})
                continue
            if folder.name.endswith(".staging"):
                continue
            try:
                m = json.loads((folder / "manifest.json").read_text())
            except Exception:
                rows.append({"key": folder.name, "state": "broken", "size_mb": round(size / 1e6, 2)})
                continue
            rows.append({"key": folder.name, "state": "done", "model": m.get("model"), "rows": m.get("rows"),
                         "layers": f"{m['layers'][0]}..{m['layers'][-1]}", "pooling": m.get("pooling"),
                         "targets": ",".join(m.get("targets", [])[:3]), "dtype": m.get("dtype"),
                         "size_mb": round(size / 1e6, 2), "created": m.get("created")})
    return pd.DataFrame(rows, columns=["key", "state", "model", "rows", "layers", "pooling", "targets", "dtype",
                                       "size_mb", "created"])


def verify_entries(keys: list[str] | None = None) -> dict[str, bool]:
    """Check every sum of the finished entries (key prefixes allowed; None: all), ignoring verified.json stamps.
    Returns key -> True when whole; a corrupt entry is removed (as any open that proves corruption does)."""
    found = sorted(f.name for f in _emb_dir().glob("*") if f.is_dir() and "." not in f.name)
    return {key: open_entry(key, verify="always") is not None for key in found
            if keys is None or any(key.startswith(k) for k in keys)}


def remove_entries(keys: list[str] | None = None) -> int:
    """Remove the given entries (key prefixes allowed), or everything when ``keys`` is None. Returns how many."""
    root = _emb_dir()
    if not root.exists():
        return 0
    removed = 0
    for folder in list(root.iterdir()):
        base = folder.name.split(".")[0]
        if keys is None or any(base.startswith(k) for k in keys):
            shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
            removed += 1
    return removed
