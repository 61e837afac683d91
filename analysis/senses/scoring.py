"""Cluster scores against gold senses that also cover a word with one known sense.

:func:`analysis.senses.cluster_scores` refuses gold labels with a single sense (the Senses page says so). A word with
one sense is a normal case for sense induction, though: the right answer is one cluster. :func:`score_clusters` gives
the same :class:`ClusterScores` and, for one gold sense, the values the definitions give: purity 1; inverse purity
= the share of the largest cluster; ARI and NMI 1 when everything is one cluster and 0 otherwise (scikit-learn's
conventions); V-measure likewise.
"""

from __future__ import annotations

from analysis.senses.metrics import ClusterScores, cluster_scores


def score_clusters(labels_true, labels_pred) -> ClusterScores:
    """:func:`cluster_scores` that also scores a word with one gold sense (see the module)."""
    return cluster_scores(labels_true, labels_pred, one_sense_ok=True)
