"""File-level machinery of the embedding cache (:mod:`analysis.store`): atomic writes, checksummed chunks, key locks
and the clean-up of what killed runs leave behind.

Atomic writes
    Every file goes to a temporary ``.tmp-*`` name in its folder and is renamed into place, so a reader sees the old
    file or the new one, never half of one. The temporary file is opened with mode ``0o666`` filtered by the umask
    (what any ``open()`` gives), so all files of the cache share one mode (``mkstemp`` would give 0600).

Chunks
    ``<key>.partial/chunks/NNNNNN.npy`` holds the vectors of one chunk of occurrences; ``NNNNNN.json`` beside it
    (written after the .npy) holds its sha256, shape and dtype. A resumed run uses a chunk only when the sidecar
    exists, the checksum, shape and dtype match and every value is finite; anything else is recomputed.

Key locks
    A run computing or writing entry ``<key>`` holds an exclusive ``flock`` on ``<key>.lock``. The OS releases it
    when the process dies, so a killed run never blocks the next one; two runs of the same key take turns (the second
    then finds the finished entry). Whoever releases the lock removes the file; a waiter that then holds a lock on a
    removed file takes it again (the inode check in :meth:`KeyLock.acquire`). Without ``fcntl`` (Windows) there is
    no locking and leftovers of other keys are left alone.

Checksums of finished entries
    :func:`sums_hold` checks the files of a finished entry against the sha256 sums of its manifest. Reading a million
    MiniLM vectors (5.4 GB) for that takes seconds, so after a successful check it writes ``verified.json``: the sums
    checked and each file's size, mtime, ctime and inode at that moment. The next check trusts the stamp only when
    those four are unchanged (any write, truncation, replacement or ``touch`` changes the ctime, which no program can
    set back) and every file was last changed at least :data:`STAMP_MARGIN_NS` before the stamp's check began, so
    a change within the same timestamp tick as the check cannot hide (git's "racily clean" rule). What a stamp cannot
    see is damage below the file system (a disk's bit rot): ``python -m analysis cache verify`` checks every sum
    again, ignoring stamps.

Leftovers
    :func:`clean_leftovers` removes, for each key whose lock it can take at once (so never another live run's
    files): ``<key>.partial`` when ``<key>`` is finished (a kill between the final rename and the clean-up),
    ``<key>.staging`` folders, ``.tmp-*`` files inside work folders, and orphaned ``<key>.lock`` files. An
    unfinished ``<key>.partial`` stays: it is what the next run of that key resumes from.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, IO

import numpy as np

TMP_PREFIX = ".tmp-"
_CHUNK_DTYPES = {"float16", "float32"}


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(fh)`` on a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}{path.suffix}"
    # 0o666 & ~umask, like open(): one mode for every file of the cache
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


#: A file changed less than this before a check began is checked again the next time (2 s: coarser than any
#: file system's timestamps, FAT's included).
STAMP_MARGIN_NS = 2_000_000_000
STAMP = "verified.json"


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def sums_hold(folder: Path, sums: dict[str, str | None], *, use_stamp: bool = True) -> str | None:
    """None when every file ``folder/name`` has the sha256 ``sums[name]`` (None: not checked), else the name of the
    first that does not. With ``use_stamp`` a valid ``verified.json`` stands for the check, and a check that passes
    writes one (see the module's notes; a stamp that cannot be written is skipped)."""
    stats = {name: _stat(folder / name) for name in sums}
    if use_stamp:
        try:
            stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
            if (stamp["sums"] == sums and stamp["stats"] == stats
                    and all(st[2] < int(stamp["checked_ns"]) - STAMP_MARGIN_NS for st in stats.values())):
                return None
        except (OSError, ValueError, KeyError, TypeError):  # no stamp, or not one of ours: check the sums
            pass
    started = time.time_ns()
    for name, want in sums.items():
        if want and sha256_file(folder / name) != want:
            return name
    settled = all(st[2] < started - STAMP_MARGIN_NS for st in stats.values())
    if settled and stats == {name: _stat(folder / name) for name in sums}:
        try:
            atomic_write_bytes(folder / STAMP, json.dumps({"sums": sums, "stats": stats,
                                                           "checked_ns": started}).encode())
        except OSError:  # a read-only cache: the next open checks the sums again
            pass
    return None


def settle(folder: Path, names) -> None:
    """Wait until the files ``folder/name`` were last changed :data:`STAMP_MARGIN_NS` ago (at most that long), so
    that a check of their sums begun now may be stamped: the writer of a big entry checks it once more then, and its
    first open reads no sums (seconds more for an embedding run of hours, seconds less on the page)."""
    newest = max(_stat(folder / name)[2] for name in names)
    time.sleep(max(0, newest + STAMP_MARGIN_NS - time.time_ns()) / 1e9 + 0.01)


def save_chunk(path: Path, arr: np.ndarray) -> None:
    """Write a chunk and then its sidecar (sha256, shape, dtype); a chunk without a sidecar is never trusted."""
    data = npy_bytes(arr)
    atomic_write_bytes(path, data)
    meta = {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(arr.shape), "dtype": str(arr.dtype)}
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta).encode())


