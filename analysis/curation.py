"""Curated senses: the researcher's own sense labels for the occurrences of an embedding set, edited step by step.

Clusters are a proposal. A curation starts from a clustering's labels and is corrected by edits: merge clusters,
split one (k-means with k = 2.. on its own vectors, seeded), move chosen occurrences to a sense (or a new one),
rename a sense, mark senses or occurrences as noise (label -1), and undo. Senses are integer ids with optional names.

Storage, beside the embedding set in the cache (the vectors are never touched)::

    <cache>/embeddings/<key>.senses/v001.parquet   occurrence_id, sense, sense_name  (one file per version)
    <cache>/embeddings/<key>.senses/edits.json     the log of every edit, the undo stack, the corpus it belongs to

Each edit writes a new version file (numbered past every file there, so no version is ever overwritten) and then
the log, both atomically (:func:`analysis.cache_files.atomic_write`), under a lock on the folder; a crash between the
two leaves an unused version file and the log as it was. Undo moves back one step on the stack (the undone
versions stay on disk) and is logged too.

Every edit is checked before anything is written: an unknown sense, a merge of a sense with itself, a split of a
sense with fewer occurrences than parts, an empty selection each raise :class:`ConfigError` with one sentence, and
the curation is left as it was. A curation belongs to the occurrences it was made on (their content hash and row
count, :func:`analysis.corpus.content_hash`); opened with other occurrences it is *stale* and refuses every edit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cache_files import KeyLock, atomic_write, atomic_write_bytes
from analysis.corpus import content_hash
from analysis.errors import ConfigError

NOISE = -1
FORMAT = 1
LOG = "edits.json"


class StaleCurationError(ConfigError):
    """The curated senses were made on other occurrences than the embedding set's (the corpus changed)."""


def senses_dir(key: str, root: Path | None = None) -> Path:
    """``<cache>/embeddings/<key>.senses`` (``root`` = the cache root; default :func:`analysis.store.cache_root`)."""
    if root is None:
        from analysis.store import cache_root

        root = cache_root()
    return Path(root) / "embeddings" / f"{key}.senses"


def _version_path(folder: Path, version: int) -> Path:
    return folder / f"v{int(version):03d}.parquet"


def _next_version(folder: Path, log_versions) -> int:
    on_disk = [int(p.stem[1:]) for p in folder.glob("v*.parquet") if p.stem[1:].isdigit()]
    return max([0, *on_disk, *log_versions]) + 1


def _default_name(sense: int) -> str:
    return "noise" if sense == NOISE else f"sense {sense}"


