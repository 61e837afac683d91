"""The whole shift analysis of one target: every pair of periods compared, sense shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis._util import as_matrix
from analysis.errors import ConfigError
from analysis.shift.common import METRICS, with_fields
from analysis.shift.inference import Inference, MetricResult, compare_periods
from analysis.shift.periods import Periods, check_periods
from analysis.shift.shares import SenseShares, sense_shares


@dataclass(frozen=True)
class PairResult:
    """Change between an earlier and a later period.

    Attributes
    ----------
    earlier, later : str
        Period names.
    n_earlier, n_later : int
        Occurrences in each.
    consecutive : bool
        The two periods are neighbours in time.
    vs_first : bool
        ``earlier`` is the first period.
    metrics : dict of str to MetricResult
        Keys among ``"apd"``, ``"prt"``, ``"jsd"`` (``"jsd"`` only when sense labels were given).
    """

    earlier: str
    later: str
    n_earlier: int
    n_later: int
    consecutive: bool
    vs_first: bool
    metrics: Mapping[str, MetricResult]

    def to_dict(self) -> dict:
        out = {"earlier": self.earlier, "later": self.later, "n_earlier": self.n_earlier, "n_later": self.n_later,
               "consecutive": self.consecutive, "vs_first": self.vs_first}
        for name, m in self.metrics.items():
            out[name] = m.value
            out[f"{name}_p"] = m.p_value
            out[f"{name}_ci"] = [m.ci_low, m.ci_high]
        return out


# ---------------------------------------------------------------------------------------------------------------------
# Whole analysis for one target
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftResult:
    """Everything the Shift page and ``shift.json`` show for one target.

    Attributes
    ----------
    periods : Periods
    pairs : tuple of PairResult
        Consecutive pairs and each period vs the first, in time order, without duplicates.
    shares : SenseShares or None
        None when no sense labels were given.
    params : dict
        The parameters (for the manifest).
    """

    periods: Periods
    pairs: tuple[PairResult, ...]
    shares: SenseShares | None
    params: dict = field(default_factory=dict)

    def pairs_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (pair, metric) with ``earlier``, ``later``, ``later_order``, ``consecutive``,
        ``vs_first``, ``metric``, ``value``, ``p_value``, ``ci_low``, ``ci_high``, ``n_permutations``,
        ``n_bootstrap``, ``n_earlier``, ``n_later``."""
        order = {n: i for i, n in enumerate(self.periods.names)}
        rows = []
        for pr in self.pairs:
            for name, m in pr.metrics.items():
                rows.append({"earlier": pr.earlier, "later": pr.later, "later_order": order[pr.later],
                             "consecutive": pr.consecutive, "vs_first": pr.vs_first, "metric": name,
                             "value": m.value, "p_value": m.p_value, "ci_low": m.ci_low, "ci_high": m.ci_high,
                             "n_permutations": m.n_permutations, "n_bootstrap": m.n_bootstrap,
                             "n_earlier": pr.n_earlier, "n_later": pr.n_later})
        return pd.DataFrame(rows)

    def metric_table(self) -> pd.DataFrame:
        """Wide table for display: one row per pair, columns per metric (value, p, interval)."""
        rows = []
        for pr in self.pairs:
            row = {"earlier": pr.earlier, "later": pr.later, "n": f"{pr.n_earlier} / {pr.n_later}",
                   "comparison": ", ".join([c for c, ok in (("consecutive", pr.consecutive), ("vs first", pr.vs_first))
                                            if ok])}
            for name, m in pr.metrics.items():
                row[name.upper()] = m.value
                row[f"{name.upper()} p"] = m.p_value
                row[f"{name.upper()} {int(round(m.ci * 100))}% CI"] = (
                    "" if m.ci_low is None else f"{m.ci_low:.3f} – {m.ci_high:.3f}")
            rows.append(row)
        return pd.DataFrame(rows)

    def pair(self, earlier: str, later: str) -> PairResult:
        for pr in self.pairs:
            if pr.earlier == earlier and pr.later == later:
                return pr
        raise ConfigError(f"no comparison of {earlier!r} with {later!r}")

    def to_dict(self) -> dict:
        return {"periods": self.periods.to_dict(), "pairs": [p.to_dict() for p in self.pairs],
                "shares": None if self.shares is None else self.shares.to_dict(), "params": dict(self.params)}


