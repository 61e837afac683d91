"""Association tests for social bias: WEAT, SEAT and the contextual word level, across models and layers.

Why this module exists: Caliskan et al. (2017) measured bias with the Word Embedding Association Test on static
vectors; May et al. (2019, SEAT) put the words into "bleached" template sentences and used the sentence vector; Tan &
Celis (2019) took the vector of the word itself inside each sentence (the contextual word level), so each set holds
occurrences rather than word types. This module holds the pieces all three share:

* :class:`WeatQuery` — two target sets X, Y and two attribute sets A, B (frozen, validated up front);
* the statistics (pure numpy): the association s(w, A, B), the effect size d, a one-sided permutation p-value that is
  exact when the partitions can be enumerated and Monte Carlo with true, seeded permutations otherwise, a bootstrap
  interval for d and Holm's correction across a battery;
* :func:`run_bias` — encodes the inputs of a battery once per model (shared between tests) and returns typed
  :class:`BiasResult` records, one per test x level x model x layer.

Choices that are ours (also written into every result's ``notes`` and the export manifest):

* Target sets must have the same number of *words* (the WEAT design; a query with unequal sets is refused). The
  number of *items* may still differ once words a tokenizer or corpus cannot supply are left out (they are listed in
  ``missing``), so the permutation test re-partitions X∪Y into parts of the observed sizes |X| and |Y| and uses the
  difference of means, which for equal sizes orders partitions exactly as Caliskan's sum over X does.
* At the contextual level the permutation partitions the occurrence vectors (``unit="item"``, as Tan & Celis do).
  Occurrences of one word are not independent, which makes that p-value optimistic; ``unit="word"`` keeps each word's
  occurrences together (the partitions are of words, the statistic is still over occurrences).
* Ties count against the hypothesis (``>=``), as in the reference code; the observed partition is one of the
  enumerated ones, so an exact p is at least 1 / C(n, |X|).
* The bootstrap interval resamples target units (items, or words with ``unit="word"``) within X and within Y with
  replacement, the attribute sets held fixed; percentile interval.

The package: :mod:`~analysis.bias.query` (the sets of a test), :mod:`~analysis.bias.statistics` (pure numpy),
:mod:`~analysis.bias.results` (records and tables), :mod:`~analysis.bias.encoding` (vectors per level, cached),
:mod:`~analysis.bias.runner` (a query or a battery with loaded models) and :mod:`~analysis.bias.sources` (bundled
and user test files, "use my corpus").
"""

from analysis.bias.encoding import EncodingCache
from analysis.bias.query import LEVELS, SET_KEYS, BiasTestError, Occurrence, TermSet, WeatQuery, apply_templates
from analysis.bias.results import NOTES, RECORD_KEYS, BiasResult, format_table, items_frame, results_frame
from analysis.bias.runner import (DEFAULT_POOLING, ProgressFn, RunOptions, apply_holm, encode_level, require_level,
                                  model_layers, run_bias, run_parameters, run_query)
from analysis.bias.statistics import (DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS, WeatSettings, WeatStatistics,
                                      association, bootstrap_ci, effect_size, holm, n_partitions, permutation_pvalue,
                                      weat, weat_from_associations)

__all__ = ["DEFAULT_BOOTSTRAP", "DEFAULT_PERMUTATIONS", "DEFAULT_POOLING", "LEVELS", "NOTES", "RECORD_KEYS", "SET_KEYS",
           "BiasResult", "BiasTestError", "EncodingCache", "Occurrence", "ProgressFn", "RunOptions", "TermSet",
           "WeatQuery", "WeatSettings", "WeatStatistics", "apply_holm", "apply_templates", "association",
           "bootstrap_ci", "effect_size", "encode_level", "format_table", "holm", "items_frame", "n_partitions",
           "permutation_pvalue", "require_level", "model_layers", "results_frame", "run_bias", "run_parameters",
           "run_query", "weat", "weat_from_associations"]
