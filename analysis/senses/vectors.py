"""Vectors of one layer (or a layer mix) of an embedding set, and their preprocessing."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis import layers
from analysis._util import as_matrix, unit_rows
from analysis.errors import ConfigError, TooFewPointsError
from analysis.senses._base import DEFAULT_LAYER


@dataclass(frozen=True)
class Preprocessing:
    """How vectors are prepared before projection, clustering and classification.

    Parameters
    ----------
    normalize : bool
        Scale every vector to unit length (before and after the removals below), so that Euclidean k-means works on
        cosine geometry.
    remove_mean : bool
        Subtract the mean vector of the occurrences: contextual vectors share a large common direction
        (anisotropy, Ethayarajh 2019) that makes all cosines high. It helps cosine-based agglomerative clustering on
        some data but, followed by re-normalisation, hurt k-means and the centroid classifier in our benchmark
        (the centroid of a dominant sense lies near the mean, so its direction becomes noise).
    n_directions : int
        Also project out this many top principal directions of the centred vectors ("all-but-the-top", Mu &
        Viswanath 2018). Meant for vocabularies of many words; among one word's occurrences the top direction is
        usually the sense contrast itself, so this is off by default.
    """

    normalize: bool = True
    remove_mean: bool = False
    n_directions: int = 0

    def describe(self) -> str:
        parts = []
        if self.normalize:
            parts.append("L2-normalised")
        if self.remove_mean:
            parts.append("common mean removed")
        if self.n_directions:
            parts.append(f"top {self.n_directions} principal directions removed")
        return ", ".join(parts) or "raw vectors"


#: Preprocessing used when the user names none: length normalisation only. Removing the common mean (then
#: re-normalising) lowered k-means ARI and centroid accuracy, and removing top principal directions destroyed the
#: sense signal — in one word's occurrences the top direction *is* the main sense contrast (BENCHMARKS.md).
DEFAULT_PREPROCESSING = Preprocessing(normalize=True, remove_mean=False, n_directions=0)


# ----------------------------------------------------------------------------------------------------------------
# Layers and preprocessing
# ----------------------------------------------------------------------------------------------------------------

def resolve_layers(available: Sequence[int], layer) -> list[int]:
    """Positions on the embedding set's layer axis of the hidden states a layer spec names.

    ``available`` holds the hidden-state index of each position (0 = embedding layer); ``layer`` is any spec of
    :mod:`analysis.layers` (``6``, ``-1``, ``(4, 6)``, ``"4-6"``, ``"1,4,-1"``), None meaning :data:`DEFAULT_LAYER`.
    Returns the positions in increasing hidden-state order; ConfigError names the stored layers when one is missing.
    """
    return layers.positions(available, layer, default=DEFAULT_LAYER)


def layer_label(available: Sequence[int], layer) -> str:
    """A layer spec as people read it, in absolute hidden-state indices: ``"6"``, ``"4-6"`` or ``"1,4,6"``."""
    return layers.label(available, layer, default=DEFAULT_LAYER)


def layer_vectors(vectors, available: Sequence[int], layer=None) -> np.ndarray:
    """The vectors of one layer of an embedding set, or their mean over the layers a spec names ("layer mixing").

    Parameters
    ----------
    vectors : ndarray of shape (n_occurrences, n_layers, dim)
        The embedding set's vectors (may be a float16 memmap).
    available : sequence of int
        Hidden-state index of each position on the layer axis.
    layer : int, tuple, str or list, optional
        A layer spec (see :func:`resolve_layers`); several layers are averaged. Default :data:`DEFAULT_LAYER`.

    Returns
    -------
    ndarray of shape (n_occurrences, dim), float32
    """
    if np.ndim(vectors) != 3:
        raise ConfigError(f"Expected vectors of shape (n_occurrences, n_layers, dim), got shape {np.shape(vectors)}.")
    if np.shape(vectors)[1] != len(available):
        raise ConfigError(f"The vectors hold {np.shape(vectors)[1]} layers but {len(available)} layer indices were given.")
    pos = resolve_layers(available, layer)
    if len(pos) == 1:
        return np.asarray(vectors[:, pos[0], :], dtype=np.float32)
    # Accumulate in float32 one layer at a time: a float16 memmap is never materialised whole.
    out = np.zeros((vectors.shape[0], vectors.shape[2]), dtype=np.float32)
    for p in pos:
        out += np.asarray(vectors[:, p, :], dtype=np.float32)
    return out / len(pos)


class VectorPreprocessor:
    """Length normalisation and removal of the common mean / top principal directions (estimator shape).

    Parameters
    ----------
    normalize, remove_mean, n_directions
        See :class:`Preprocessing`.

    Attributes
    ----------
    mean_ : ndarray of shape (dim,) or None
        Mean of the (normalised) fitting vectors, subtracted by :meth:`transform`.
    directions_ : ndarray of shape (n_directions, dim) or None
        Top principal directions removed by :meth:`transform`.
    """

    def __init__(self, normalize: bool = True, remove_mean: bool = False, n_directions: int = 0):
        self.normalize = normalize
        self.remove_mean = remove_mean
        self.n_directions = n_directions

    @classmethod
    def from_config(cls, config: Preprocessing | None) -> "VectorPreprocessor":
        config = DEFAULT_PREPROCESSING if config is None else config
        return cls(config.normalize, config.remove_mean, config.n_directions)

    def fit(self, X) -> "VectorPreprocessor":
        """Learn the mean and principal directions from X of shape (n, dim); returns self."""
        X = as_matrix(X, dtype=np.float32)
        if self.n_directions < 0 or self.n_directions >= X.shape[1]:
            raise ConfigError(f"The number of removed directions must be between 0 and {X.shape[1] - 1}.")
        if self.n_directions and self.n_directions >= X.shape[0]:
            raise TooFewPointsError(f"Removing {self.n_directions} principal directions needs more than "
                                    f"{self.n_directions} occurrences; there are {X.shape[0]}.")
        center = self.remove_mean or self.n_directions > 0
        self.mean_ = self.directions_ = None
        if not center:  # nothing to learn (normalisation alone needs no fit): skip a pass over a big set
            return self
        Z = unit_rows(X, zero_ok=True) if self.normalize else X
        self.mean_ = Z.mean(axis=0)
        if self.n_directions:
            C = Z - self.mean_
            # Right singular vectors = principal directions; a thin SVD of (n, dim) is cheap for dim ~ 1k.
            _, _, vt = np.linalg.svd(C.astype(np.float64), full_matrices=False)
            self.directions_ = vt[: self.n_directions].astype(np.float32)
        return self

    def transform(self, X) -> np.ndarray:
        """Apply the learned preprocessing; returns float32 of shape (n, dim)."""
        X = as_matrix(X, dtype=np.float32)
        Z = unit_rows(X, zero_ok=True) if self.normalize else X.copy()
        changed = False
        if self.mean_ is not None and (self.remove_mean or self.directions_ is not None):
            Z, changed = Z - self.mean_, True
        if self.directions_ is not None:
            Z, changed = Z - (Z @ self.directions_.T) @ self.directions_, True
        if self.normalize and changed:  # unit rows again after a subtraction (they already are otherwise)
            Z = unit_rows(Z, zero_ok=True)
        return Z.astype(np.float32, copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)


def preprocess(X, config: Preprocessing | None = None) -> np.ndarray:
    """Fit :class:`VectorPreprocessor` on X (n, dim) and return the prepared (n, dim) float32 vectors."""
    return VectorPreprocessor.from_config(config).fit_transform(X)


def _row_by_row(pre: VectorPreprocessor, vectors) -> bool:
    """Whether each row can be prepared on its own: nothing is learnt from the data (length normalisation or none)
    and the vectors are a set's (n, layers, dim) array."""
    return not (pre.remove_mean or pre.n_directions) and np.ndim(vectors) == 3


