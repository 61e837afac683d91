"""Benchmark of semantic-change ranking on DWUG EN with the default model, per layer.

What it does
    1. Loads the DWUG EN v3 usages in ../shared/datasets/semchange_en/dwug_en_v3 (28 targets, ~5,500 usages,
       periods = DWUG ``grouping``: 1810-1860 vs 1960-2010).
    2. Embeds every usage once at every layer of the packaged all-MiniLM-L6-v2 (cached by analysis.store, so a second
       run skips this).
    3. For each layer (and the layer ranges given), runs exactly what ``python -m analysis shift-rank`` runs
       (analysis.cli.shift.rank_layer: APD, PRT, JSD of k-means sense clusters with k by silhouette, first vs last
       period) and scores the ranking against
         - SemEval-2020 Task 1 English graded truth (the targets present here) and binary truth,
         - DWUG v3 ``stats_groupings.csv`` change_graded and change_binary,
       printing Spearman's rho and binary accuracy (rule: analysis.shift.DEFAULT_BINARY_RULE, and the permutation
       rule for comparison).
    4. As a check of the pipeline, JSD from DWUG's own annotated clusters instead of k-means (should track
       change_graded almost perfectly, since that is what change_graded is).

Usage
    .venv/bin/python bench/eval_shift.py [--layers 0,1,2,3,4,5,6,4-6,1-6] [--permutations 999] [--boot 200]
    [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from analysis import shift as S  # noqa: E402
from analysis.cli._common import parse_min_silhouette  # noqa: E402
from analysis.cli.shift import load_many, rank_layer  # noqa: E402
from analysis.senses import layer_label, layer_vectors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "semchange_en"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--layers", default="0,1,2,3,4,5,6,4-6,1-6")
    ap.add_argument("--permutations", type=int, default=S.DEFAULT_N_PERMUTATIONS)
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples (intervals are not scored here)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--min-silhouette", default="none,0.15,0.13",
                    help="one-sense thresholds of the k-means senses for JSD, comma-separated, each run side by side "
                         "('none' = never one cluster, the first default; 0.15 = the MiniLM-only choice of "
                         "2026-12-04; 0.13 = analysis.senses.DEFAULT_MIN_SILHOUETTE, chosen across two models)")
    ap.add_argument("--json", help="write all figures here as JSON")
    return ap.parse_args(argv)


def load_golds(data: Path) -> dict:
    """SemEval-2020 Task 1 English truth (graded + binary) and DWUG v3 stats_groupings, by name."""
    truth = data / "semeval2020_task1_truth"
    return {
        "semeval": S.read_gold(truth / "task2" / "english_pos.txt").merged(
            S.read_gold(truth / "task1" / "english_pos.txt")),
        "dwug": S.read_gold(data / "dwug_en_v3" / "stats" / "opt" / "stats_groupings.csv"),
    }


def load_and_embed(dwug: Path, batch_size: int):
    """The DWUG usages and their embedding set at every layer (cached by analysis.store); (occ, es, seconds)."""
    import torch

    from analysis.cli.embed import Progress
    from analysis.store import get_or_compute

    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.is_available()}")
    t0 = time.perf_counter()
    occ = load_many([str(dwug)])
    print(f"DWUG EN: {len(occ)} usages, {occ['target'].nunique()} targets, periods "
          f"{occ['period'].value_counts().sort_index().to_dict()}; load {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    es = get_or_compute(occ, None, layers=None, batch_size=batch_size, progress=Progress())
    embed_s = time.perf_counter() - t0
    print(f"embedding: {es.n} usages x {len(es.layers)} layers x {es.dim}: "
          f"{'cache hit' if es.cache_hit else 'computed'} in {embed_s:.1f}s "
          f"({es.n / max(embed_s, 1e-9):.0f} usages/s)")
    return occ, es, embed_s


def rank_args(args, min_silhouette: str) -> argparse.Namespace:
    """The shift-rank flags the benchmark runs with (k-means senses, DWUG grouping as the period)."""
    return argparse.Namespace(senses="clusters", sense_column="label", clusters="kmeans", k="auto",
                              min_silhouette=parse_min_silhouette(min_silhouette),
                              permutations=args.permutations, boot=args.boot, ci=S.DEFAULT_CI, seed=args.seed,
                              binary_rule=S.DEFAULT_BINARY_RULE, year_column=None, period_column="period", bins=None,
                              binning="equal-width")


def _print_header() -> None:
    print(f"{'layer':>6} | {'SemEval graded rho (n)':^28} | {'DWUG graded rho (n)':^28} | "
          f"{'SemEval bin acc':^17} | {'DWUG bin acc':^17} | {'perm-rule acc DWUG':^18} | s")
    print(f"{'':>6} | {'APD':>8}{'PRT':>8}{'JSD':>8}{'':>4} | {'APD':>8}{'PRT':>8}{'JSD':>8}{'':>4} | "
          f"{'APD':>5}{'PRT':>6}{'JSD':>6} | {'APD':>5}{'PRT':>6}{'JSD':>6} | {'APD':>5}{'PRT':>6}{'JSD':>6}  |")


def score_layer(occ, es, spec: str, ns, golds: dict) -> tuple[str, dict]:
    """Rank the targets with one layer spec's vectors, score against every gold, print one table row."""
    layer = int(spec) if spec.lstrip("-").isdigit() else spec
    t1 = time.perf_counter()
    X = layer_vectors(es.vectors, es.layers, layer)
    ranking, _, skipped, _ = rank_layer(occ, X, ns)
    evs = {name: S.evaluate_ranking(ranking, g) for name, g in golds.items()}
    perm = S.evaluate_ranking(ranking, golds["dwug"], binary_rule="permutation")
    secs = time.perf_counter() - t1
    label = layer_label(es.layers, layer)
    row = {name: {"spearman": ev.spearman, "spearman_p": ev.spearman_p, "n_graded": ev.n_graded,
                  "accuracy": ev.accuracy, "n_binary": ev.n_binary} for name, ev in evs.items()}
    row["dwug_permutation_rule_accuracy"] = perm.accuracy
    row["seconds"], row["skipped"] = secs, skipped
    row["ranking"] = ranking[["target", "apd", "prt", "jsd", "apd_p", "prt_p", "jsd_p"]].to_dict(orient="records")
    f = lambda d, m: f"{d.get(m, float('nan')):8.3f}"
    a = lambda d, m: f"{d.get(m, float('nan')):5.2f}"
    se, dw = evs["semeval"], evs["dwug"]
    print(f"{label:>6} | {f(se.spearman, 'apd')}{f(se.spearman, 'prt')}{f(se.spearman, 'jsd')} "
          f"({se.n_graded:>2}) | "
          f"{f(dw.spearman, 'apd')}{f(dw.spearman, 'prt')}{f(dw.spearman, 'jsd')} ({dw.n_graded:>2}) | "
          f"{a(se.accuracy, 'apd')} {a(se.accuracy, 'prt')} {a(se.accuracy, 'jsd')} | "
          f"{a(dw.accuracy, 'apd')} {a(dw.accuracy, 'prt')} {a(dw.accuracy, 'jsd')} | "
          f"{a(perm.accuracy, 'apd')} {a(perm.accuracy, 'prt')} {a(perm.accuracy, 'jsd')}  | {secs:.0f}",
          flush=True)
    return label, row


