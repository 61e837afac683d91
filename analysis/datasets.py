"""Loaders for evaluation datasets with known senses, returned as occurrences tables.

CoarseWSD-20 (Loureiro et al. 2021) stores one word per folder: ``classes_map.txt`` (JSON ``{"0": "<word>_<sense>"}``),
``train.data.txt`` / ``test.data.txt`` (``<target token index>\\t<tokenised, lower-cased sentence>``) and
``train.gold.txt`` / ``test.gold.txt`` (one class id per line). Target positions are token indices into the
any-whitespace split of the sentence, so the sentence is rebuilt by joining those tokens with single spaces and the
character span is computed from the tokens (splitting on single spaces would misalign the few lines that contain
double spaces).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import CorpusError

__all__ = ["load_coarsewsd20_word", "coarsewsd20_words"]


def coarsewsd20_words(root) -> list[str]:
    """Names of the word folders under a CoarseWSD-20 root (folders holding a ``classes_map.txt``)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root} is not a folder.")
    return sorted(p.name for p in root.iterdir() if (p / "classes_map.txt").is_file())


def _read_lines(path: Path) -> list[str]:
    # Most files lack a trailing newline; splitlines() counts the last line either way.
    return path.read_text(encoding="utf-8").splitlines()


def _stratified_sample(labels: list[str], size: int, seed, min_per_sense: int) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` rows: each sense keeps its share, but at least
    ``min(its count, min_per_sense)`` rows, so that rare senses (pitcher: 13 containers in 2,818) survive."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    senses, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(np.minimum(counts, min_per_sense), np.floor(size * counts / counts.sum()).astype(int))
    quota = np.minimum(quota, counts)
    while quota.sum() > size:  # trim the largest quotas first
        quota[np.argmax(quota)] -= 1
    leftover = size - quota.sum()
    while leftover > 0:  # rounding: top up senses that still have rows, largest first
        room = counts - quota
        j = int(np.argmax(room))
        if room[j] == 0:
            break
        quota[j] += 1
        leftover -= 1
    picked = [rng.choice(np.flatnonzero(labels == s), size=q, replace=False) for s, q in zip(senses, quota)]
    return np.sort(np.concatenate(picked))


def load_coarsewsd20_word(folder, *, splits=("train", "test"), max_per_split: int | None = None,
                          seed=0, min_per_sense: int = 10) -> pd.DataFrame:
    """Occurrences table of one CoarseWSD-20 word.

    Parameters
    ----------
    folder : path
        A word folder, e.g. ``.../CoarseWSD-20/apple``.
    splits : tuple of {"train", "test"}
        Which files to read.
    max_per_split : int, optional
        Keep a seeded, sense-stratified sample of at most this many sentences per split (original order kept);
        every sense keeps at least ``min(its count, min_per_sense)`` sentences.
    seed : int
        Seed of that sample.

    Returns
    -------
    DataFrame with columns occurrence_id, doc_id, text, start, end, form, target, label, split, token_index;
    ``text[start:end] == form``; ``label`` is the sense name from ``classes_map.txt`` (e.g. ``apple_apple_inc.``).
    """
    folder = Path(folder)
    cmap_path = folder / "classes_map.txt"
    if not cmap_path.is_file():
        raise CorpusError(f"{folder} is not a CoarseWSD-20 word folder (no classes_map.txt).")
    classes = json.loads(cmap_path.read_text(encoding="utf-8"))
    word = folder.name
    frames = []
    for split in splits:
        data_path, gold_path = folder / f"{split}.data.txt", folder / f"{split}.gold.txt"
        if not data_path.is_file() or not gold_path.is_file():
            raise CorpusError(f"{folder} has no {split}.data.txt / {split}.gold.txt.")
        lines, golds = _read_lines(data_path), _read_lines(gold_path)
        if len(lines) != len(golds):
            raise CorpusError(f"{data_path.name} has {len(lines)} lines but {gold_path.name} has {len(golds)}.")
        keep = np.arange(len(lines))
        if max_per_split is not None and len(lines) > max_per_split:
            keep = _stratified_sample([g.strip() for g in golds], max_per_split, seed, min_per_sense)
        rows = []
        for i in keep:
            idx_str, _, sentence = lines[i].partition("\t")
            tokens = sentence.split()
            t = int(idx_str)
            if not 0 <= t < len(tokens):
                raise CorpusError(f"{data_path.name} line {i + 1}: target index {t} is outside the sentence.")
            start = sum(len(tok) + 1 for tok in tokens[:t])
            text = " ".join(tokens)
            gid = golds[i].strip()
            if gid not in classes:
                raise CorpusError(f"{gold_path.name} line {i + 1}: class {gid!r} is not in classes_map.txt.")
            rows.append((f"{word}:{split}:{i}", text, start, start + len(tokens[t]), tokens[t], word, classes[gid],
                         split, t))
        frames.append(pd.DataFrame(rows, columns=["doc_id", "text", "start", "end", "form", "target", "label", "split",
                                                  "token_index"]))
    occ = pd.concat(frames, ignore_index=True)
    occ.insert(0, "occurrence_id", np.arange(len(occ)))
    return occ
