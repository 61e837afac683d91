"""Model x layer comparison: cluster and classifier scores for several layers of one embedding set."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.errors import TooFewPointsError
from analysis.senses._base import DEFAULT_METHOD
from analysis.senses.clustering import cluster_vectors
from analysis.senses.metrics import _gold_mask, cluster_scores
from analysis.senses.probes import predict_senses
from analysis.senses.vectors import Preprocessing, layer_label, layer_vectors, preprocess

# ----------------------------------------------------------------------------------------------------------------
# Model x layer comparison
# ----------------------------------------------------------------------------------------------------------------

def score_layers(vectors, available: Sequence[int], labels, *, layers=None, split=None, method: str = DEFAULT_METHOD,
                 k="gold", preprocessing: Preprocessing | None = None, random_state=0, logreg: bool = True,
                 model: str | None = None) -> pd.DataFrame:
    """Cluster scores and classifier scores for several layers of one embedding set.

    Parameters
    ----------
    vectors : ndarray of shape (n_occurrences, n_layers, dim)
    available : sequence of int
        Hidden-state index of each position on the layer axis.
    labels : array-like of shape (n_occurrences,)
        Gold senses (missing values allowed).
    layers : list of layer specs, optional
        Default: every stored layer.
    split : array-like of "train"/"test", optional
        Classifiers fitted on train and scored on test; clusters fitted on all occurrences and scored on test.
    method : clustering method.
    k : int, "auto" or "gold"
        "gold" = the number of gold senses.
    preprocessing : Preprocessing, optional
    random_state : int
    logreg : bool
    model : str, optional
        Written into the ``model`` column.

    Returns
    -------
    DataFrame with one row per layer: model, layer, k, purity, inverse_purity, purity_f, ari, nmi, v_measure,
    centroid_accuracy, centroid_macro_f1, logreg_accuracy, logreg_macro_f1, macro_f1 (= logreg_macro_f1), n.
    """
    gold = np.asarray(pd.Series(labels, dtype="object"))
    mask = _gold_mask(gold)
    if layers is None:
        layers = [int(a) for a in available]
    score_mask = mask
    if split is not None:
        sp = np.asarray(pd.Series(split, dtype="object").astype(str).str.strip().str.lower())
        score_mask = mask & (sp == "test")
    n_gold = len(np.unique(gold[mask].astype(str))) if mask.any() else 0
    rows = []
    for layer in layers:
        X = preprocess(layer_vectors(vectors, available, layer), preprocessing)
        kk = n_gold if (isinstance(k, str) and k == "gold") else k
        if isinstance(k, str) and k == "gold" and n_gold < 2:
            raise TooFewPointsError("k = number of gold senses needs at least two gold senses.")
        cl = cluster_vectors(X, method=method, k=kk, random_state=random_state)
        sc = cluster_scores(gold[score_mask], cl.labels[score_mask])
        pr = predict_senses(X, gold, split=split, random_state=random_state, logreg=logreg)
        rows.append({"model": model, "layer": layer_label(available, layer), "k": cl.k, "purity": sc.purity,
                     "inverse_purity": sc.inverse_purity, "purity_f": sc.purity_f, "ari": sc.ari, "nmi": sc.nmi,
                     "v_measure": sc.v_measure, "centroid_accuracy": pr.centroid_accuracy,
                     "centroid_macro_f1": pr.centroid_macro_f1, "logreg_accuracy": pr.logreg_accuracy,
                     "logreg_macro_f1": pr.logreg_macro_f1, "macro_f1": pr.logreg_macro_f1, "n": sc.n})
    return pd.DataFrame(rows)
