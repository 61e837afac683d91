"""Cluster scores against gold senses that also cover a word with one known sense.

:func:`analysis.senses.cluster_scores` refuses gold labels with a single sense (the Senses page says so). A word with
one sense is a normal case for sense induction, though: the right answer is one cluster. :func:`score_clusters` gives
the same :class:`ClusterScores` and, for one gold sense, the values the definitions give: purity 1; inverse purity
= the share of the largest cluster; ARI and NMI 1 when everything is one cluster and 0 otherwise (scikit-learn's
conventions); V-measure likewise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import ConfigError
from analysis.senses.metrics import ClusterScores, _gold_mask, cluster_scores, contingency_table, inverse_purity, purity


def score_clusters(labels_true, labels_pred) -> ClusterScores:
    """:func:`cluster_scores`, or for one gold sense the scores of the clusters against it (see the module)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    y = np.asarray(pd.Series(labels_true, dtype="object"))
    c = np.asarray(labels_pred)
    if len(y) != len(c):
        raise ConfigError(f"{len(y)} gold labels but {len(c)} cluster labels.")
    mask = _gold_mask(y)
    y, c = y[mask].astype(str), c[mask]
    if len(y) < 2 or len(np.unique(y)) != 1:
        return cluster_scores(labels_true, labels_pred)  # two or more senses, or too few labels (its error)
    table = contingency_table(y, c)
    p, ip = purity(table), inverse_purity(table)
    f = 2 * p * ip / (p + ip) if p + ip else 0.0
    return ClusterScores(purity=p, inverse_purity=ip, purity_f=float(f), ari=float(adjusted_rand_score(y, c)),
                         nmi=float(normalized_mutual_info_score(y, c)), v_measure=float(v_measure_score(y, c)),
                         n=int(len(y)), k=int(len(np.unique(c))), n_labels=1, contingency=table)
