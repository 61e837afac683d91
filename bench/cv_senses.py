"""Sense-induction defaults chosen by leave-words-out cross-validation (issue 14).

For every word of CoarseWSD-20 (``../shared``; a seeded sample of at most ``--max-per-word`` occurrences each) and
every DWUG EN target (a seeded sample of at most ``--max-per-target`` usages), at every layer rule (stated relative
to the depth: last, L-2, middle third, upper half; ``--full`` adds every layer, the upper third and all), the
prepared vectors (L2, the package default) are clustered by:

- k-means and agglomerative with k by silhouette over 2..10 and the k = 1 test (one cluster when the best silhouette
  is below ``min_silhouette``; "none" = the old behaviour, never k = 1);
- affinity propagation with the preference at a quantile of the pairwise cosines;
- correlation clustering and Chinese Whispers on the cosine graph with a threshold;

all through :func:`analysis.senses.cluster_vectors`. Each clustering is scored per word: ARI and purity against the
gold senses (CoarseWSD-20; DWUG gold clusters, noise left out, one-sense targets included) and, for DWUG, the JSD of
the induced clusters between the two periods (Spearman's rho with ``change_graded`` over targets). CoarseWSD-20 also
gets k-means / agglomerative at the true k, per layer.

Selection: ``--splits`` seeded halvings of the CoarseWSD words and of the DWUG targets; on each, the setting (method +
parameter + layer rule) with the best objective on one half is scored on the other half. The objective is the mean of
CoarseWSD ARI, DWUG ARI and DWUG JSD rho (each also cross-validated on its own). Printed: in-sample best vs mean CV
score, bootstrap intervals over words (of each word's held-out scores), how often each setting was chosen, and the
old default beside the new one. Run from the project root::

    .venv/bin/python bench/cv_senses.py [--max-per-word 200] [--max-per-target 160] [--splits 20] [--json out.json]
    .venv/bin/python bench/cv_senses.py --only coarsewsd --rows cw.csv   # one dataset (two can run side by side)
    .venv/bin/python bench/cv_senses.py --rows cw.csv dw.csv            # the report from saved rows
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared bench helpers (bench/ is no package)

import cv_data  # noqa: E402

from analysis import senses  # noqa: E402
from analysis import shift as S  # noqa: E402
from analysis.layers import depth_range  # noqa: E402

MIN_SILHOUETTES = (None, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15, 0.2)
MIN_STABILITIES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
AP_QUANTILES = (0.0, 0.25, 0.5)
THRESHOLDS = (0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925)
OLD_DEFAULT = "kmeans(none) @ last"
PREVIOUS = "kmeans(0.15) @ last"  # chosen here with MiniLM alone (2026-12-04), replaced after bench/cv_models.py
SHIPPED = f"{senses.DEFAULT_METHOD}({senses.DEFAULT_MIN_SILHOUETTE}) @ last"


def layer_rules(top: int, full: bool = False) -> dict:
    """Layer rules by name -> spec for a model whose last hidden state is ``top`` (0 = embeddings, left out): the last
    layer, the middle of the stack, the middle third and the upper half (``full``: every single layer from 2, the
    upper third and all layers as well)."""
    rules = {"last": top, f"layer {top - 2}": top - 2, "middle third": depth_range("middle third", top),
             "upper half": depth_range("upper half", top)}
    if full:
        rules.update({f"layer {i}": i for i in range(2, top)})
        rules.update({"upper third": depth_range("upper third", top), "all": (1, top)})
    return rules


def _subsample(n: int, size: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= size else np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _one(labels, gold, period) -> dict:
    sc = senses.score_clusters(gold, labels)
    out = {"ari": sc.ari, "purity": sc.purity, "k": int(len(np.unique(labels)))}
    if period is not None:
        a, b = sorted(np.unique(period))[:2]
        out["jsd"] = S.jsd(labels[period == a], labels[period == b])
    return out


def settings_for(X, seed: int):
    """(setting name, labels) of every clustering on one word x layer."""
    stable = {}
    for method in ("kmeans", "agglomerative"):
        cl = senses.cluster_vectors(X, method=method, k="auto", k_range=(2, 10), seed=seed)
        best = max(cl.silhouette.values()) if cl.silhouette else -1.0
        for s in MIN_SILHOUETTES:
            one = s is not None and best < s
            yield f"{method}({'none' if s is None else s})", (np.zeros(len(X), int) if one else cl.labels)
        if cl.k not in stable:  # the stability test of the same k is the same whichever method chose it
            stable[cl.k] = senses.stability(X, cl.k, seed)
        for t in MIN_STABILITIES:
            yield f"{method}(stab {t})", (np.zeros(len(X), int) if stable[cl.k] < t else cl.labels)
    for q in AP_QUANTILES:
        yield f"affinity({q})", senses.cluster_vectors(X, method="affinity", preference=q, seed=seed).labels
    for t in THRESHOLDS:
        yield f"correlation({t})", senses.cluster_vectors(X, method="correlation", threshold=t, seed=seed).labels
        yield f"chinese_whispers({t})", senses.cluster_vectors(X, method="chinese_whispers", threshold=t,
                                                               seed=seed).labels


def score_dataset(words, dataset: str, max_n: int, seed: int, full: bool = False) -> list[dict]:
    """One row per word x layer rule x setting (and, for CoarseWSD, the true-k rows)."""
    rows = []
    t0 = time.perf_counter()
    for w in words:
        idx = _subsample(len(w.occ), max_n, seed)
        gold = np.asarray(w.gold, dtype=object)[idx]
        period = None if w.period is None else w.period[idx]
        rules = layer_rules(max(w.layers), full)
        n_gold = len({g for g in gold if g is not None})
        for rule, spec in rules.items():
            X = senses.preprocess(senses.layer_vectors(w.vectors[idx], list(w.layers), spec))
            for name, labels in settings_for(X, seed):
                rows.append({"dataset": dataset, "word": w.name, "layer": rule, "setting": f"{name} @ {rule}",
                             **_one(labels, gold, period)})
            if dataset == "coarsewsd" and n_gold >= 2:
                for method in ("kmeans", "agglomerative"):
                    lab = senses.cluster_vectors(X, method=method, k=n_gold, seed=seed).labels
                    rows.append({"dataset": "coarsewsd-true-k", "word": w.name, "layer": rule,
                                 "setting": f"{method}(true k) @ {rule}", **_one(lab, gold, None)})
        print(f"# {dataset} {w.name}: {len(idx)} occurrences, {n_gold} gold senses "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Selection
# ----------------------------------------------------------------------------------------------------------------

class Scorer:
    """The three criteria of a setting on a set of CoarseWSD words and DWUG targets, from precomputed rows."""

    def __init__(self, table: pd.DataFrame, change: dict):
        self.cw = table[table.dataset == "coarsewsd"].pivot_table(index="setting", columns="word", values="ari")
        self.dw = table[table.dataset == "dwug"].pivot_table(index="setting", columns="word", values="ari")
        self.jsd = table[table.dataset == "dwug"].pivot_table(index="setting", columns="word", values="jsd")
        self.targets = [t for t in self.jsd.columns if t in change]
        self.change = pd.Series(change)
        self.settings = list(self.cw.index.intersection(self.dw.index))

    def rho(self, targets) -> pd.Series:
        """Spearman rho of JSD with change_graded over ``targets``, per setting."""
        t = [x for x in targets if x in self.change.index]
        gold = self.change[t].to_numpy()
        vals = self.jsd.loc[self.settings, t].to_numpy()
        out = [spearmanr(v, gold).statistic if np.ptp(v) > 0 else np.nan for v in vals]
        return pd.Series(out, index=self.settings, dtype=float)

    def criteria(self, cw_words, dw_words) -> pd.DataFrame:
        return pd.DataFrame({"cw_ari": self.cw.loc[self.settings, cw_words].mean(axis=1),
                             "dwug_ari": self.dw.loc[self.settings, dw_words].mean(axis=1),
                             "jsd_rho": self.rho(dw_words)})


def objective(crit: pd.DataFrame, name: str) -> pd.Series:
    if name == "combined":
        return crit[["cw_ari", "dwug_ari", "jsd_rho"]].mean(axis=1, skipna=False)
    return crit[name]


def cross_validate(sc: Scorer, name: str, splits_cw, splits_dw) -> dict:
    """Leave-words-out selection for one objective; held-out scores of all three criteria."""
    full = sc.criteria(list(sc.cw.columns), list(sc.dw.columns))
    obj_full = objective(full, name)
    best_in = obj_full.idxmax()
    held, chosen = [], []
    per_word_cw, per_word_dw = {}, {}
    for (c_in, c_out), (d_in, d_out) in zip(splits_cw, splits_dw):
        pick = objective(sc.criteria(c_in, d_in), name).idxmax()
        chosen.append(pick)
        out = sc.criteria(c_out, d_out).loc[pick]
        held.append({**out.to_dict(), "objective": objective(out.to_frame().T, name).iloc[0]})
        for w in c_out:
            per_word_cw.setdefault(w, []).append(sc.cw.loc[pick, w])
        for w in d_out:
            per_word_dw.setdefault(w, []).append(sc.dw.loc[pick, w])
    held = pd.DataFrame(held)
    return {"objective": name, "in_sample_setting": best_in, "in_sample": full.loc[best_in].to_dict(),
            "in_sample_objective": float(obj_full[best_in]), "cv": held.mean().to_dict(),
            "cv_sd": held.std().to_dict(), "chosen": pd.Series(chosen).value_counts().to_dict(),
            "cv_cw_ari_ci": cv_data.bootstrap_mean([np.mean(v) for v in per_word_cw.values()]),
            "cv_dwug_ari_ci": cv_data.bootstrap_mean([np.mean(v) for v in per_word_dw.values()])}


def held_out_fixed(sc: Scorer, setting: str, splits_cw, splits_dw) -> dict:
    """A fixed setting scored on the same held-out halves as the CV choice (mean over the halvings)."""
    rows = [sc.criteria(c_out, d_out).loc[setting] for (_, c_out), (_, d_out) in zip(splits_cw, splits_dw)]
    held = pd.DataFrame(rows)
    held["objective"] = objective(held, "combined")
    return held.mean().to_dict()


def setting_summary(sc: Scorer, setting: str) -> dict:
    """All-word figures of one setting with bootstrap intervals over words."""
    cw, dw = sc.cw.loc[setting], sc.dw.loc[setting]
    t = sc.targets

    def rho_at(ix):
        sel = [t[i] for i in ix]
        v, g = sc.jsd.loc[setting, sel].to_numpy(), sc.change[sel].to_numpy()
        return spearmanr(v, g).statistic if np.ptp(v) > 0 and np.ptp(g) > 0 else np.nan

    return {"setting": setting, "cw_ari": float(cw.mean()), "cw_ari_ci": cv_data.bootstrap_mean(cw),
            "dwug_ari": float(dw.mean()), "dwug_ari_ci": cv_data.bootstrap_mean(dw),
            "jsd_rho": float(rho_at(range(len(t)))), "jsd_rho_ci": cv_data.bootstrap_stat(rho_at, len(t))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-per-word", type=int, default=200, help="CoarseWSD-20 occurrences per word (seeded sample)")
    ap.add_argument("--max-per-target", type=int, default=160, help="DWUG usages per target (seeded sample)")
    ap.add_argument("--full", action="store_true", help="every layer rule (slower)")
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--rows", nargs="*", help="per-word rows as CSV: read when they exist, else written")
    ap.add_argument("--model", help="hub id or local folder (default: the packaged MiniLM)")
    ap.add_argument("--only", choices=["coarsewsd", "dwug"], help="score one dataset only (write --rows, no report)")
    args = ap.parse_args(argv)
    print("uptime at start:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    t0 = time.perf_counter()
    if args.rows and all(Path(p).exists() for p in args.rows):
        table = pd.concat([pd.read_csv(p) for p in args.rows], ignore_index=True)
    else:
        rows = []
        if args.only in (None, "coarsewsd"):
            rows += score_dataset(cv_data.coarsewsd_words(model=args.model), "coarsewsd", args.max_per_word, args.seed,
                                  args.full)
        if args.only in (None, "dwug"):
            rows += score_dataset(cv_data.dwug_targets(args.model), "dwug", args.max_per_target, args.seed, args.full)
        table = pd.DataFrame(rows)
        if args.rows:
            table.to_csv(args.rows[0], index=False)
        if args.only:
            print(f"{len(table)} rows in {time.perf_counter() - t0:.0f} s")
            return 0
    t_score = time.perf_counter() - t0
    report(table, args)
    print(f"\nscoring {t_score:.0f} s; uptime at end:",
          subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


def report(table: pd.DataFrame, args) -> None:
    pd.set_option("display.width", 220, "display.max_columns", 30, "display.max_rows", 200)
    change = cv_data.gold_values(cv_data.read_golds()["dwug"], table[table.dataset == "dwug"].word.unique())
    sc = Scorer(table, change)
    cw_words, dw_words = list(sc.cw.columns), list(sc.dw.columns)
    splits_cw = cv_data.halvings(cw_words, args.splits, args.seed)
    splits_dw = cv_data.halvings(dw_words, args.splits, args.seed + 1)
    print(f"\n{len(cw_words)} CoarseWSD-20 words (<= {args.max_per_word} occurrences each), {len(dw_words)} DWUG "
          f"targets (<= {args.max_per_target} usages each) ({len(sc.targets)} with change_graded); {len(sc.settings)} settings; {args.splits} halvings")
    results = {k: cross_validate(sc, k, splits_cw, splits_dw) for k in ("combined", "cw_ari", "dwug_ari", "jsd_rho")}
    for name, r in results.items():
        print(f"\n== objective {name}: in-sample best {r['in_sample_setting']} "
              f"(objective {r['in_sample_objective']:.3f}; {_fmt(r['in_sample'])})")
        print(f"   CV (held-out halves, mean ± sd over {args.splits}): "
              + ", ".join(f"{k} {v:.3f} ± {r['cv_sd'][k]:.3f}" for k, v in r["cv"].items()))
        print(f"   CV per-word bootstrap 95 %: CoarseWSD ARI [{r['cv_cw_ari_ci'][0]:.3f}, {r['cv_cw_ari_ci'][1]:.3f}]"
              f", DWUG ARI [{r['cv_dwug_ari_ci'][0]:.3f}, {r['cv_dwug_ari_ci'][1]:.3f}]")
        print("   chosen: " + ", ".join(f"{s} x{n}" for s, n in r["chosen"].items()))
    top = results["combined"]["in_sample_setting"]
    most = max(results["combined"]["chosen"].items(), key=lambda kv: kv[1])[0]
    print("\nOld, previous and shipped defaults vs the in-sample best and the most often chosen (all words, bootstrap "
          "95 % over words):")
    summ = [setting_summary(sc, s) for s in dict.fromkeys([OLD_DEFAULT, PREVIOUS, SHIPPED, top, most])]
    for s in summ:
        print(f"  {s['setting']:<40} CoarseWSD ARI {s['cw_ari']:.3f} [{s['cw_ari_ci'][0]:.3f}, {s['cw_ari_ci'][1]:.3f}]"
              f"  DWUG ARI {s['dwug_ari']:.3f} [{s['dwug_ari_ci'][0]:.3f}, {s['dwug_ari_ci'][1]:.3f}]"
              f"  JSD rho {s['jsd_rho']:.3f} [{s['jsd_rho_ci'][0]:.3f}, {s['jsd_rho_ci'][1]:.3f}]")
    print("\nFixed settings scored on the same held-out halves as the CV choice (mean over the halvings):")
    fixed = {s: held_out_fixed(sc, s, splits_cw, splits_dw)
             for s in dict.fromkeys([OLD_DEFAULT, PREVIOUS, SHIPPED, top, most])}
    for s, v in fixed.items():
        print(f"  {s:<40} " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()))
    extra = _tables(table, sc)
    extra["fixed_held_out"] = fixed
    if args.json:
        Path(args.json).write_text(json.dumps({"cv": results, "summary": summ, **extra}, indent=1, default=_js))


def _tables(table: pd.DataFrame, sc: Scorer) -> dict:
    """Per method family (best parameter x layer in-sample), the true-k figures and the k found, printed."""
    crit = sc.criteria(list(sc.cw.columns), list(sc.dw.columns))
    crit["combined"] = objective(crit, "combined")
    crit["family"] = [s.split("(")[0] for s in crit.index]
    best = crit.sort_values("combined", ascending=False).groupby("family").head(1)
    print("\nBest setting per method family (in-sample, all words):")
    print(best.round(3).to_string())
    tk = table[table.dataset == "coarsewsd-true-k"].groupby("setting")[["ari", "purity"]].mean()
    print("\nCoarseWSD-20 at the true k (mean over words), best 6:")
    print(tk.sort_values("ari", ascending=False).head(6).round(3).to_string())
    ind = table[table.dataset == "coarsewsd"].groupby("setting")[["ari", "purity", "k"]].mean()
    print("\nCoarseWSD-20 at the induced k for the in-sample best of each family:")
    print(ind.loc[[s for s in best.index if s in ind.index]].round(3).to_string())
    dk = table[table.dataset == "dwug"].groupby("setting")[["ari", "k"]].mean()
    print("\nDWUG mean k found for the same settings:")
    print(dk.loc[[s for s in best.index if s in dk.index]].round(2).to_string())
    return {"family_best": best.reset_index().to_dict("records"), "true_k": tk.reset_index().to_dict("records")}


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())


def _js(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
