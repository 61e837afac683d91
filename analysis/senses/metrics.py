"""Agreement of clusters with gold senses: contingency table, purity, inverse purity, ARI, NMI, V-measure."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis._util import json_clean, natural_sorted
from analysis.errors import ConfigError, TooFewPointsError


def _gold_mask(labels_true) -> np.ndarray:
    """True where an occurrence has a gold label (not missing, not blank)."""
    s = pd.Series(labels_true, dtype="object")
    return (s.notna() & (s.astype(str).str.strip() != "")).to_numpy()


def _split_values(split, n: int) -> np.ndarray:
    """A train/test column as stripped lower-case strings, checked to have one value per occurrence (n)."""
    sp = np.asarray(pd.Series(split, dtype="object").astype(str).str.strip().str.lower())
    if len(sp) != n:
        raise ConfigError(f"{n} vectors but {len(sp)} split values.")
    return sp


def contingency_table(labels_true, labels_pred, *, cluster_names: dict | None = None) -> pd.DataFrame:
    """Cluster x gold-label counts.

    Parameters
    ----------
    labels_true : array-like of shape (n,)
        Gold labels (missing values are left out).
    labels_pred : array-like of shape (n,)
        Cluster ids.
    cluster_names : dict {cluster id: name}, optional
        Row names; default the cluster ids.

    Returns
    -------
    DataFrame of shape (n_clusters, n_labels)
        Index = clusters (sorted), columns = labels (sorted naturally: "2" before "10").
    """
    y = np.asarray(pd.Series(labels_true, dtype="object"))
    c = np.asarray(labels_pred)
    if len(y) != len(c):
        raise ConfigError(f"{len(y)} gold labels but {len(c)} cluster labels.")
    mask = _gold_mask(y)
    table = pd.crosstab(pd.Series(c[mask], name="cluster"), pd.Series(y[mask].astype(str), name="label"))
    table = table.reindex(index=natural_sorted(table.index), columns=natural_sorted(table.columns))
    if cluster_names:
        table.index = [cluster_names.get(i, str(i)) for i in table.index]
        table.index.name = "cluster"
    return table


def purity(table) -> float:
    """Purity of a cluster x label contingency table: (1/N) * sum over clusters of the largest label count."""
    t = np.asarray(table, dtype=float)
    total = t.sum()
    return float(t.max(axis=1).sum() / total) if total else float("nan")


def inverse_purity(table) -> float:
    """Inverse purity: (1/N) * sum over labels of the largest cluster count (purity with the roles swapped)."""
    t = np.asarray(table, dtype=float)
    total = t.sum()
    return float(t.max(axis=0).sum() / total) if total else float("nan")


@dataclass(frozen=True)
class ClusterScores:
    """Agreement of clusters with gold senses (computed on the occurrences that have a gold label).

    ``purity_f`` is the harmonic mean of purity and inverse purity. Purity alone rises with k (k = n gives 1).
    """

    purity: float
    inverse_purity: float
    purity_f: float
    ari: float
    nmi: float
    v_measure: float
    n: int
    k: int
    n_labels: int
    contingency: pd.DataFrame = field(compare=False, repr=False, default=None)

    def to_dict(self) -> dict:
        """The scores and counts, JSON-safe (NaN -> None); the contingency table is left out."""
        return json_clean({k: getattr(self, k) for k in ("purity", "inverse_purity", "purity_f", "ari", "nmi",
                                                         "v_measure", "n", "k", "n_labels")})

    as_dict = to_dict  # the old name


def cluster_scores(labels_true, labels_pred, *, one_sense_ok: bool = False) -> ClusterScores:
    """Purity, inverse purity, their harmonic mean, ARI, NMI and V-measure.

    Occurrences without a gold label are left out. HDBSCAN noise (-1) counts as one cluster of its own.

    Parameters
    ----------
    labels_true : array-like of shape (n,)
    labels_pred : array-like of shape (n,)

    one_sense_ok : bool
        Score gold labels that hold one sense too (the definitions then give purity 1, and ARI/NMI/V-measure 1
        exactly when everything is one cluster); see :func:`analysis.senses.score_clusters`.

    Raises
    ------
    TooFewPointsError
        Fewer than 2 labelled occurrences, or only one distinct gold label (unless ``one_sense_ok``).
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    y = np.asarray(pd.Series(labels_true, dtype="object"))
    c = np.asarray(labels_pred)
    if len(y) != len(c):
        raise ConfigError(f"{len(y)} gold labels but {len(c)} cluster labels.")
    mask = _gold_mask(y)
    y, c = y[mask].astype(str), c[mask]
    if len(y) < 2:
        raise TooFewPointsError(f"Scoring clusters needs at least 2 occurrences with a gold label; there are {len(y)}.")
    n_labels = len(np.unique(y))
    if n_labels < 2 and not one_sense_ok:
        raise TooFewPointsError(f"All labelled occurrences have the same gold label ({str(y[0])!r}); cluster scores need "
                                f"at least two senses.")
    table = contingency_table(y, c)
    p, ip = purity(table), inverse_purity(table)
    f = 2 * p * ip / (p + ip) if p + ip else 0.0
    return ClusterScores(purity=p, inverse_purity=ip, purity_f=float(f), ari=float(adjusted_rand_score(y, c)),
                         nmi=float(normalized_mutual_info_score(y, c)), v_measure=float(v_measure_score(y, c)),
                         n=int(len(y)), k=int(len(np.unique(c))), n_labels=n_labels, contingency=table)
