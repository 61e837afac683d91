"""WiC-style pairwise check of the layer choice (issue 14): same or different sense from one cosine threshold.

Pairs of usages with a same/different-sense answer, from two sources in ``../shared``:

- DWUG EN human judgments (``judgments.csv``, DURel scale 1-4, 0 = cannot decide left out): per pair the median
  judgment; ``same`` when it is >= 3 (identical or closely related), ``different`` when <= 2, pairs at 2.5 left out;
- CoarseWSD-20: seeded random pairs of the sampled occurrences of each word (up to ``--pairs-per-word``), ``same``
  when both have the same sense.

Per layer rule, a pair's score is the cosine of its two usage vectors (packaged MiniLM, cached embeddings). The
threshold is fitted on the pairs of half of the words (the accuracy-maximising cut) and applied to the pairs of the
other half; ``--splits`` seeded halvings. Printed per dataset and rule: mean held-out accuracy (± sd), the base rate
(majority class of the held-out pairs) and the threshold; then the rule chosen on each half (by training accuracy)
and its held-out accuracy. Run from the project root::

    .venv/bin/python bench/wic.py [--splits 20] [--pairs-per-word 2000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared bench helpers (bench/ is no package)

import cv_data  # noqa: E402
from cv_shift import rules  # noqa: E402

from analysis import senses  # noqa: E402
from analysis._util import unit_rows  # noqa: E402


def dwug_pairs(targets) -> dict:
    """{target: (index pairs (m, 2) into its usages, same (m,) bool)} from the DWUG judgments."""
    out = {}
    for w in targets:
        j = pd.read_csv(cv_data.DWUG / w.name / "judgments.csv", sep="\t", quoting=3)
        j = j[j["judgment"].astype(float) > 0]
        med = j.groupby(["identifier1", "identifier2"])["judgment"].median().reset_index()
        med = med[med["judgment"] != 2.5]
        pos = {d: i for i, d in enumerate(w.occ["doc_id"].astype(str))}
        ok = med["identifier1"].isin(pos) & med["identifier2"].isin(pos)
        med = med[ok]
        idx = np.c_[med["identifier1"].map(pos).to_numpy(), med["identifier2"].map(pos).to_numpy()].astype(int)
        out[w.name] = (idx, med["judgment"].to_numpy() >= 3)
    return out


def coarse_pairs(words, per_word: int, seed: int) -> dict:
    """{word: (random index pairs, same sense)} for CoarseWSD-20 (distinct occurrences, seeded)."""
    rng = np.random.default_rng(seed)
    out = {}
    for w in words:
        n = len(w.occ)
        a, b = rng.integers(0, n, size=(2, per_word))
        keep = a != b
        a, b = a[keep], b[keep]
        out[w.name] = (np.c_[a, b], w.gold[a] == w.gold[b])
    return out


def pair_cosines(words, pairs: dict, rule_specs: dict) -> dict:
    """{rule: {word: cosines of its pairs}}."""
    out = {r: {} for r in rule_specs}
    for w in words:
        idx, _ = pairs[w.name]
        for r, spec in rule_specs.items():
            U = unit_rows(senses.layer_vectors(w.vectors, list(w.layers), spec), zero_ok=True)
            out[r][w.name] = np.einsum("ij,ij->i", U[idx[:, 0]], U[idx[:, 1]])
    return out


def best_threshold(cos: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The cut (same when cos > t) with the highest accuracy on these pairs; (threshold, accuracy)."""
    order = np.argsort(cos)
    c, s = cos[order], same[order].astype(int)
    # Predict "same" for everything above position i: correct = different at or below i + same above i.
    diff_below = np.r_[0, np.cumsum(1 - s)]
    same_above = s.sum() - np.r_[0, np.cumsum(s)]
    acc = (diff_below + same_above) / len(s)
    i = int(np.argmax(acc))
    t = -np.inf if i == 0 else (c[i - 1] + c[i]) / 2 if i < len(c) else np.inf
    return float(t), float(acc[i])


def evaluate(cosines: dict, pairs: dict, splits) -> pd.DataFrame:
    """Per rule: held-out accuracy per halving, threshold, base rate; and the CV choice of rule."""
    rows = []
    for k, (train, test) in enumerate(splits):
        y_tr = np.concatenate([pairs[w][1] for w in train])
        y_te = np.concatenate([pairs[w][1] for w in test])
        for r, by_word in cosines.items():
            t, acc_tr = best_threshold(np.concatenate([by_word[w] for w in train]), y_tr)
            acc_te = float(((np.concatenate([by_word[w] for w in test]) > t) == y_te).mean())
            rows.append({"split": k, "rule": r, "threshold": t, "train_acc": acc_tr, "test_acc": acc_te,
                         "base_rate": float(max(y_te.mean(), 1 - y_te.mean()))})
    return pd.DataFrame(rows)


def report(name: str, res: pd.DataFrame, n_pairs: int, n_words: int) -> None:
    g = res.groupby("rule", sort=False).agg(test_acc=("test_acc", "mean"), sd=("test_acc", "std"),
                                            train_acc=("train_acc", "mean"), threshold=("threshold", "median"),
                                            base_rate=("base_rate", "mean"))
    print(f"\n{name}: {n_pairs} pairs over {n_words} words; held-out accuracy per layer rule (mean over halvings):")
    print(g.round(3).to_string())
    pick = res.loc[res.groupby("split")["train_acc"].idxmax()]
    print(f"rule chosen on the training half: {pick['rule'].value_counts().to_dict()}; its held-out accuracy "
          f"{pick['test_acc'].mean():.3f} ± {pick['test_acc'].std():.3f} (in-sample best rule "
          f"{g['test_acc'].idxmax()!r}: {g['test_acc'].max():.3f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--pairs-per-word", type=int, default=2000)
    ap.add_argument("--model", help="hub id or local folder (default: the packaged MiniLM)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print("uptime at start:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    t0 = time.perf_counter()
    for name, words, make in (("DWUG EN judgments", cv_data.dwug_targets(args.model), dwug_pairs),
                              ("CoarseWSD-20 pairs", cv_data.coarsewsd_words(model=args.model),
                               lambda ws: coarse_pairs(ws, args.pairs_per_word, args.seed))):
        pairs = make(words)
        specs = rules(max(words[0].layers))
        cos = pair_cosines(words, pairs, specs)
        splits = cv_data.halvings([w.name for w in words], args.splits, args.seed)
        report(name, evaluate(cos, pairs, splits), sum(len(p[1]) for p in pairs.values()), len(words))
    print(f"\n{time.perf_counter() - t0:.0f} s; uptime at end:",
          subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
