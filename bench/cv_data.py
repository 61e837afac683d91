"""Data and cross-validation helpers shared by ``bench/cv_senses.py``, ``bench/cv_shift.py`` and ``bench/wic.py``.

Loading (embeddings through the project cache, :func:`analysis.store.get_or_compute`, the packaged MiniLM, all
hidden states):

- :func:`coarsewsd_words`: the CoarseWSD-20 words of ``../shared`` (the same seeded, sense-stratified sample as
  ``bench/eval_senses.py``, so the cache entries are shared), one embedding set per word;
- :func:`dwug_targets`: the DWUG EN usages of every target, embedded as one table (the same table as
  ``bench/eval_shift.py`` and ``shift-rank`` build, so the cache entry is shared), split per target afterwards.

Selection across words: :func:`halvings` draws seeded random halves of the words; :func:`bootstrap_mean` and
:func:`bootstrap_stat` give percentile intervals over words (the scripts do their own selection). Run ``python bench/cv_data.py`` to fill
the cache ahead of the other scripts.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
COARSE = SHARED / "coarsewsd20" / "CoarseWSD-20"
SEMCHANGE = SHARED / "semchange_en"
DWUG = SEMCHANGE / "dwug_en_v3" / "data"


@dataclass
class Word:
    """One target: its occurrences, their vectors at every hidden state and its gold facts."""

    name: str
    occ: pd.DataFrame
    vectors: np.ndarray  # (n, n_layers, dim), float16 or float32
    layers: tuple
    gold: np.ndarray | None = None  # gold sense per occurrence (None = unlabelled / noise)
    period: np.ndarray | None = None  # DWUG grouping ("1" / "2") per occurrence


def _quiet_progress(label: str):
    state = {"t": time.perf_counter(), "last": -1}

    def progress(done, total):
        if done == total or time.perf_counter() - state["t"] > 30:
            state["t"] = time.perf_counter()
            print(f"# {label}: {done}/{total}", file=sys.stderr, flush=True)

    return progress


def coarsewsd_words(max_per_split: int = 600, seed: int = 0, words=None, model: str | None = None) -> list[Word]:
    """The CoarseWSD-20 words of ``../shared``, each with its embedding set (cached; ``model`` None = the packaged
    MiniLM)."""
    from analysis.datasets import coarsewsd20_words, load_coarsewsd20_word
    from analysis.store import get_or_compute

    out = []
    for w in words or coarsewsd20_words(COARSE):
        occ = load_coarsewsd20_word(COARSE / w, max_per_split=max_per_split, seed=seed)
        es = get_or_compute(occ, model, layers=None, progress=_quiet_progress(w))
        out.append(Word(w, occ, es.vectors, tuple(es.layers), occ["label"].astype(str).to_numpy()))
    return out


def dwug_targets(model: str | None = None) -> list[Word]:
    """Every DWUG EN target of ``../shared``: usages, vectors, gold cluster (None for noise) and period."""
    from analysis.corpus import find_occurrences, load_corpus
    from analysis.store import get_or_compute

    occ = find_occurrences(load_corpus(str(DWUG)))
    occ["occurrence_id"] = np.arange(len(occ))
    es = get_or_compute(occ, model, layers=None, progress=_quiet_progress("DWUG EN"))
    out = []
    for target, rows in occ.groupby("target", sort=True).indices.items():
        rows = np.sort(rows)
        sub = occ.iloc[rows].reset_index(drop=True)
        gold = sub["label"].astype("object").where(sub["label"].notna(), None).to_numpy()
        out.append(Word(str(target), sub, np.asarray(es.vectors[rows]), tuple(es.layers), gold,
                        sub["period"].astype(str).to_numpy()))
    return out


def dwug_usages(n: int) -> pd.DataFrame:
    """The first ``n`` DWUG EN usages (real sentences of varied length), target by target, as occurrences (for the
    speed benchmarks ``bench/embed.py`` and ``bench/embed_ray.py``)."""
    from analysis.corpus import find_occurrences, load_corpus

    if not DWUG.exists():
        sys.exit(f"{DWUG} is absent: this benchmark needs the shared DWUG EN usages")
    frames = []
    for folder in sorted(DWUG.iterdir()):
        frames.append(find_occurrences(load_corpus(folder / "uses.csv")))
        if sum(len(f) for f in frames) >= n:
            break
    occ = pd.concat(frames, ignore_index=True).iloc[:n].reset_index(drop=True)
    occ["occurrence_id"] = np.arange(len(occ))
    return occ


def read_golds() -> dict:
    """Graded change per target: ``semeval`` (SemEval-2020 Task 1 English, graded) and ``dwug`` (change_graded)."""
    from analysis import shift as S

    truth = SEMCHANGE / "semeval2020_task1_truth"
    return {"semeval": S.read_gold(truth / "task2" / "english_pos.txt"),
            "dwug": S.read_gold(SEMCHANGE / "dwug_en_v3" / "stats" / "opt" / "stats_groupings.csv")}


def gold_values(gold, names) -> dict:
    """{target: graded value} of a :class:`analysis.shift.Gold` for the names it knows (matched as shift-rank does)."""
    from analysis import shift as S

    graded = dict(gold.graded or {})
    matched = S.match_targets(list(names), list(graded))
    return {n: float(graded[g]) for n, g in matched.items() if graded.get(g) is not None}


# ----------------------------------------------------------------------------------------------------------------
# Selection across words
# ----------------------------------------------------------------------------------------------------------------

def halvings(names, n_splits: int = 20, seed: int = 0) -> list[tuple[list, list]]:
    """``n_splits`` seeded random halves of ``names``: (choosing half, scoring half), the first one the larger
    when the count is odd."""
    names = list(names)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(len(names))
        cut = (len(names) + 1) // 2
        out.append(([names[i] for i in perm[:cut]], [names[i] for i in perm[cut:]]))
    return out


def bootstrap_mean(values, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` (resampled with replacement)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def bootstrap_stat(fn: Callable[[np.ndarray], float], n: int, n_boot: int = 2000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``fn(indices)`` over bootstrap resamples of ``n`` items (e.g. words)."""
    rng = np.random.default_rng(seed)
    vals = np.array([fn(rng.integers(0, n, size=n)) for _ in range(n_boot)], dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Fill the cache for bench/cv_senses.py, cv_shift.py and wic.py")
    ap.add_argument("--model", help="hub id or local folder (default: the packaged MiniLM)")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    words = coarsewsd_words(model=args.model)
    print(f"CoarseWSD-20: {len(words)} words, {sum(len(w.occ) for w in words)} occurrences "
          f"({time.perf_counter() - t:.1f} s)", flush=True)
    t = time.perf_counter()
    targets = dwug_targets(args.model)
    print(f"DWUG EN: {len(targets)} targets, {sum(len(w.occ) for w in targets)} usages "
          f"({time.perf_counter() - t:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
