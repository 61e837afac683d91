"""Sense clusters: read the senses of a term off the contextual vectors of its occurrences.

The pipeline behind the Senses page, the ``senses`` CLI command and ``bench/eval_senses.py``, one module a step:

1. ``vectors``: :func:`layer_vectors` picks one layer (or the mean of the layers a spec of :mod:`analysis.layers`
   names, "layer mixing") out of an embedding set; :class:`VectorPreprocessor` length-normalises the vectors and
   can remove the common mean direction and the top principal directions ("all-but-the-top", Mu & Viswanath
   2018), which otherwise dominate cosine similarities of contextual vectors (Ethayarajh 2019);
2. ``projection``: :func:`project` maps them to 2-D/3-D for viewing (PCA, UMAP, t-SNE; seeded);
3. ``clustering``: :func:`cluster_vectors` clusters the *full* vectors (k-means, agglomerative with cosine/average
   linkage, HDBSCAN), with k given or chosen by silhouette (k = 1 below a silhouette threshold), or finds the
   number of senses itself on the cosine-similarity graph (``graph``: affinity propagation, correlation
   clustering, Chinese Whispers), one sense included; ``scoring``: :func:`score_clusters` also scores a word
   whose gold labels hold one sense;
4. ``metrics``: :func:`cluster_scores` compares clusters with gold senses (purity, inverse purity, their harmonic
   mean, ARI, NMI, V-measure, contingency table);
5. ``probes``: :func:`predict_senses` scores two classifiers that predict the known meanings (nearest sense
   centroid by cosine, as in the CoarseWSD-20 1-NN evaluation, and logistic regression);
6. ``describe``: :func:`class_tfidf`, :func:`nearest_to_centroids` and :func:`describe_clusters` describe clusters
   so that a reader can name them;
7. ``compare``: :func:`score_layers` scores several layers of one embedding set, one :func:`score_record` a row
   (the schema the page's comparison and the CLI's ``metrics.json`` share).

Everything here is numpy/scikit-learn/umap; nothing imports streamlit or torch, and nothing touches global random
state: every random step takes ``seed`` (an int, SeedSequence or Generator; ``random_state`` is accepted as its old
name). The ``DEFAULT_*`` constants (defined in ``_base``) are the defaults chosen on CoarseWSD-20 by
``bench/eval_senses.py`` (see BENCHMARKS.md, "Sense clusters").
"""

from __future__ import annotations

from analysis.senses._base import (CLUSTER_METHODS, DEFAULT_K_RANGE, DEFAULT_LAYER, DEFAULT_METHOD,
                                   DEFAULT_MIN_SILHOUETTE, DEFAULT_PREFERENCE, DEFAULT_PROJECTION, DEFAULT_THRESHOLD,
                                   GRAPH_METHODS, MAX_FIT_POINTS, MAX_KMEANS_POINTS, MAX_PAIRWISE_POINTS,
                                   PROJECTION_METHODS,
                                   SILHOUETTE_SAMPLE, SINGLE_THREAD_BELOW)
from analysis.senses._base import _sample as seeded_sample  # noqa: F401 - sorted seeded row sample (all rows if n <= size)
from analysis.senses.clustering import ClusterResult, cluster_vectors, stability
from analysis.senses.compare import SCORE_COLUMNS, LayerScoring, score_layers, score_record
from analysis.senses.graph import affinity_clusters, chinese_whispers, correlation_clusters, cosine_matrix
from analysis.senses.scoring import score_clusters
from analysis.senses.describe import (class_tfidf, cluster_names, context_windows, describe_clusters,
                                      nearest_to_centroids)
from analysis.senses.metrics import ClusterScores, cluster_scores, contingency_table, inverse_purity, purity
from analysis.senses.probes import NearestCentroidClassifier, ProbeResult, predict_senses
from analysis.senses.projection import ProjectionResult, ProjectionSettings, check_projection, plan_pca, project
from analysis.senses.vectors import (DEFAULT_PREPROCESSING, LazyLayer, Preprocessing, VectorPreprocessor,
                                     layer_label, layer_vectors, lazy_layer, prepared_layer, preprocess,
                                     resolve_layers)

__all__ = [
    "DEFAULT_LAYER", "DEFAULT_PREPROCESSING", "DEFAULT_METHOD", "DEFAULT_PROJECTION", "DEFAULT_K_RANGE",
    "CLUSTER_METHODS", "PROJECTION_METHODS", "MAX_FIT_POINTS", "MAX_PAIRWISE_POINTS", "SILHOUETTE_SAMPLE",
    "Preprocessing", "VectorPreprocessor", "ProjectionResult", "ClusterResult", "ClusterScores", "ProbeResult",
    "NearestCentroidClassifier", "check_projection", "resolve_layers", "layer_vectors", "prepared_layer",
    "layer_label", "preprocess", "project", "cluster_vectors", "stability", "contingency_table", "purity",
    "inverse_purity", "cluster_scores", "predict_senses",
    "context_windows", "class_tfidf", "nearest_to_centroids", "describe_clusters", "cluster_names",
    "score_layers", "score_record", "SCORE_COLUMNS", "LayerScoring", "ProjectionSettings", "SINGLE_THREAD_BELOW",
    "DEFAULT_THRESHOLD", "DEFAULT_PREFERENCE", "DEFAULT_MIN_SILHOUETTE", "GRAPH_METHODS", "score_clusters",
    "cosine_matrix", "correlation_clusters", "chinese_whispers", "affinity_clusters", "LazyLayer", "lazy_layer",
    "MAX_KMEANS_POINTS", "plan_pca",
]