#: Rows per block of :func:`prepared_layer` (25 MB of float32 MiniLM vectors: the block stays in the CPU's caches).
BLOCK_ROWS = 16_384


def prepared_layer(vectors, available: Sequence[int], layer=None, config: Preprocessing | None = None) -> np.ndarray:
    """``preprocess(layer_vectors(vectors, available, layer), config)``, in one pass over blocks of rows when the
    preprocessing learns nothing from the data (length normalisation alone, the default).

    Each block is read from the (memory-mapped, float16) set, checked and normalised while it is in the CPU's caches,
    and written once into the result: the same float32 values as the two steps, without their passes over
    (n, dim) temporaries (at a million MiniLM vectors 1.5 GB each). Mean or direction removal needs the whole
    layer first and takes the two steps.
    """
    pre = VectorPreprocessor.from_config(config)
    if not _row_by_row(pre, vectors):
        return preprocess(layer_vectors(vectors, available, layer), config)
    n, _, dim = np.shape(vectors)
    if n == 0:
        raise TooFewPointsError("there are no occurrences to analyse")
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, BLOCK_ROWS):
        hi = min(n, lo + BLOCK_ROWS)
        block = as_matrix(layer_vectors(vectors[lo:hi], available, layer), dtype=np.float32)
        out[lo:hi] = unit_rows(block, zero_ok=True) if pre.normalize else block
    return out