def period_pairs(n_periods: int) -> list[tuple[int, int, bool, bool]]:
    """(earlier, later, consecutive, vs_first) for consecutive pairs and each period vs the first, without repeats."""
    pairs = {}
    for j in range(1, n_periods):
        pairs[(j - 1, j)] = [True, j - 1 == 0]
        key = (0, j)
        if key in pairs:
            pairs[key][1] = True
        else:
            pairs[key] = [False, True]
    return [(a, b, c, f) for (a, b), (c, f) in sorted(pairs.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


@dataclass(frozen=True)
class ShiftSettings(Inference):
    """The settings of :func:`analyse_shift`: the tests (see :class:`Inference`) and what is compared.

    Attributes
    ----------
    metrics : sequence of str, optional
        Default: APD and PRT, plus JSD when labels are given.
    appear_min_count : int
        See :func:`analysis.shift.shares.sense_shares`.
    pairs : {"all", "first_last"}
        "all": consecutive pairs and each vs the first; "first_last": only the first vs the last period (ranking).
    """

    metrics: Sequence[str] | None = None
    appear_min_count: int = 1
    pairs: str = "all"


def _plan(periods: Periods, pairs: str) -> list[tuple[int, int, bool, bool]]:
    if pairs == "all":
        return period_pairs(periods.n_periods)
    if pairs == "first_last":
        last = periods.n_periods - 1
        return [(0, last, last == 1, True)]
    raise ConfigError(f"unknown pairs {pairs!r}; use 'all' or 'first_last'")


def _base_seed(seed) -> int:
    """The integer every pair's generator is derived from (a Generator gives one draw of its own)."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63))
    return int(seed)


def analyse_shift(X, periods: Periods, *, labels=None, sense_names=None, settings: ShiftSettings | None = None,
                  **fields) -> ShiftResult:
    """Sense shares per period and APD / PRT / JSD between periods, with significance.

    Parameters
    ----------
    X : array of shape (n_occurrences, dim)
        One vector per occurrence (one layer of the embedding set), same row order as ``periods.codes``.
    periods : Periods
    labels : array of shape (n_occurrences,), int, optional
        Sense cluster per occurrence (one clustering of all usages, −1 = noise). Without it, no shares and no JSD.
    sense_names : mapping label -> name, optional
    settings : ShiftSettings, optional
    **fields
        :class:`ShiftSettings` fields (``n_permutations=``, ``n_bootstrap=``, ``ci=``, ``seed=``, ``metrics=``,
        ``appear_min_count=``, ``pairs=``) instead of or on top of ``settings``. Each pair gets its own generator
        derived from ``seed``, so a pair's result does not depend on which other pairs are computed.

    Returns
    -------
    ShiftResult
    """
    s = with_fields(settings or ShiftSettings(), fields)
    X = as_matrix(X, n_rows=periods.codes.size)
    check_periods(periods)
    metrics = s.metrics if s.metrics is not None else (METRICS if labels is not None else ("apd", "prt"))
    if "jsd" in metrics and labels is None:
        raise ConfigError("JSD needs sense clusters; cluster the usages first (Senses page) or leave JSD out")
    if labels is not None:
        labels = np.asarray(labels).astype(int)
        if labels.shape != periods.codes.shape:
            raise ConfigError(f"there are {labels.size} sense labels but {periods.codes.size} occurrences")
    base = _base_seed(s.seed)
    results = []
    for a, b, cons, first in _plan(periods, s.pairs):
        ma, mb = periods.codes == a, periods.codes == b
        pair_inference = Inference(n_permutations=s.n_permutations, n_bootstrap=s.n_bootstrap, ci=s.ci,
                                   seed=np.random.default_rng(np.random.SeedSequence([base, a, b])))
        ms = compare_periods(X[ma], X[mb], labels_a=None if labels is None else labels[ma],
                             labels_b=None if labels is None else labels[mb], metrics=metrics,
                             inference=pair_inference)
        results.append(PairResult(earlier=periods.names[a], later=periods.names[b], n_earlier=int(ma.sum()),
                                  n_later=int(mb.sum()), consecutive=cons, vs_first=first, metrics=ms))
    shares = None
    if labels is not None:
        shares = sense_shares(labels, periods, sense_names=sense_names, n_bootstrap=s.n_bootstrap, ci=s.ci,
                              seed=np.random.default_rng(np.random.SeedSequence([base, 10**6])),
                              appear_min_count=s.appear_min_count)
    params = {"n_permutations": int(s.n_permutations), "n_bootstrap": int(s.n_bootstrap), "ci": float(s.ci),
              "seed": base, "metrics": list(metrics), "pairs": s.pairs,
              "appear_min_count": int(s.appear_min_count), "jsd_log": "natural",
              "permutation_p": "(count(null >= observed) + 1) / (n_permutations + 1)",
              "apd": "mean cosine distance over all cross-period pairs",
              "prt": "cosine distance between mean raw vectors", "jsd_noise": "label -1 left out"}
    return ShiftResult(periods=periods, pairs=tuple(results), shares=shares, params=params)


def shift_by_layer(vectors: np.ndarray, layers, periods, *, labels=None, sense_names=None,
                   settings: ShiftSettings | None = None, progress=None) -> pd.DataFrame:
    """APD, PRT and JSD between the first and last period at every hidden layer: one row per layer x metric with
    ``layer``, ``metric``, ``value``, ``p_value``, ``ci_low``, ``ci_high`` (the settings' tests at each layer).

    ``vectors`` is an embedding set's (n, n_layers, dim) array and ``layers`` its hidden-state indices. The sense
    ``labels`` are the same at every layer (JSD then changes only through its bootstrap and permutations), so that
    the layers differ in the usages' geometry alone. ``progress(i, n, layer)`` after each layer."""
    from analysis.senses import layer_label, layer_vectors

    rows = []
    layers = list(layers)
    for i, layer in enumerate(layers):
        X = layer_vectors(vectors, layers, str(layer))
        res = analyse_shift(X, periods, labels=labels, sense_names=sense_names, settings=settings)
        pairs = res.pairs_frame()
        last = pairs[(pairs["vs_first"]) & (pairs["later_order"] == pairs["later_order"].max())]
        for _, r in last.iterrows():
            rows.append({"layer": layer_label(layers, str(layer)), "metric": r["metric"], "value": r["value"],
                         "p_value": r["p_value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "earlier": r["earlier"], "later": r["later"]})
        if progress is not None:
            progress(i + 1, len(layers), layer)
    return pd.DataFrame(rows)
