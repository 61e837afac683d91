"""A ranking of targets scored against gold: Spearman's rho and binary accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from analysis._util import finite_or_none
from analysis.errors import ConfigError
from analysis.shift.common import BINARY_RULES, DEFAULT_BINARY_RULE, METRICS, GoldFileError
from analysis.shift.gold import Gold, match_targets


@dataclass(frozen=True)
class Evaluation:
    """A ranking scored against gold.

    Attributes
    ----------
    spearman : dict of metric -> rho (NaN where not computable)
    spearman_p : dict of metric -> p-value of rho
    n_graded : int
        Targets with graded gold and a score.
    accuracy : dict of metric -> binary accuracy (empty without binary gold)
    n_binary : int
    binary_rule : str
    matched : dict target -> gold key
    unmatched_targets : tuple of str
    predicted_binary : dict metric -> dict target -> 0/1
    """

    spearman: Mapping[str, float]
    spearman_p: Mapping[str, float]
    n_graded: int
    accuracy: Mapping[str, float]
    n_binary: int
    binary_rule: str
    matched: Mapping[str, str]
    unmatched_targets: tuple[str, ...]
    predicted_binary: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    matched_graded: Mapping[str, str] = field(default_factory=dict)
    matched_binary: Mapping[str, str] = field(default_factory=dict)

    def gold_column(self, gold: "Gold", targets: Sequence[str]) -> list[float]:
        """Graded gold score of each target (NaN where there is none), for plots."""
        g = gold.graded or {}
        return [float(g[self.matched_graded[t]]) if t in self.matched_graded else float("nan") for t in targets]

    def spearman_json(self) -> dict:
        """The ``spearman.json`` of ``shift-rank``: ``{"apd": rho, "prt": rho, "jsd": rho, "n": targets}``."""
        return {m: finite_or_none(self.spearman.get(m, float("nan"))) for m in METRICS} | {"n": int(self.n_graded)}

    def to_dict(self) -> dict:
        return {"spearman": {m: finite_or_none(v) for m, v in self.spearman.items()},
                "spearman_p": {m: finite_or_none(v) for m, v in self.spearman_p.items()}, "n_graded": self.n_graded,
                "accuracy": {m: finite_or_none(v) for m, v in self.accuracy.items()}, "n_binary": self.n_binary,
                "binary_rule": self.binary_rule, "matched": dict(self.matched),
                "unmatched_targets": list(self.unmatched_targets)}


def binarise(scores: pd.Series, p_values: pd.Series | None = None, *, rule: str = DEFAULT_BINARY_RULE,
             alpha: float = 0.05) -> pd.Series:
    """Changed (1) / stable (0) per target: ``"mean"`` = score above the mean score of the given targets;
    ``"permutation"`` = permutation p-value below ``alpha``."""
    if rule == "mean":
        return (scores > scores.mean()).astype(int)
    if rule == "permutation":
        if p_values is None or p_values.isna().all():
            raise ConfigError("the 'permutation' binary rule needs permutation p-values (run with permutations)")
        return (p_values < alpha).astype(int)
    raise ConfigError(f"unknown binary rule {rule!r}; use one of {', '.join(BINARY_RULES)}")


def evaluate_ranking(ranking: pd.DataFrame, gold: Gold, *, binary_rule: str = DEFAULT_BINARY_RULE,
                     alpha: float = 0.05) -> Evaluation:
    """Spearman's rho of each metric against graded gold; accuracy against binary gold.

    Parameters
    ----------
    ranking : DataFrame from :func:`rank_targets`
    gold : Gold
    binary_rule : {"mean", "permutation"}
        How a metric becomes a changed/stable decision (see :data:`DEFAULT_BINARY_RULE`).
    alpha : float
        Significance level of the "permutation" rule.

    Returns
    -------
    Evaluation
    """
    if gold.graded is None and gold.binary is None:
        raise GoldFileError("the gold file holds neither graded nor binary scores")
    targets = list(ranking["target"])
    # Matched separately: a graded file may say "plane" while a binary one says "plane_nn".
    mg = match_targets(targets, sorted(gold.graded)) if gold.graded is not None else {}
    mb = match_targets(targets, sorted(gold.binary)) if gold.binary is not None else {}
    matched = {**mb, **mg}
    if not matched:
        keys = sorted(set(gold.graded or {}) | set(gold.binary or {}))
        raise GoldFileError(f"no target matches the gold file's first column (targets: "
                            f"{', '.join(targets[:5])}; gold: {', '.join(keys[:5])})")
    unmatched = tuple(t for t in targets if t not in matched)
    rho, rho_p = _graded_scores(ranking, gold.graded, mg) if gold.graded is not None else ({}, {})
    acc, pred = _binary_scores(ranking, gold.binary, mb, binary_rule, alpha) if gold.binary is not None else ({}, {})
    return Evaluation(spearman=rho, spearman_p=rho_p, n_graded=_n_in(ranking, mg) if gold.graded is not None else 0,
                      accuracy=acc, n_binary=_n_in(ranking, mb) if gold.binary is not None else 0,
                      binary_rule=binary_rule, matched=matched, unmatched_targets=unmatched, predicted_binary=pred,
                      matched_graded=mg, matched_binary=mb)


def _with_gold(ranking: pd.DataFrame, scores: Mapping, matched: Mapping[str, str]) -> tuple[pd.DataFrame, pd.Series]:
    """The ranking rows of the matched targets and their gold scores."""
    sub = ranking[ranking["target"].map(lambda t: t in matched)]
    return sub, sub["target"].map(lambda t: scores[matched[t]])


def _n_in(ranking: pd.DataFrame, matched: Mapping[str, str]) -> int:
    return int(ranking["target"].map(lambda t: t in matched).sum())


def _graded_scores(ranking, graded, matched) -> tuple[dict, dict]:
    """Spearman's rho (and its p) of each metric against graded gold; NaN with < 3 targets or constant values."""
    from scipy.stats import spearmanr

    sub, g = _with_gold(ranking, graded, matched)
    g = g.astype(float)
    rho, rho_p = {}, {}
    for m in METRICS:
        ok = sub[m].notna()
        if ok.sum() >= 3 and sub.loc[ok, m].nunique() > 1 and g[ok].nunique() > 1:
            r = spearmanr(sub.loc[ok, m], g[ok])
            rho[m], rho_p[m] = float(r.statistic), float(r.pvalue)
        else:
            rho[m], rho_p[m] = float("nan"), float("nan")
    return rho, rho_p


def _binary_scores(ranking, binary, matched, rule: str, alpha: float) -> tuple[dict, dict]:
    """Accuracy of each metric's changed/stable decision (:func:`binarise`) against binary gold, and the decisions."""
    sub, g = _with_gold(ranking, binary, matched)
    g = g.astype(int)
    acc, pred = {}, {}
    for m in METRICS:
        ok = sub[m].notna()
        if ok.sum() == 0:
            continue
        b = binarise(sub.loc[ok, m], sub.loc[ok, f"{m}_p"], rule=rule, alpha=alpha)
        acc[m] = float((b.to_numpy() == g[ok].to_numpy()).mean())
        pred[m] = dict(zip(sub.loc[ok, "target"], b.astype(int)))
    return acc, pred