#: Threads of a :meth:`LazyLayer.map_blocks` pass (the machine's cores, at most 4: the pass is bound by memory reads).
PASS_THREADS = max(1, min(4, os.cpu_count() or 1))


def _pool():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=PASS_THREADS)


class LazyLayer:
    """The prepared vectors of one layer spec of a big (memory-mapped) set, read when they are asked for.

    ``prepared_layer(vectors, available, layer, config)`` without making it first: rows by index
    (``lazy[idx]``, :meth:`take`) and blocks in order (:meth:`map_blocks`) are prepared from the set as they are
    read, so a k-means fitted on a sample and a PCA fitted on a sample can place every row without a (n, dim)
    float32 matrix in fresh memory (1.5 GB at a million MiniLM vectors). Anything else (``np.asarray(lazy)``, a
    column, a tuple index) makes the whole matrix once (:meth:`materialize`, thread-safe), keeps it read-only and
    serves every later read from it.
    The values are those of :func:`prepared_layer`, bit for bit: each row goes through the same steps.

    Only a preparation that learns nothing from the data (length normalisation or none) can be read this way;
    :func:`lazy_layer` returns the made matrix for the others.
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, vectors, available: Sequence[int], layer=None, config: Preprocessing | None = None):
        pre = VectorPreprocessor.from_config(config)
        if not _row_by_row(pre, vectors):
            raise ConfigError("only a preparation that learns nothing from the data can be read lazily")
        resolve_layers(available, layer)  # a missing layer is an error now, not at the first read
        self._vectors, self._available, self._layer, self._config = vectors, list(available), layer, config
        self._normalize = pre.normalize
        n, _, dim = np.shape(vectors)
        if n == 0:
            raise TooFewPointsError("there are no occurrences to analyse")
        self.shape = (int(n), int(dim))
        self._full: np.ndarray | None = None
        self._lock = threading.Lock()
        self._riders: dict = {}  # key -> fn of a block, computed by the next pass (see ride)
        self._ridden: dict = {}  # key -> the rider's result over every row
        self._memo: dict = {}

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def made(self) -> bool:
        """Whether the whole matrix has been made (reads come from it)."""
        return self._full is not None

    def _prepare(self, raw) -> np.ndarray:
        block = as_matrix(layer_vectors(raw, self._available, self._layer), dtype=np.float32)
        return unit_rows(block, zero_ok=True) if self._normalize else block

    def materialize(self) -> np.ndarray:
        """The whole prepared matrix (made on the first call, read-only, shared by every caller)."""
        with self._lock:
            if self._full is None:
                full = prepared_layer(self._vectors, self._available, self._layer, self._config)
                full.flags.writeable = False
                self._full = full
        return self._full

    def __array__(self, dtype=None, copy=None):
        full = self.materialize()
        return full if dtype is None or np.dtype(dtype) == full.dtype else full.astype(dtype)

    def take(self, rows) -> np.ndarray:
        """Prepared rows ``rows`` (integer indices, any order), read in sorted blocks on :data:`PASS_THREADS`
        threads."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._full is not None:
            return self._full[rows]
        if rows.size and (rows.min() < -self.shape[0] or rows.max() >= self.shape[0]):
            raise IndexError(f"row index out of range for {self.shape[0]} rows")
        rows = np.where(rows < 0, rows + self.shape[0], rows)
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.shape[1]), dtype=np.float32)
        starts = range(0, len(rows), BLOCK_ROWS)
        with _pool() as pool:
            parts = pool.map(lambda lo: self._prepare(self._vectors[rows[order[lo:lo + BLOCK_ROWS]]]), starts)
            for lo, part in zip(starts, parts):
                out[order[lo:lo + BLOCK_ROWS]] = part
        return out

    def map_blocks(self, fn, rows: int | None = None) -> list:
        """``fn`` of every block of ``rows`` rows (:data:`BLOCK_ROWS` by default), the results in row order; the blocks
        are read and prepared on :data:`PASS_THREADS` threads (the float16 cast, norms and products release the GIL).
        The pass also computes the riders waiting for one (:meth:`ride`)."""
        rows = BLOCK_ROWS if rows is None else int(rows)
        n = self.shape[0]
        with self._lock:
            riders, self._riders = self._riders, {}

        def one(lo: int):
            hi = min(n, lo + rows)
            block = self._full[lo:hi] if self._full is not None else self._prepare(self._vectors[lo:hi])
            return fn(block), [rider(block) for rider in riders.values()]

        with _pool() as pool:
            parts = list(pool.map(one, range(0, n, rows)))
        if riders:
            done = {key: np.concatenate([extra[i] for _, extra in parts]) for i, key in enumerate(riders)}
            with self._lock:
                self._ridden.update(done)
        return [out for out, _ in parts]

    def ride(self, key, fn) -> None:
        """Have the next pass over the rows (whoever asks for it: :meth:`map_blocks`) also compute ``fn`` of every
        block, and keep the row-ordered concatenation under ``key`` (:meth:`ridden`). Two results that need every row
        then cost one read of the set, not two (at a million MiniLM vectors a pass reads 0.8 GB of float16 and takes
        1-2 s here). ``fn`` must be a function of the rows alone, so that any pass gives the same result; a key
        already waiting or computed is left as it is."""
        with self._lock:
            if key not in self._ridden:
                self._riders.setdefault(key, fn)

    def ridden(self, key):
        """The result of the rider ``key`` once a pass has computed it, else None (kept for every later caller)."""
        with self._lock:
            return self._ridden.get(key)

    def memo(self, key, make):
        """``make()``, computed once per key for this layer (a model fitted on its rows, say) and kept for every
        later caller; two callers at the same moment may both compute it, and the first result is kept."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = make()  # outside the lock: make may read rows, or make the matrix (which takes the lock)
        with self._lock:
            return self._memo.setdefault(key, value)

    def __getitem__(self, key):
        if self._full is not None:
            return self._full[key]
        if isinstance(key, slice):
            return self.take(np.arange(self.shape[0])[key])
        if isinstance(key, (int, np.integer)):
            return self.take([key])[0]
        arr = np.asarray(key) if isinstance(key, (list, np.ndarray)) else None
        if arr is not None and arr.ndim == 1 and arr.dtype == bool and len(arr) == self.shape[0]:
            return self.take(np.flatnonzero(arr))
        if arr is not None and arr.ndim == 1 and (arr.dtype.kind in "iu" or arr.size == 0):
            return self.take(arr)
        return self.materialize()[key]


def lazy_layer(vectors, available: Sequence[int], layer=None, config: Preprocessing | None = None):
    """A :class:`LazyLayer` of the set when its preparation can be read lazily, else :func:`prepared_layer`."""
    if not _row_by_row(VectorPreprocessor.from_config(config), vectors):
        return prepared_layer(vectors, available, layer, config)
    return LazyLayer(vectors, available, layer, config)
