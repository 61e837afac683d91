"""Local intrinsic dimension (LID) of contextual token embeddings, across layers and checkpoints.

Why this module exists: Ruppik et al. 2025 ("Less is More: Local Intrinsic Dimensions of Contextual Language Models")
show that the LID of a model's token embeddings tracks training: fine-tuning lowers it on in-domain text, a fall in mean
LID comes before performance gains, a plateau says training is exhausted. This module estimates it the way their code
does (scikit-dimension ``TwoNN(discard_fraction=0.1).fit_pw(X, n_neighbors=L, smooth=False)`` on a fixed, seeded token
sample, exact duplicates removed first) and runs the same sample through every checkpoint and layer.

Modules
-------
* :mod:`~analysis.dimension.twonn` – :func:`local_twonn`, pointwise TwoNN in given neighbourhoods, vectorised. It
  computes exactly what skdim's ``TwoNN(discard_fraction).fit_pw(X, precomputed_knn=knn)`` computes (the tests compare
  the two), ~10x faster because it fits all neighbourhoods at once instead of one ``LinearRegression`` per token; it
  also counts zero distances instead of only warning about them. Also the neighbourhoods and the global TwoNN.
* :mod:`~analysis.dimension.estimator` – :class:`LocalDimension`: deduplicate (and count), find each point's L nearest
  neighbours, estimate pointwise LID (TwoNN, or skdim's MLE / lPCA as alternatives) and the global TwoNN alongside;
  :func:`occurrence_dimension`, the LID of a term's own occurrence vectors (an embedding set layer).
* :mod:`~analysis.dimension.checkpoints` – :func:`find_checkpoints`, :func:`checkpoints_from_models`: the models to
  compare, as :class:`analysis.finetune.runs.Checkpoint` (the one checkpoint type).
* :mod:`~analysis.dimension.tokens` – :func:`sample_tokens`: the fixed, seeded token sample.
* :mod:`~analysis.dimension.runner` – :func:`dimension_across_checkpoints`: the sample through a series of checkpoints
  (or several models) at several layers, giving one record per checkpoint x layer (:class:`DimensionRun`).

Only the last needs a model; it imports :mod:`analysis.encoder` lazily, so this package itself is numpy,
scikit-learn and scikit-dimension only.
"""

from analysis.dimension.checkpoints import _CKPT_RE, checkpoints_from_models, find_checkpoints  # noqa: F401
from analysis.dimension.estimator import (DEFAULT_NEIGHBORS, ESTIMATORS, LocalDimension,  # noqa: F401
                                          deduplicate, occurrence_dimension)
from analysis.dimension.runner import (DEFAULT_SAMPLE, RECORD_KEYS, DimensionRun, LidSettings,  # noqa: F401
                                       ProgressFn, dimension_across_checkpoints)
from analysis.dimension.tokens import TokenSample, sample_tokens  # noqa: F401
from analysis.dimension.twonn import DISCARD_FRACTION, global_twonn, local_twonn, nearest_neighbors  # noqa: F401
from analysis.finetune.runs import Checkpoint, read_losses  # noqa: F401