def load_chunk(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The chunk at ``path`` if it is exactly what was written and has ``shape``; None means: recompute it.

    Checks, in order: the sidecar is there and readable, the file's sha256 matches it, the array loads (no pickle),
    its shape is ``shape`` and the sidecar's, its dtype is the sidecar's (float16/float32), every value is finite.
    """
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        data = path.read_bytes()
    except (OSError, ValueError):  # missing or unreadable: a partial chunk costs only its recomputation
        return None
    if not isinstance(meta, dict) or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        return None
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError):
        return None
    if (tuple(arr.shape) != tuple(shape) or list(arr.shape) != meta.get("shape")
            or str(arr.dtype) != meta.get("dtype") or str(arr.dtype) not in _CHUNK_DTYPES):
        return None
    return arr if np.isfinite(arr).all() else None


class KeyLock:
    """Exclusive lock on ``<folder>/<key>.lock`` (see the module docstring)."""

    def __init__(self, folder: Path, key: str):
        self.path = folder / f"{key}.lock"
        self.fh = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (waiting for it when ``blocking``); False when it is held elsewhere or cannot be had."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no locking; never claim another run's files
            return blocking
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "ab")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.close()
                return False
            except BaseException:
                fh.close()
                raise
            try:
                st = os.stat(self.path)
                same = (st.st_ino, st.st_dev) == (os.fstat(fh.fileno()).st_ino, os.fstat(fh.fileno()).st_dev)
            except FileNotFoundError:
                same = False
            if same:
                self.fh = fh
                return True
            fh.close()  # the holder removed the file as it released it: lock the current one

    def release(self) -> None:
        if self.fh is not None:
            self.path.unlink(missing_ok=True)  # before unlocking, so no one can lock the removed file for good
            self.fh.close()
            self.fh = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(f"{TMP_PREFIX}*") if p.is_file()]


def clean_leftovers(folder: Path) -> int:
    """Remove what killed runs left in ``folder`` (see the module docstring); returns how many paths went."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in list(folder.iterdir()):
        key, _, kind = path.name.partition(".")
        if not key or kind not in {"partial", "staging", "lock"}:
            continue
        finished = (folder / key / "manifest.json").exists()
        if kind == "partial" and not finished:
            targets = _tmp_files(path)  # the chunks themselves are kept for the resume
        elif kind == "lock":
            targets = []  # KeyLock.release removes the orphaned file itself
        else:
            targets = [path]
        if kind != "lock" and not targets:
            continue
        lock = KeyLock(folder, key)
        if not lock.acquire(blocking=False):
            continue  # a live run of this key: its files are its own
        try:
            for t in targets:
                shutil.rmtree(t, ignore_errors=True) if t.is_dir() else t.unlink(missing_ok=True)
                removed += 1
        finally:
            lock.release()
    return removed