@dataclass
class Curation:
    """The curated senses of one embedding set; see the module notes. Open with :func:`open_curation` or
    :func:`start_curation`; every edit method returns ``self`` after saving a new version."""

    folder: Path
    key: str
    corpus_hash: str
    rows: int
    occurrence_ids: np.ndarray
    labels: np.ndarray
    names: dict[int, str]
    version: int
    stack: list[int]
    edits: list[dict]
    current_hash: str = ""
    current_rows: int = 0
    source: dict = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------------- reading
    @property
    def stale(self) -> bool:
        return (self.current_hash, self.current_rows) != (self.corpus_hash, self.rows)

    @property
    def senses(self) -> list[int]:
        """The sense ids in use (noise last)."""
        ids = sorted(int(s) for s in np.unique(self.labels) if s != NOISE)
        return ids + ([NOISE] if (self.labels == NOISE).any() else [])

    def name_of(self, sense: int) -> str:
        return self.names.get(int(sense)) or _default_name(int(sense))

    def sense_names(self) -> np.ndarray:
        """The name of each occurrence's sense (object array of length n)."""
        lookup = {s: self.name_of(s) for s in self.senses}
        return np.array([lookup[int(s)] for s in self.labels], dtype=object)

    def sizes(self) -> dict[int, int]:
        ids, counts = np.unique(self.labels, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def table(self, occ: pd.DataFrame | None = None) -> pd.DataFrame:
        """occurrence_id, sense, sense_name (+ doc_id, form, year, period, label of ``occ`` when given)."""
        out = pd.DataFrame({"occurrence_id": self.occurrence_ids, "sense": self.labels,
                            "sense_name": self.sense_names()})
        if occ is not None:
            for c in ("doc_id", "form", "start", "end", "year", "period", "label"):
                if c in occ.columns:
                    out[c] = occ[c].to_numpy()
        return out

    def manifest_params(self) -> dict:
        """What an export of the curated senses records: the set, the version, where it started, every edit."""
        return {"embedding_key": self.key, "corpus_hash": self.corpus_hash, "rows": self.rows,
                "version": self.version, "history": list(self.stack), "source": self.source,
                "edits": list(self.edits), "senses": {str(s): self.name_of(s) for s in self.senses}}

    def export(self, out_dir, stem: str, occ: pd.DataFrame | None = None, params: dict | None = None) -> str:
        """Write ``stem.csv`` (the curated senses) and ``stem.manifest.json`` (with every edit); the CSV path."""
        from analysis.export import save_table

        return save_table(self.table(occ), out_dir, stem, {**(params or {}), **self.manifest_params()})

    # ------------------------------------------------------------------------------------------------- checks
    def check_fresh(self) -> None:
        if self.stale:
            raise StaleCurationError(
                f"the curated senses (version {self.version}) were made on {self.rows} occurrences with corpus hash "
                f"{self.corpus_hash}, but the embedding set now holds {self.current_rows} with hash "
                f"{self.current_hash}: the corpus changed, so no edit is applied (the saved versions are kept); "
                f"start a new curation from the current clusters")

    def _check_sense(self, sense, what: str = "sense") -> int:
        try:
            sense = int(sense)
        except (TypeError, ValueError):
            raise ConfigError(f"{sense!r} is not a {what} id") from None
        if sense == NOISE:
            raise ConfigError(f"noise is not a {what} that can be edited this way; move its occurrences instead")
        if sense not in self.sizes():
            shown = ", ".join(str(s) for s in self.senses if s != NOISE) or "none"
            raise ConfigError(f"there is no {what} {sense} (there are: {shown})")
        return sense

    def _rows(self, rows) -> np.ndarray:
        idx = np.unique(np.asarray(list(rows), dtype=np.int64))
        if idx.size == 0:
            raise ConfigError("no occurrences are selected: select some first (box, lasso, search or a named "
                              "selection)")
        if idx.min() < 0 or idx.max() >= len(self.labels):
            raise ConfigError(f"the selection names rows outside 0..{len(self.labels) - 1}")
        return idx

    # -------------------------------------------------------------------------------------------------- edits
    def merge(self, senses, *, name: str | None = None) -> "Curation":
        """Merge ``senses`` into the first of them (which keeps its id; its name unless ``name`` is given)."""
        self.check_fresh()
        given = [self._check_sense(s) for s in senses]
        distinct = list(dict.fromkeys(given))
        if len(distinct) < 2:
            why = ("none was chosen" if not given else f"only sense {given[0]} was chosen" if len(given) == 1
                   else f"sense {given[0]} was given {len(given)} times")
            raise ConfigError(f"merging needs two different senses; {why}")
        into = distinct[0]
        labels = self.labels.copy()
        labels[np.isin(labels, distinct[1:])] = into
        names = {s: n for s, n in self.names.items() if s not in distinct[1:]}
        if name and name.strip():
            names[into] = name.strip()
        return self._commit(labels, names, {"op": "merge", "senses": distinct, "into": into,
                                            "name": (name or "").strip() or None})

    def split(self, sense, X, *, k: int = 2, seed: int = 0) -> "Curation":
        """Split ``sense`` in ``k`` parts by k-means on its rows of ``X`` (n, dim); the largest part keeps the id."""
        from sklearn.cluster import KMeans

        self.check_fresh()
        sense = self._check_sense(sense)
        k = int(k)
        members = np.flatnonzero(self.labels == sense)
        if k < 2:
            raise ConfigError(f"a split needs k of at least 2, not {k}")
        if len(members) < k:
            raise ConfigError(f"sense {sense} has {len(members)} occurrence{'s' if len(members) != 1 else ''}, "
                              f"too few to split into {k} parts")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) != len(self.labels):
            raise ConfigError(f"splitting needs one vector per occurrence ({len(self.labels)}), not shape {X.shape}")
        sub = X[members]
        if len(np.unique(sub, axis=0)) < k:
            raise ConfigError(f"the occurrences of sense {sense} have fewer than {k} distinct vectors, so they "
                              f"cannot be split into {k} parts")
        parts = KMeans(n_clusters=k, random_state=int(seed), n_init=10).fit_predict(sub)
        ids, counts = np.unique(parts, return_counts=True)
        order = ids[np.lexsort((ids, -counts))]  # largest first, ties by k-means id
        labels = self.labels.copy()
        fresh = max(self.sizes()) + 1
        new_ids = [sense] + list(range(max(fresh, 0), max(fresh, 0) + k - 1))
        for part, new in zip(order, new_ids):
            labels[members[parts == part]] = new
        return self._commit(labels, dict(self.names), {"op": "split", "sense": sense, "k": k, "seed": int(seed),
                                                       "new_senses": new_ids[1:]})

    def move(self, rows, to, *, name: str | None = None) -> "Curation":
        """Move the occurrences at row positions ``rows`` to sense ``to`` (an id, ``"new"`` or -1 for noise)."""
        self.check_fresh()
        idx = self._rows(rows)
        if isinstance(to, str) and to == "new":
            target = max(max(self.sizes()) + 1, 0)
        elif to is not None and int(to) == NOISE:
            target = NOISE
        else:
            target = self._check_sense(to)
        labels = self.labels.copy()
        labels[idx] = target
        names = dict(self.names)
        if name and name.strip() and target != NOISE:
            names[target] = name.strip()
        ids = [int(i) for i in self.occurrence_ids[idx]]
        return self._commit(labels, names, {"op": "move", "occurrence_ids": ids, "to": target,
                                            "name": (name or "").strip() or None})

    def rename(self, sense, name: str) -> "Curation":
        """Name a sense (an empty name goes back to the default, "sense N")."""
        self.check_fresh()
        sense = self._check_sense(sense)
        names = dict(self.names)
        clean = (name or "").strip()
        if clean:
            names[sense] = clean
        else:
            names.pop(sense, None)
        return self._commit(self.labels.copy(), names, {"op": "rename", "sense": sense, "name": clean or None})

    def noise(self, senses=(), rows=()) -> "Curation":
        """Mark whole senses and/or the occurrences at ``rows`` as noise (-1)."""
        self.check_fresh()
        given = [self._check_sense(s) for s in senses]
        idx = self._rows(rows) if len(list(rows)) else np.array([], dtype=np.int64)
        if not given and idx.size == 0:
            raise ConfigError("choose the senses or select the occurrences to mark as noise")
        labels = self.labels.copy()
        labels[np.isin(labels, given)] = NOISE
        labels[idx] = NOISE
        names = {s: n for s, n in self.names.items() if s not in given}
        return self._commit(labels, names, {"op": "noise", "senses": given,
                                            "occurrence_ids": [int(i) for i in self.occurrence_ids[idx]]})

    def undo(self, steps: int = 1) -> "Curation":
        """Go back ``steps`` edits (the undone versions stay on disk; the undo is logged)."""
        self.check_fresh()
        steps = int(steps)
        if steps < 1:
            raise ConfigError(f"undo at least one edit, not {steps}")
        n_edits = len(self.stack) - 1
        if n_edits == 0:
            raise ConfigError("there is nothing to undo: this is where the curation started")
        if steps > n_edits:
            raise ConfigError(f"there {'is only 1 edit' if n_edits == 1 else f'are only {n_edits} edits'} to undo")
        with self._locked():
            stack = self.stack[:-steps]
            labels, names = _read_version(self.folder, stack[-1], self.occurrence_ids)
            entry = _stamp({"op": "undo", "steps": steps, "from": self.version, "to": stack[-1]}, stack[-1])
            self._write_log(stack, [*self.edits, entry])
            self.labels, self.names, self.stack, self.version = labels, names, stack, stack[-1]
            self.edits = [*self.edits, entry]
        return self

    # ---------------------------------------------------------------------------------------------- saving
    def _locked(self):
        return _FolderLock(self)

    def _commit(self, labels: np.ndarray, names: dict, entry: dict) -> "Curation":
        with self._locked():
            version = _next_version(self.folder, self.stack)
            names = {int(s): n for s, n in names.items() if (labels == int(s)).any()}
            _write_version(self.folder, version, self.occurrence_ids, labels, names)
            stamped = _stamp(entry, version)
            self._write_log([*self.stack, version], [*self.edits, stamped])
            self.labels, self.names, self.version = labels, names, version
            self.stack, self.edits = [*self.stack, version], [*self.edits, stamped]
        return self

    def _write_log(self, stack: list[int], edits: list[dict]) -> None:
        doc = {"format": FORMAT, "key": self.key, "corpus_hash": self.corpus_hash, "rows": self.rows,
               "current": stack[-1], "stack": stack, "source": self.source, "edits": edits}
        atomic_write_bytes(self.folder / LOG, json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8"))

    def _reload_if_changed(self) -> None:
        """Under the lock: another session may have edited since this one read the log; refuse to overwrite it."""
        doc = _read_log(self.folder)
        if doc is not None and int(doc.get("current", self.version)) != self.version:
            raise ConfigError(f"the curated senses were changed elsewhere (now version {doc['current']}, here "
                              f"{self.version}); reload the page to see them, then edit again")


class _FolderLock:
    def __init__(self, cur: Curation):
        self.cur = cur
        self.lock = KeyLock(cur.folder, "edits")

    def __enter__(self):
        self.cur.folder.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            self.cur._reload_if_changed()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc):
        self.lock.release()
        return False


