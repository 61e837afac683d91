"""The shift defaults chosen by leave-words-out cross-validation (issue 14): APD and PRT per layer rule, and JSD of
shift-rank's k-means senses per one-sense threshold (and per threshold x layer rule).

Per DWUG EN target (all usages, embedded once through the project cache; periods = DWUG ``grouping``), APD and PRT
between the two periods (``analysis.shift.apd`` / ``prt`` on the raw vectors, as ``shift-rank``) at every single layer
and at rules stated relative to the model's depth (middle third, upper third, upper half, the last three, all).
Scored against SemEval-2020 Task 1 graded truth (the targets present) and DWUG ``change_graded`` (all targets) by
Spearman's rho over targets.

Selection: ``--splits`` seeded halvings of the targets of each gold; the layer rule with the best rho on one half is
scored on the other half. Printed per metric and gold: the in-sample best rule and its rho (bootstrap 95 % over
targets), the mean CV rho (± sd over halvings), how often each rule was chosen, and the current default
(``analysis.shift.DEFAULT_LAYER``) beside them. Run from the project root::

    .venv/bin/python bench/cv_shift.py [--splits 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared bench helpers (bench/ is no package)

import cv_data  # noqa: E402

from analysis import senses  # noqa: E402
from analysis.layers import depth_range  # noqa: E402
from analysis import shift as S  # noqa: E402


def rules(top: int) -> dict:
    """Layer rules by name -> spec (single layers, then rules relative to the depth ``top``)."""
    out = {f"layer {i}": i for i in range(0, top + 1)}
    out.update({name: depth_range(name, top) for name in ("middle third", "upper third", "upper half")})
    out.update({"last three": (top - 2, top), "all": (1, top)})
    seen, kept = {}, {}
    for name, spec in out.items():  # one name per set of layers (for 6 layers the upper half is the last three)
        key = tuple(senses.resolve_layers(list(range(top + 1)), spec))
        if key in seen:
            kept[f"{seen[key]} = {name}"] = kept.pop(seen[key])
            seen[key] = f"{seen[key]} = {name}"
        else:
            seen[key], kept[name] = name, spec
    return kept


def metric_table(targets) -> pd.DataFrame:
    """One row per target x rule: APD and PRT between the two periods."""
    rows = []
    for w in targets:
        spec_of = rules(max(w.layers))
        a, b = sorted(np.unique(w.period))[:2]
        for name, spec in spec_of.items():
            V = senses.layer_vectors(w.vectors, list(w.layers), spec)
            A, B = V[w.period == a], V[w.period == b]
            rows.append({"word": w.name, "rule": name, "apd": S.apd(A, B), "prt": S.prt(A, B)})
    return pd.DataFrame(rows)


THRESHOLDS = ("none", 0.05, 0.1, 0.13, 0.15, 0.2, 0.25)
#: min_stability values tried beside the silhouette thresholds (analysis.senses.stability).
STABILITIES = (0.7, 0.8, 0.85, 0.9, 0.95)


def jsd_table(targets, rule_names=None) -> pd.DataFrame:
    """One row per target x rule x one-sense threshold: JSD between the two periods of the senses that shift-rank
    clusters (:func:`analysis.shift.cluster_labels`: unit length, common mean removed, k-means with k by silhouette
    over 2..10, seed 0; one cluster when the best silhouette is below the threshold). The clustering does not depend
    on the threshold, so it is run once per target x rule and each threshold only decides k = 1 or not, exactly as
    ``cluster_vectors`` does."""
    rows = []
    for w in targets:
        a, b = sorted(np.unique(w.period))[:2]
        inside = np.isin(w.period, [a, b])
        for name, spec in rules(max(w.layers)).items():
            if rule_names is not None and name not in rule_names:
                continue
            V = senses.layer_vectors(w.vectors, list(w.layers), spec)[inside]
            labels, res = S.cluster_labels(V, min_silhouette=None, seed=0)
            best = max(res.silhouette.values()) if res.silhouette else float("nan")
            per = w.period[inside]
            split = S.jsd(labels[per == a], labels[per == b])
            for t in THRESHOLDS:
                one = t != "none" and not best >= float(t)
                rows.append({"word": w.name, "rule": f"{name} @ {t}", "layer_rule": name, "threshold": str(t),
                             "jsd": 0.0 if one else split, "k": 1 if one else res.k})
            # The stability test on the same clustering (the vectors as cluster_labels prepares them).
            stable = senses.stability(S.jsd_vectors(V), res.k, 0)
            for t in STABILITIES:
                one = not stable >= t
                rows.append({"word": w.name, "rule": f"{name} @ stab {t}", "layer_rule": name,
                             "threshold": f"stab {t}", "jsd": 0.0 if one else split, "k": 1 if one else res.k})
    return pd.DataFrame(rows)


def _rho(table: pd.DataFrame, metric: str, gold: pd.Series, words) -> pd.Series:
    sub = table[table.word.isin(words)].pivot(index="rule", columns="word", values=metric)[list(words)]
    g = gold[list(words)].to_numpy()
    return pd.Series([spearmanr(r, g).statistic for r in sub.to_numpy()], index=sub.index)


def cross_validate(table, metric, gold: pd.Series, splits) -> dict:
    words = list(gold.index)
    full = _rho(table, metric, gold, words)
    best = full.idxmax()
    cv, chosen, held = [], [], []
    for a, b in splits:
        pick = _rho(table, metric, gold, a).idxmax()
        chosen.append(pick)
        on_b = _rho(table, metric, gold, b)
        cv.append(on_b[pick])
        held.append(on_b)
    held = pd.DataFrame(held)  # every rule's rho on the held-out halves: a fixed rule scored like the CV choice

    def rho_at(rule):
        vals = table[table.rule == rule].set_index("word")[metric][words].to_numpy()
        g = gold.to_numpy()
        return lambda ix: spearmanr(vals[ix], g[ix]).statistic if np.ptp(g[ix]) > 0 else np.nan

    return {"in_sample_rule": best, "in_sample_rho": float(full[best]),
            "in_sample_ci": cv_data.bootstrap_stat(rho_at(best), len(words)), "cv_rho": float(np.nanmean(cv)),
            "cv_sd": float(np.nanstd(cv)), "chosen": pd.Series(chosen).value_counts().to_dict(),
            "per_rule": full.round(4).to_dict(), "held_out_per_rule": held.mean().round(4).to_dict(),
            "_rho_at": rho_at}


def gold_splits(golds: dict, targets, args):
    """Per gold: its name, its values for the targets (sorted by target) and the seeded halvings of those targets."""
    for gname, gold in golds.items():
        vals = pd.Series(cv_data.gold_values(gold, [w.name for w in targets])).sort_index()
        yield gname, vals, cv_data.halvings(list(vals.index), args.splits, args.seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--model", help="hub id or local folder (default: the packaged MiniLM)")
    args = ap.parse_args(argv)
    print("uptime at start:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    t0 = time.perf_counter()
    targets = cv_data.dwug_targets(args.model)
    table = metric_table(targets)
    golds = cv_data.read_golds()
    top = max(targets[0].layers)
    default = _default_rule(top)
    out = {}
    print(f"{len(targets)} DWUG targets; current shift default layer {S.DEFAULT_LAYER} = rule {default!r}; "
          f"{args.splits} halvings per gold\n")
    print(f"{'gold':<8} {'metric':<4} | {'in-sample best rule':<20} {'rho':>6} {'95 % CI':>16} | "
          f"{'CV rho':>7} {'sd':>5} | {'default rho':>11} {'95 % CI':>16} {'held-out':>8} | chosen")
    for gname, vals, splits in gold_splits(golds, targets, args):
        for metric in ("apd", "prt"):
            r = cross_validate(table, metric, vals, splits)
            d_rho = r["per_rule"][default]
            d_ci = cv_data.bootstrap_stat(r.pop("_rho_at")(default), len(vals))
            chosen = ", ".join(f"{k} x{v}" for k, v in r["chosen"].items())
            print(f"{gname + f' ({len(vals)})':<8} {metric:<4} | {r['in_sample_rule']:<20} {r['in_sample_rho']:6.3f} "
                  f"[{r['in_sample_ci'][0]:6.3f}, {r['in_sample_ci'][1]:6.3f}] | {r['cv_rho']:7.3f} {r['cv_sd']:5.2f} | "
                  f"{d_rho:11.3f} [{d_ci[0]:6.3f}, {d_ci[1]:6.3f}] {r['held_out_per_rule'][default]:8.3f} | {chosen}")
            out[f"{gname}/{metric}"] = {**r, "default_rule": default, "default_rho": d_rho, "default_ci": d_ci}
    print("\nrho per rule, all targets (and mean over the held-out halves, where the CV choice is scored):")
    both = {**{k: v["per_rule"] for k, v in out.items()},
            **{f"{k} held-out": v["held_out_per_rule"] for k, v in out.items()}}
    print(pd.DataFrame(both).round(3).to_string())
    jsd_part(targets, golds, default, args, out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    print(f"\n{time.perf_counter() - t0:.0f} s; uptime at end:",
          subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


def jsd_part(targets, golds, default: str, args, out: dict) -> None:
    """JSD of shift-rank's k-means senses: the one-sense threshold chosen by CV at the default layer rule, and the
    threshold and the layer rule chosen together; beside them the shipped default (its rule, DEFAULT_MIN_SILHOUETTE)
    and the old one (no one-sense test)."""
    warnings.filterwarnings("ignore", message="An input array is constant")  # a half where every JSD is 0: NaN rho
    table = jsd_table(targets)
    shipped, old = f"{default} @ {S.DEFAULT_MIN_SILHOUETTE}", f"{default} @ none"
    print(f"\nJSD of the k-means senses (shift-rank's clustering) vs gold; thresholds {', '.join(map(str, THRESHOLDS))};"
          f" shipped = {shipped!r}, old = {old!r}")
    print(f"{'gold':<8} {'choice':<20} | {'in-sample best':<24} {'rho':>6} {'95 % CI':>16} | {'CV rho':>7} {'sd':>5} |"
          f" {'shipped':>7} {'95 % CI':>16} {'held-out':>8} | {'old':>6} {'held-out':>8} | chosen")
    for gname, vals, splits in gold_splits(golds, targets, args):
        for choice, sub in (("threshold", table[table.layer_rule == default]), ("threshold x layer", table)):
            r = cross_validate(sub, "jsd", vals, splits)
            rho_at = r.pop("_rho_at")
            ci = cv_data.bootstrap_stat(rho_at(shipped), len(vals))
            chosen = ", ".join(f"{k} x{v}" for k, v in list(r["chosen"].items())[:4])
            print(f"{gname + f' ({len(vals)})':<8} {choice:<20} | {r['in_sample_rule']:<24} {r['in_sample_rho']:6.3f} "
                  f"[{r['in_sample_ci'][0]:6.3f}, {r['in_sample_ci'][1]:6.3f}] | {r['cv_rho']:7.3f} {r['cv_sd']:5.2f} | "
                  f"{r['per_rule'][shipped]:7.3f} [{ci[0]:6.3f}, {ci[1]:6.3f}] {r['held_out_per_rule'][shipped]:8.3f} | "
                  f"{r['per_rule'][old]:6.3f} {r['held_out_per_rule'][old]:8.3f} | {chosen}")
            out[f"{gname}/jsd/{choice}"] = {**r, "shipped": shipped, "shipped_ci": ci}
    k1 = table[(table.layer_rule == default) & (table.threshold == str(S.DEFAULT_MIN_SILHOUETTE))]
    print(f"targets given one sense by the shipped default: {int((k1.k == 1).sum())} of {len(k1)} "
          f"({', '.join(sorted(k1[k1.k == 1].word))})")


def _default_rule(top: int) -> str:
    """The rule name of analysis.shift.DEFAULT_LAYER for a model of depth ``top``."""
    want = set(senses.resolve_layers(list(range(top + 1)), S.DEFAULT_LAYER))
    for name, spec in rules(top).items():
        if set(senses.resolve_layers(list(range(top + 1)), spec)) == want:
            return name
    raise SystemExit(f"the shift default {S.DEFAULT_LAYER} is none of the rules")


if __name__ == "__main__":
    sys.exit(main())
