"""Semantic shift over time: periods, sense shares per period, APD / PRT / JSD with significance, ranking.

Why this module exists
----------------------
Historians ask when a sense of a term appeared and when it became the dominant one; lexical semantic change research
ranks words by how much their usage changed between periods (SemEval-2020 Task 1, DWUG). Both questions are answered
here from an embedding set (one vector per occurrence) and a period for each occurrence, in pure numpy/scipy.

What is computed (see ``../shared/METHODS.md``)
----------------------------------------------
* **Periods** (:func:`make_periods`): the corpus's own period column, equal-width or equal-count year bins, or
  user-given edges. Rows without a parsable year are counted and left out (code ``-1``), never put into a period.
* **Sense shares** (:func:`sense_shares`): per period, the share of each sense cluster, with percentile bootstrap
  intervals (occurrences resampled within the period), the first period in which each sense occurs and the first in
  which it is the largest.
* **Change between two periods** (:func:`compare_periods`):

  - APD: mean cosine distance over all pairs (one usage from each period). Because the mean of all pairwise dot
    products equals the dot product of the means, APD = 1 − ⟨mean of unit vectors of A, mean of unit vectors of B⟩
    exactly, so it costs O(n·dim) instead of O(n_A·n_B·dim) and needs no chunking even for large periods.
  - PRT: cosine distance between the two periods' prototypes (mean raw usage vectors).
  - JSD: H((p+q)/2) − (H(p)+H(q))/2 of the two periods' distributions over the sense clusters (natural log, at most
    ln 2). The clusters are one clustering of all usages (the Senses page's, or :func:`cluster_labels`), so shares are
    comparable across all periods. Noise (label −1) is left out of JSD, as in DWUG's ``change_graded``.

  Each comes with a permutation test (the period labels of the two periods' pooled usages are shuffled, sizes kept,
  the same seeded permutations for all three metrics; p = (count(null ≥ observed) + 1) / (n + 1)) and a percentile
  bootstrap interval (each period resampled with replacement on its own). The interval shows sampling variability;
  for PRT and JSD it is biased upwards (resampling adds spurious differences between two estimated prototypes or
  distributions, so it may even lie above the observed value); read it together with the p-value.
* **Trajectory** (:func:`trajectory`): period prototypes in a PCA of the usages (a linear projection, so a prototype
  sits exactly at the centroid of its usages' points), and the occurrences most typical of each period (highest
  cosine similarity to its prototype).
* **Many targets** (:func:`shift_many`, :func:`rank_targets`, :func:`read_gold`, :func:`evaluate_ranking`): rank
  targets by the change between their first and last period; Spearman's rho against graded gold and accuracy against
  binary gold.

Years follow the project's one year rule, :func:`analysis.corpus.parse_years` ("c. 1836" is 1836).

Modules
-------
``common`` defaults and errors · ``periods`` periods from a column or year bins · ``metrics`` APD, PRT, JSD ·
``inference`` permutation tests and bootstrap (:class:`Inference`) · ``shares`` sense shares · ``labels`` sense
labels (clusters or a column) · ``analyse`` one target (:class:`ShiftSettings`, :class:`ShiftResult`) ·
``trajectory`` prototypes and typical occurrences · ``report`` ``shift.json`` (:class:`ShiftReport`, written by the
page and the CLI) · ``ranking`` many targets (:class:`RankOptions`) · ``gold`` gold scores · ``evaluation`` a ranking
against gold.
"""

from __future__ import annotations

from analysis.shift.analyse import (PairResult, ShiftResult, ShiftSettings, analyse_shift, period_pairs,
                                    shift_by_layer)
from analysis.shift.common import (BINARY_RULES, DEFAULT_BINARY_RULE, DEFAULT_CI, DEFAULT_LAYER, DEFAULT_N_BINS,
                                   DEFAULT_N_BOOT, DEFAULT_N_PERMUTATIONS, DEFAULT_N_TYPICAL, METRIC_LABELS, METRICS,
                                   MIN_PERIOD_COUNT, NOISE_LABEL, PERIOD_MODES, THIN_PERIOD_COUNT, GoldFileError,
                                   OnePeriodError, PeriodError, ThinPeriodError)
from analysis.shift.evaluation import Evaluation, binarise, evaluate_ranking
from analysis.shift.gold import Gold, match_targets, read_gold
from analysis.shift.inference import Inference, MetricResult, compare_periods
from analysis.shift.labels import (DEFAULT_MIN_SILHOUETTE, cluster_labels, jsd_vectors, labels_from_column,
                                   sense_info)
from analysis.shift.metrics import apd, jsd, jsd_from_counts, prt
from analysis.shift.periods import Periods, PeriodSpec, check_periods, make_periods, periods_from_codes, year_values
from analysis.shift.ranking import SENSE_SOURCES, RankOptions, rank_targets, shift_many
from analysis.shift.report import ShiftReport
from analysis.shift.shares import SenseShares, sense_shares
from analysis.shift.trajectory import Trajectory, trajectory

__all__ = [
    "BINARY_RULES", "DEFAULT_BINARY_RULE", "DEFAULT_CI", "DEFAULT_LAYER", "DEFAULT_N_BINS", "DEFAULT_N_BOOT",
    "DEFAULT_N_PERMUTATIONS", "DEFAULT_N_TYPICAL", "METRIC_LABELS", "METRICS", "MIN_PERIOD_COUNT", "NOISE_LABEL",
    "PERIOD_MODES", "THIN_PERIOD_COUNT", "GoldFileError", "OnePeriodError", "PeriodError", "ThinPeriodError",
    "Periods", "PeriodSpec", "check_periods", "make_periods", "periods_from_codes", "year_values",
    "apd", "prt", "jsd", "jsd_from_counts", "Inference", "MetricResult", "compare_periods",
    "SenseShares", "sense_shares", "PairResult", "ShiftResult", "ShiftSettings", "analyse_shift", "shift_by_layer", "period_pairs",
    "cluster_labels", "jsd_vectors", "DEFAULT_MIN_SILHOUETTE", "labels_from_column", "sense_info", "SENSE_SOURCES",
    "RankOptions", "rank_targets",
    "shift_many", "ShiftReport", "Trajectory", "trajectory",
    "Gold", "read_gold", "match_targets", "Evaluation", "binarise", "evaluate_ranking",
]