def _stamp(entry: dict, version: int) -> dict:
    return {**entry, "version": int(version), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _write_version(folder: Path, version: int, ids: np.ndarray, labels: np.ndarray, names: dict) -> None:
    df = pd.DataFrame({"occurrence_id": np.asarray(ids, dtype=np.int64), "sense": np.asarray(labels, dtype=np.int64),
                       "sense_name": [names.get(int(s), "") for s in labels]})
    atomic_write(_version_path(folder, version), lambda fh: df.to_parquet(fh, index=False))


def _read_version(folder: Path, version: int, ids: np.ndarray) -> tuple[np.ndarray, dict]:
    df = pd.read_parquet(_version_path(folder, version))
    if len(df) != len(ids) or not np.array_equal(df["occurrence_id"].to_numpy(), np.asarray(ids)):
        raise ConfigError(f"version {version} of the curated senses does not match the occurrences it belongs to")
    labels = df["sense"].to_numpy(dtype=np.int64)
    names = {int(s): str(n) for s, n in zip(df["sense"], df["sense_name"]) if isinstance(n, str) and n.strip()}
    return labels, names


def _read_log(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / LOG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the log of the curated senses in {folder.name} cannot be read ({exc}); the versions "
                          f"are left in place") from exc
    return doc if isinstance(doc, dict) and doc.get("stack") else None


def _ids(occ: pd.DataFrame) -> np.ndarray:
    return occ["occurrence_id"].to_numpy(dtype=np.int64) if "occurrence_id" in occ.columns else np.arange(len(occ))


def start_curation(key: str, occ: pd.DataFrame, labels, names: dict | None = None, *, source: dict | None = None,
                   root: Path | None = None) -> Curation:
    """A new curation of the embedding set ``key`` (its occurrences ``occ``) from cluster ``labels`` (saved at once).

    A curation already there is not lost: the start is a new version on its stack, logged as ``start``."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(occ):
        raise ConfigError(f"{len(labels)} cluster labels for {len(occ)} occurrences")
    folder = senses_dir(key, root)
    h, n = content_hash(occ), int(len(occ))
    ids = _ids(occ)
    held = open_curation(key, occ, root=root)
    if held is not None and not held.stale:
        cur = held
    else:
        cur = Curation(folder=folder, key=key, corpus_hash=h, rows=n, occurrence_ids=ids, labels=labels, names={},
                       version=0, stack=[], edits=[], current_hash=h, current_rows=n)
        if held is not None:  # a stale log: its versions stay on disk, its edits in the log; the stack starts again
            cur.version, cur.edits = held.version, list(held.edits)
    cur.source = dict(source or {})
    clean = {int(s): str(v).strip() for s, v in (names or {}).items() if str(v).strip()}
    return cur._commit(labels, clean, {"op": "start", "source": cur.source, "k": len(np.unique(labels[labels >= 0]))})


def open_curation(key: str, occ: pd.DataFrame, *, root: Path | None = None) -> Curation | None:
    """The saved curation of embedding set ``key``, bound to the occurrences ``occ`` (stale if they differ), or None."""
    folder = senses_dir(key, root)
    doc = _read_log(folder)
    if doc is None:
        return None
    h, n = content_hash(occ), int(len(occ))
    stack = [int(v) for v in doc["stack"]]
    rows = int(doc.get("rows", -1))
    ids = _ids(occ)
    if (h, n) == (doc.get("corpus_hash"), rows):
        labels, names = _read_version(folder, stack[-1], ids)
    else:  # stale: shown for what it is, never applied to these occurrences
        df = pd.read_parquet(_version_path(folder, stack[-1]))
        ids, labels = df["occurrence_id"].to_numpy(dtype=np.int64), df["sense"].to_numpy(dtype=np.int64)
        names = {}
    return Curation(folder=folder, key=key, corpus_hash=str(doc.get("corpus_hash")), rows=rows,
                    occurrence_ids=ids, labels=labels, names=names, version=stack[-1], stack=stack,
                    edits=list(doc.get("edits") or []), current_hash=h, current_rows=n,
                    source=dict(doc.get("source") or {}))
