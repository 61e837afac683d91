"""Vectors of one layer (or a layer mix) of an embedding set, and their preprocessing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.errors import ConfigError, TooFewPointsError
from analysis.senses._base import DEFAULT_LAYER, _as_matrix, _unit

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
    """Positions (into the embedding set's layer axis) of a layer spec.

    Parameters
    ----------
    available : sequence of int
        Hidden-state indices stored in the embedding set (0 = embedding layer), in axis order.
    layer : int, tuple (a, b), "a-b" str, or None
        One hidden-state index, or an inclusive range whose vectors are averaged. Negative numbers count from the
        last available layer (-1 = last). None means :data:`DEFAULT_LAYER`.

    Returns
    -------
    list of int
        Positions into the layer axis, in increasing hidden-state order.
    """
    available = [int(a) for a in available]
    if not available:
        raise ConfigError("The embedding set holds no layers.")
    if layer is None:
        layer = DEFAULT_LAYER
    top = max(available)

    def absolute(v: int) -> int:
        return top + 1 + v if v < 0 else v

    if isinstance(layer, str):
        m = re.fullmatch(r"\s*(-?\d+)\s*(?:-|\.\.|:)\s*(-?\d+)\s*", layer)
        if m:
            layer = (int(m.group(1)), int(m.group(2)))
        elif re.fullmatch(r"\s*-?\d+\s*", layer):
            layer = int(layer)
        else:
            raise ConfigError(f"Cannot read the layer {layer!r}: give a number such as 6 or a range such as 3-6.")
    if isinstance(layer, (int, np.integer)):
        lo = hi = absolute(int(layer))
    else:
        try:
            a, b = layer
        except (TypeError, ValueError):
            raise ConfigError(f"Cannot read the layer {layer!r}: give a number or a pair (first, last).") from None
        lo, hi = absolute(int(a)), absolute(int(b))
        if lo > hi:
            lo, hi = hi, lo
    wanted = [h for h in available if lo <= h <= hi]
    missing = [h for h in range(lo, hi + 1) if h not in available]
    if missing or not wanted:
        raise ConfigError(f"Layer {lo if lo == hi else f'{lo}-{hi}'} is not in the embedding set, which holds layers "
                          f"{', '.join(map(str, available))}.")
    return [available.index(h) for h in wanted]


def layer_label(available: Sequence[int], layer) -> str:
    """Human-readable name of a layer spec, e.g. ``"6"`` or ``"4-6"`` (absolute hidden-state indices)."""
    pos = resolve_layers(available, layer)
    hs = [int(available[p]) for p in pos]
    return str(hs[0]) if len(hs) == 1 else f"{hs[0]}-{hs[-1]}"


def layer_vectors(vectors, available: Sequence[int], layer=None) -> np.ndarray:
    """One layer, or the mean of a layer range, of an embedding set.

    Parameters
    ----------
    vectors : ndarray of shape (n_occurrences, n_layers, dim)
        The embedding set's vectors (may be a float16 memmap).
    available : sequence of int
        Hidden-state index of each position on the layer axis.
    layer : int, tuple or str, optional
        See :func:`resolve_layers`; default :data:`DEFAULT_LAYER`.

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
        X = _as_matrix(X)
        if self.n_directions < 0 or self.n_directions >= X.shape[1]:
            raise ConfigError(f"The number of removed directions must be between 0 and {X.shape[1] - 1}.")
        if self.n_directions and self.n_directions >= X.shape[0]:
            raise TooFewPointsError(f"Removing {self.n_directions} principal directions needs more than "
                                    f"{self.n_directions} occurrences; there are {X.shape[0]}.")
        Z = _unit(X) if self.normalize else X
        center = self.remove_mean or self.n_directions > 0
        self.mean_ = Z.mean(axis=0) if center else None
        self.directions_ = None
        if self.n_directions:
            C = Z - self.mean_
            # Right singular vectors = principal directions; a thin SVD of (n, dim) is cheap for dim ~ 1k.
            _, _, vt = np.linalg.svd(C.astype(np.float64), full_matrices=False)
            self.directions_ = vt[: self.n_directions].astype(np.float32)
        return self

    def transform(self, X) -> np.ndarray:
        """Apply the learned preprocessing; returns float32 of shape (n, dim)."""
        X = _as_matrix(X)
        Z = _unit(X) if self.normalize else X.copy()
        if self.mean_ is not None and (self.remove_mean or self.directions_ is not None):
            Z = Z - self.mean_
        if self.directions_ is not None:
            Z = Z - (Z @ self.directions_.T) @ self.directions_
        if self.normalize:
            Z = _unit(Z)
        return Z.astype(np.float32, copy=False)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)


def preprocess(X, config: Preprocessing | None = None) -> np.ndarray:
    """Fit :class:`VectorPreprocessor` on X (n, dim) and return the prepared (n, dim) float32 vectors."""
    return VectorPreprocessor.from_config(config).fit_transform(X)
