"""Vectors of one layer (or a layer mix) of an embedding set, and their preprocessing."""

from __future__ import annotations

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
    if pre.remove_mean or pre.n_directions or np.ndim(vectors) != 3:
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
