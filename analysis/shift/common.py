"""Defaults and error types of the shift analysis."""

from __future__ import annotations

from dataclasses import replace

from analysis._util import renamed_options
from analysis.errors import ConfigError, CorpusError, TooFewPointsError

# ---------------------------------------------------------------------------------------------------------------------
# Defaults (see BENCHMARKS.md, "Semantic shift", for the measurements behind them)
# ---------------------------------------------------------------------------------------------------------------------
#: Permutations per test. 999 makes the smallest attainable p exactly 0.001 and costs milliseconds per pair, because
#: a permutation only needs the sum of one group's vectors (a matrix product with a 0/1 indicator matrix).
DEFAULT_N_PERMUTATIONS = 999
#: Bootstrap resamples for intervals (percentile method).
DEFAULT_N_BOOT = 1000
#: Two-sided coverage of the bootstrap intervals.
DEFAULT_CI = 0.95
#: Vectors used for shift by default, as a layer spec of :mod:`analysis.layers`: the mean of the upper half of the
#: model's layers (:data:`analysis.layers.DEPTH_RULES`; MiniLM's 6 layers: 4-6, BERT-base: 7-12, a 24-layer model:
#: 13-24). Until December 2026 it was the last three (``-3--1``), the same layers on MiniLM but only the top quarter of
#: BERT-base. A rule stated relative to the depth, chosen a priori, kept its rank correlation with graded change on
#: held-out words (SemEval APD 0.68 on the held-out halves vs 0.69 in-sample), while choosing a layer on half the
#: words lost 0.1-0.2 (bench/cv_shift.py, BENCHMARKS.md "Defaults chosen by cross-validation across words").
DEFAULT_LAYER: int | tuple[int, int] | str = "upper half"
#: A period with fewer occurrences than this gets a "too thin to trust" warning: at n = 30 a 50 % sense share has a
#: 95 % interval of about ±18 points.
THIN_PERIOD_COUNT = 30
#: The metrics need at least this many occurrences in every period (one usage has no spread, no bootstrap, and a
#: permutation test with it is nearly degenerate).
MIN_PERIOD_COUNT = 2
#: Default number of year bins.
DEFAULT_N_BINS = 4
#: Occurrences listed per period as the most typical (nearest the period's prototype).
DEFAULT_N_TYPICAL = 5
#: Binary change rule used for accuracy against binary gold (chosen a priori, not tuned on the gold): a target counts as
#: changed when its metric is above the mean of that metric over the evaluated targets. The alternative
#: "permutation" (changed when p < 0.05) is offered too, but with ~100 usages per period contextual vectors differ
#: significantly for almost every word (topic and style drift), so significance is not the same as sense change.
DEFAULT_BINARY_RULE = "mean"
BINARY_RULES = ("mean", "permutation")
METRICS = ("apd", "prt", "jsd")
METRIC_LABELS = {"apd": "APD (avg. pairwise cosine distance)", "prt": "PRT (cosine distance of prototypes)",
                 "jsd": "JSD of sense shares (nats)"}
PERIOD_MODES = ("column", "equal-width", "equal-count", "edges")

NOISE_LABEL = -1
_NOISE_NAME = "noise"


# ---------------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------------
class PeriodError(ConfigError):
    """Periods cannot be formed from the given column, bins or edges."""


class OnePeriodError(TooFewPointsError):
    """Fewer than two periods have occurrences, so there is nothing to compare."""


class ThinPeriodError(TooFewPointsError):
    """A period has fewer occurrences than the metrics need (0 or 1)."""


class GoldFileError(CorpusError):
    """A gold change-score file cannot be read."""


def with_fields(base, fields: dict):
    """A copy of the options dataclass ``base`` with ``fields`` set (old names such as ``n_boot`` accepted)."""
    return replace(base, **renamed_options(fields, type(base).__name__))