def rho_intervals(ranking_records: list, golds: dict, label: str) -> dict:
    """Sampling uncertainty of rho with so few targets: percentile bootstrap over targets (2000 resamples)."""
    rng = np.random.default_rng(0)
    rk = pd.DataFrame(ranking_records).set_index("target", drop=False)
    print(f"default vectors (analysis.shift.DEFAULT_LAYER = {S.DEFAULT_LAYER!r} -> layers {label}): Spearman rho "
          f"with 95% bootstrap intervals over targets (2000 resamples)")
    cis = {}
    for name, g in golds.items():
        ev = S.evaluate_ranking(rk.reset_index(drop=True), g)
        keys = [t for t in rk["target"] if t in ev.matched_graded]
        gv = np.array([g.graded[ev.matched_graded[t]] for t in keys], dtype=float)
        idx = rng.integers(0, len(keys), size=(2000, len(keys)))
        parts = []
        for m in S.METRICS:
            v = rk.loc[keys, m].to_numpy(dtype=float)
            boots = [spearmanr(v[i], gv[i]).statistic for i in idx
                     if np.unique(v[i]).size > 1 and np.unique(gv[i]).size > 1]
            lo, hi = np.nanpercentile(boots, [2.5, 97.5])
            cis[f"{name}_{m}"] = [ev.spearman[m], float(lo), float(hi)]
            parts.append(f"{m.upper()} {ev.spearman[m]:.2f} [{lo:.2f}, {hi:.2f}]")
        print(f"  vs {name} graded (n={len(keys)}): " + ", ".join(parts))
    return cis


def gold_cluster_check(occ, es, golds: dict) -> dict:
    """Pipeline check: JSD of DWUG's annotated clusters (what change_graded measures), no model involved."""
    X = layer_vectors(es.vectors, es.layers, -1)
    gold_rank, _, _ = S.shift_many(occ, X, period_column="period", senses="column", sense_column="label",
                                   n_permutations=0, n_bootstrap=0, metrics=("jsd",))
    ev = S.evaluate_ranking(gold_rank, golds["dwug"])
    ev2 = S.evaluate_ranking(gold_rank, golds["semeval"])
    print(f"check: JSD of DWUG's own clusters vs DWUG change_graded rho = {ev.spearman['jsd']:.3f} (n={ev.n_graded}); "
          f"vs SemEval graded rho = {ev2.spearman['jsd']:.3f} (n={ev2.n_graded})")
    return {"dwug": ev.spearman["jsd"], "semeval": ev2.spearman["jsd"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    dwug = data / "dwug_en_v3"
    if not dwug.exists():
        print(f"missing {dwug}", file=sys.stderr)
        return 1
    golds = load_golds(data)
    occ, es, embed_s = load_and_embed(dwug, args.batch_size)
    out = {"n_usages": int(es.n), "n_targets": int(occ["target"].nunique()), "embed_seconds": embed_s,
           "cache_hit": es.cache_hit}
    default = layer_label(es.layers, S.DEFAULT_LAYER)
    for min_sil in [m.strip() for m in args.min_silhouette.split(",") if m.strip()]:
        print(f"\nJSD senses: k-means, k by silhouette over 2..10, one cluster below silhouette {min_sil}")
        _print_header()
        ns = rank_args(args, min_sil)
        rows = out.setdefault("by_min_silhouette", {}).setdefault(min_sil, {})
        for spec in [s.strip() for s in args.layers.split(",") if s.strip()]:
            label, row = score_layer(occ, es, spec, ns, golds)
            rows[label] = row
        if default in rows:
            out.setdefault("default_layer_rho_ci", {})[min_sil] = rho_intervals(rows[default]["ranking"], golds,
                                                                               default)
    out["check_gold_clusters"] = gold_cluster_check(occ, es, golds)
    base = {name: float(np.mean(list(g.binary.values()))) for name, g in golds.items() if g.binary}
    print("binary base rate (share of changed targets): " + ", ".join(f"{k} {v:.2f}" for k, v in base.items()))
    out["binary_base_rate"] = base
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
