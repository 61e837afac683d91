"""A ranking of targets scored against gold: Spearman's rho and binary accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
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
    spearman_ci : dict metric -> (low, high)
        95 % percentile bootstrap interval of rho over targets (targets resampled with replacement, seeded).
    spearman_perm_p : dict metric -> two-sided permutation p of rho (gold scores shuffled over the targets; the
        smallest possible p is 1 / (permutations + 1)).
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
    spearman_ci: Mapping[str, tuple] = field(default_factory=dict)
    spearman_perm_p: Mapping[str, float] = field(default_factory=dict)

    def rho_line(self, metric: str) -> str:
        """"APD 0.693 [0.30, 0.92], permutation p 0.001" (or "APD n/a")."""
        rho = self.spearman.get(metric, float("nan"))
        if rho != rho:
            return f"{metric.upper()} n/a"
        lo, hi = self.spearman_ci.get(metric, (float("nan"), float("nan")))
        p = self.spearman_perm_p.get(metric, float("nan"))
        ci = f" [{lo:.2f}, {hi:.2f}]" if lo == lo else ""
        return f"{metric.upper()} {rho:.3f}{ci}" + (f", permutation p {p:.3g}" if p == p else "")

    def gold_column(self, gold: "Gold", targets: Sequence[str]) -> list[float]:
        """Graded gold score of each target (NaN where there is none), for plots."""
        g = gold.graded or {}
        return [float(g[self.matched_graded[t]]) if t in self.matched_graded else float("nan") for t in targets]

    def spearman_json(self) -> dict:
        """The ``spearman.json`` of ``shift-rank``: ``{"apd": rho, "prt": rho, "jsd": rho, "n": targets}``."""
        return {m: finite_or_none(self.spearman.get(m, float("nan"))) for m in METRICS} | {"n": int(self.n_graded)}

    def to_dict(self) -> dict:
        return {"spearman": {m: finite_or_none(v) for m, v in self.spearman.items()},
                "spearman_p": {m: finite_or_none(v) for m, v in self.spearman_p.items()},
                "spearman_ci": {m: [finite_or_none(a), finite_or_none(b)] for m, (a, b) in self.spearman_ci.items()},
                "spearman_permutation_p": {m: finite_or_none(v) for m, v in self.spearman_perm_p.items()},
                "spearman_ci_level": RHO_CI, "spearman_n_bootstrap": RHO_BOOTSTRAP,
                "spearman_n_permutations": RHO_PERMUTATIONS, "n_graded": self.n_graded,
                "accuracy": {m: finite_or_none(v) for m, v in self.accuracy.items()}, "n_binary": self.n_binary,
                "binary_rule": self.binary_rule, "matched": dict(self.matched),
                "unmatched_targets": list(self.unmatched_targets)}


#: Bootstrap resamples and permutations for the uncertainty of rho over targets (seeded: the same ranking gives the
#: same interval and p).
RHO_BOOTSTRAP = 2000
RHO_PERMUTATIONS = 9999
RHO_CI = 0.95


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank, as in Spearman's rho)."""
    from scipy.stats import rankdata

    return rankdata(a, axis=-1)


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of x with the matching row of y (NaN where a row is constant)."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (x * y).sum(axis=-1) / np.where(den > 1e-12, den, 1.0), np.nan)


def rho_uncertainty(scores, gold, *, n_bootstrap: int = RHO_BOOTSTRAP, n_permutations: int = RHO_PERMUTATIONS,
                    ci: float = RHO_CI, seed: int = 0) -> tuple[tuple[float, float], float]:
    """((low, high), permutation p) of Spearman's rho between ``scores`` and ``gold`` over targets: the percentile
    bootstrap interval (targets resampled with replacement; resamples with constant values are left out) and the
    two-sided permutation p (gold shuffled over the targets)."""
    s, g = np.asarray(scores, dtype=float), np.asarray(gold, dtype=float)
    n = len(s)
    rng = np.random.default_rng(seed)
    rs, gr = _ranks(s), _ranks(g)
    rho = _row_pearson(rs[None], gr[None])[0]
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    boot = _row_pearson(_ranks(s[idx]), _ranks(g[idx]))
    boot = boot[np.isfinite(boot)]
    a = (1 - ci) / 2
    interval = (float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))) if boot.size else (np.nan, np.nan)
    perm = np.argsort(rng.random((n_permutations, n)), axis=1)
    null = _row_pearson(np.broadcast_to(rs, (n_permutations, n)), gr[perm])
    p = (1 + int(np.sum(np.abs(null) >= abs(rho) - 1e-12))) / (n_permutations + 1)
    return interval, float(p)


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
    rho, rho_p, rho_ci, rho_pp = (_graded_scores(ranking, gold.graded, mg) if gold.graded is not None
                                  else ({}, {}, {}, {}))
    acc, pred = _binary_scores(ranking, gold.binary, mb, binary_rule, alpha) if gold.binary is not None else ({}, {})
    return Evaluation(spearman=rho, spearman_p=rho_p, n_graded=_n_in(ranking, mg) if gold.graded is not None else 0,
                      accuracy=acc, n_binary=_n_in(ranking, mb) if gold.binary is not None else 0,
                      binary_rule=binary_rule, matched=matched, unmatched_targets=unmatched, predicted_binary=pred,
                      matched_graded=mg, matched_binary=mb, spearman_ci=rho_ci, spearman_perm_p=rho_pp)


def _with_gold(ranking: pd.DataFrame, scores: Mapping, matched: Mapping[str, str]) -> tuple[pd.DataFrame, pd.Series]:
    """The ranking rows of the matched targets and their gold scores."""
    sub = ranking[ranking["target"].map(lambda t: t in matched)]
    return sub, sub["target"].map(lambda t: scores[matched[t]])


def _n_in(ranking: pd.DataFrame, matched: Mapping[str, str]) -> int:
    return int(ranking["target"].map(lambda t: t in matched).sum())


def _graded_scores(ranking, graded, matched) -> tuple[dict, dict, dict, dict]:
    """Spearman's rho of each metric against graded gold, its p (scipy's), bootstrap interval over targets and
    permutation p; NaN with < 3 targets or constant values."""
    from scipy.stats import spearmanr

    sub, g = _with_gold(ranking, graded, matched)
    g = g.astype(float)
    rho, rho_p, rho_ci, rho_pp = {}, {}, {}, {}
    for m in METRICS:
        ok = sub[m].notna()
        if ok.sum() >= 3 and sub.loc[ok, m].nunique() > 1 and g[ok].nunique() > 1:
            r = spearmanr(sub.loc[ok, m], g[ok])
            rho[m], rho_p[m] = float(r.statistic), float(r.pvalue)
            rho_ci[m], rho_pp[m] = rho_uncertainty(sub.loc[ok, m].to_numpy(float), g[ok].to_numpy(float))
        else:
            rho[m], rho_p[m] = float("nan"), float("nan")
            rho_ci[m], rho_pp[m] = (float("nan"), float("nan")), float("nan")
    return rho, rho_p, rho_ci, rho_pp


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
