"""Period prototypes in a PCA of the usages, and the most typical occurrences of each period."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.errors import TooFewPointsError
from analysis.shift.common import DEFAULT_N_TYPICAL
from analysis._util import as_matrix, unit_rows
from analysis.shift.periods import Periods


# ---------------------------------------------------------------------------------------------------------------------
# Trajectory and typical occurrences
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trajectory:
    """Period prototypes in the projection of the usages, and the most typical occurrences per period.

    Attributes
    ----------
    periods : tuple of str
    prototypes : ndarray of shape (n_periods, dim)
        Mean raw vector per period (NaN rows for empty periods).
    usage_xy : ndarray of shape (n_occurrences, 2)
        PCA coordinates of every occurrence (NaN for rows left out of the periods).
    prototype_xy : ndarray of shape (n_periods, 2)
        The prototypes in the same PCA (= the centroid of each period's points, PCA being linear).
    explained : tuple of float
        Variance ratio of the two components.
    typical : dict of str to ndarray of int
        Per period, occurrence indices (into the full table) of the most typical usages, most typical first.
    typical_similarity : dict of str to ndarray of float
        Their cosine similarity to the period's prototype.
    """

    periods: tuple[str, ...]
    prototypes: np.ndarray
    usage_xy: np.ndarray
    prototype_xy: np.ndarray
    explained: tuple[float, float]
    typical: Mapping[str, np.ndarray]
    typical_similarity: Mapping[str, np.ndarray]

    def prototype_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"period": list(self.periods), "order": range(len(self.periods)),
                             "x": self.prototype_xy[:, 0], "y": self.prototype_xy[:, 1]})

    def to_dict(self) -> dict:
        """The variance explained by the two components and the prototypes' coordinates (period, order, x, y)."""
        return {"explained": list(self.explained), "prototypes": self.prototype_frame().to_dict(orient="records")}

    def typical_frame(self) -> pd.DataFrame:
        rows = []
        for p in self.periods:
            for rank, (i, s) in enumerate(zip(self.typical[p], self.typical_similarity[p]), start=1):
                rows.append({"period": p, "rank": rank, "occurrence_id": int(i), "similarity": float(s)})
        return pd.DataFrame(rows, columns=["period", "rank", "occurrence_id", "similarity"])


def trajectory(X, periods: Periods, *, n_typical: int = DEFAULT_N_TYPICAL) -> Trajectory:
    """Prototypes per period in a 2-d PCA of the usages, and the ``n_typical`` usages nearest each prototype.

    Parameters
    ----------
    X : array of shape (n_occurrences, dim)
    periods : Periods
    n_typical : int

    Returns
    -------
    Trajectory
    """
    X = as_matrix(X, n_rows=periods.codes.size)
    inside = periods.codes >= 0
    if inside.sum() < 2:
        raise TooFewPointsError("fewer than two occurrences have a period; there is no trajectory to draw")
    Xi = X[inside]
    mean = Xi.mean(axis=0)
    # PCA by SVD of the centred usages (deterministic up to sign; the sign is fixed so the largest loading is positive).
    _, s, vt = np.linalg.svd(Xi - mean, full_matrices=False)
    comps = vt[:2]
    if comps.shape[0] < 2:
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], X.shape[1]))])
    signs = np.sign(comps[np.arange(comps.shape[0]), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1, signs)[:, None]
    var = np.concatenate([s ** 2, np.zeros(2)])
    total = var.sum()
    explained = (float(var[0] / total), float(var[1] / total)) if total > 0 else (0.0, 0.0)
    usage_xy = np.full((len(X), 2), np.nan)
    usage_xy[inside] = (Xi - mean) @ comps.T
    protos = np.full((periods.n_periods, X.shape[1]), np.nan)
    typical, sims = {}, {}
    for i, name in enumerate(periods.names):
        idx = np.flatnonzero(periods.codes == i)
        if idx.size == 0:
            typical[name], sims[name] = np.array([], dtype=int), np.array([])
            continue
        protos[i] = X[idx].mean(axis=0)
        Ui = unit_rows(X[idx])
        p = protos[i] / np.linalg.norm(protos[i])
        sim = Ui @ p
        top = np.argsort(-sim, kind="stable")[: max(0, int(n_typical))]
        typical[name], sims[name] = idx[top], sim[top]
    proto_xy = np.where(np.isnan(protos[:, :1]), np.nan, (np.nan_to_num(protos) - mean) @ comps.T)
    return Trajectory(periods=periods.names, prototypes=protos, usage_xy=usage_xy, prototype_xy=proto_xy,
                      explained=(explained[0], explained[1]), typical=typical, typical_similarity=sims)
