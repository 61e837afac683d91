"""Model x layer comparison: cluster and classifier scores for several layers of one embedding set.

:func:`score_record` is the one schema of a model x layer row: the page's comparison table (via :func:`score_layers`)
and the ``senses`` CLI's ``metrics.json`` both take their score columns from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.errors import TooFewPointsError
from analysis.senses._base import DEFAULT_METHOD, _settings
from analysis.senses.clustering import cluster_vectors
from analysis.senses.metrics import ClusterScores, _gold_mask, _split_values, cluster_scores
from analysis.senses.probes import ProbeResult, predict_senses
from analysis.senses.vectors import Preprocessing, layer_label, prepared_layer


#: The score columns of a model x layer row, in order (``macro_f1`` repeats ``logreg_macro_f1``).
SCORE_COLUMNS = ("purity", "inverse_purity", "purity_f", "ari", "nmi", "v_measure", "centroid_accuracy",
                 "centroid_macro_f1", "logreg_accuracy", "logreg_macro_f1", "macro_f1")


def score_record(scores: ClusterScores | None, probe: ProbeResult | None) -> dict:
    """The :data:`SCORE_COLUMNS` of one model x layer: cluster scores then classifier scores (None for a part that
    was not computed, e.g. without gold senses). Values are the results' own (NaN stays NaN; JSON writers clean it)."""
    row = {key: None for key in SCORE_COLUMNS}
    if scores is not None:
        row.update({key: getattr(scores, key) for key in SCORE_COLUMNS[:6]})
    if probe is not None:
        row.update({key: getattr(probe, key) for key in SCORE_COLUMNS[6:10]}, macro_f1=probe.logreg_macro_f1)
    return row


@dataclass(frozen=True)
class LayerScoring:
    """How :func:`score_layers` clusters and classifies each layer.

    method : clustering method (one of :data:`CLUSTER_METHODS`)
    k : int, "auto" or "gold" (= the number of gold senses)
    preprocessing : :class:`Preprocessing`, None = :data:`DEFAULT_PREPROCESSING`
    seed : seeds the clustering and the cross-validation folds
    logreg : also fit logistic regression (NaN scores when False)
    """

    method: str = DEFAULT_METHOD
    k: object = "gold"
    preprocessing: Preprocessing | None = None
    seed: object = 0
    logreg: bool = True


def score_layers(vectors, available: Sequence[int], labels, *, layers=None, split=None, model: str | None = None,
                 scoring: LayerScoring | None = None, **options) -> pd.DataFrame:
    """Cluster scores and classifier scores of the gold senses for several layers of one embedding set.

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
    model : str, optional
        Written into the ``model`` column.
    scoring : LayerScoring, optional
        How to cluster and classify; its fields may also be given as keywords (``method="agglomerative"``,
        ``k=3``, ``preprocessing=...``, ``seed=0``, ``logreg=False``; ``random_state`` is the old name of ``seed``).

    Returns
    -------
    DataFrame with one row per layer: model, layer, k, the :data:`SCORE_COLUMNS`, n (occurrences scored).
    """
    s = _settings(LayerScoring, scoring, options, "score_layers")
    gold = np.asarray(pd.Series(labels, dtype="object"))
    mask = _gold_mask(gold)
    if layers is None:
        layers = [int(a) for a in available]
    score_mask = mask if split is None else mask & (_split_values(split, len(gold)) == "test")
    n_gold = len(np.unique(gold[mask].astype(str))) if mask.any() else 0
    by_gold = isinstance(s.k, str) and s.k == "gold"
    if by_gold and n_gold < 2 and len(layers):
        raise TooFewPointsError("k = number of gold senses needs at least two gold senses.")
    rows = []
    for layer in layers:
        X = prepared_layer(vectors, available, layer, s.preprocessing)
        cl = cluster_vectors(X, method=s.method, k=n_gold if by_gold else s.k, seed=s.seed)
        sc = cluster_scores(gold[score_mask], cl.labels[score_mask])
        pr = predict_senses(X, gold, split=split, seed=s.seed, logreg=s.logreg)
        rows.append({"model": model, "layer": layer_label(available, layer), "k": cl.k, **score_record(sc, pr),
                     "n": sc.n})
    return pd.DataFrame(rows)
