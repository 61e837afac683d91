"""What a token window centred on the target saves on research-length paragraphs, and what it costs (issue 11).

What it does
    1. Builds paragraphs of 150-300 word-piece tokens around CoarseWSD-20 sentences: each labelled test sentence of
       the words in ../shared/datasets/coarsewsd20/CoarseWSD-20 (a seeded, sense-stratified sample of --per-word
       sentences a word) is put at a random place among other CoarseWSD-20 sentences (other words', so the added
       context says nothing about the sense) until the paragraph reaches a random length of 150-300 tokens.
    2. Embeds the target occurrences with the packaged all-MiniLM-L6-v2 (all hidden states, mean pooling) with the
       whole paragraph (the model's maximum, 512 tokens) and with token windows of --windows (default 64, 128,
       256) centred on the target, side by side in one process, each timed (occurrences/s, model load excluded),
       and a naive loop (one text at a time, whole paragraph, no batching) on the first --naive occurrences.
    3. Fidelity: the cosine of each window's vector to the full-paragraph vector, per layer (mean and 5th
       percentile); and the CoarseWSD-20 nearest-centroid accuracy (analysis.senses.predict_senses, stratified
       5-fold, seed 0) at the last layer for each window against the full paragraph.
    4. Prints a Markdown block with the command, machine, load and date.

Usage
    .venv/bin/python bench/window_cost.py [--per-word 60] [--windows 64,128,256] [--naive 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "coarsewsd20" / "CoarseWSD-20"


def paragraphs(per_word: int, seed: int, tokenizer):
    """(texts, spans, labels, words, tokens per text): one paragraph per sampled test sentence."""
    from analysis.datasets import coarsewsd20_words, load_coarsewsd20_word

    rng = random.Random(seed)
    words = coarsewsd20_words(DATA)
    tables = {w: load_coarsewsd20_word(DATA / w, splits=("test",), max_per_split=per_word, seed=seed,
                                       min_per_sense=5) for w in words}
    pool = {w: load_coarsewsd20_word(DATA / w, splits=("train",), max_per_split=400, seed=seed)["text"]
            .tolist() for w in words}
    texts, spans, labels, owners, n_tokens = [], [], [], [], []
    for w, occ in tables.items():
        others = [s for o, ss in pool.items() if o != w for s in ss]
        for _, r in occ.iterrows():
            goal = rng.randint(150, 300)
            before, after = [], []
            length = len(tokenizer(r["text"], add_special_tokens=False)["input_ids"])
            while length < goal:
                s = rng.choice(others)
                (before if rng.random() < 0.5 else after).append(s)
                length += len(tokenizer(s, add_special_tokens=False)["input_ids"])
            head = " ".join(before) + (" " if before else "")
            text = head + r["text"] + ("" if not after else " " + " ".join(after))
            start = len(head) + int(r["start"])
            texts.append(text)
            spans.append((len(texts) - 1, start, start + int(r["end"]) - int(r["start"])))
            labels.append(r["label"])
            owners.append(w)
            n_tokens.append(length)
    return texts, spans, np.array(labels), np.array(owners), np.array(n_tokens)


def timed_embed(lm, texts, spans, window):
    from analysis.encoder import embed_spans

    t = time.perf_counter()
    X = embed_spans(lm, texts, spans, window=window, batch_size=64)
    return X, time.perf_counter() - t


def naive(lm, texts, spans, n):
    """One text at a time, the whole paragraph, all layers, mean over the span's subwords by hand."""
    import torch

    tok, model = lm.tokenizer, lm.model
    t = time.perf_counter()
    for ti, s, e in spans[:n]:
        enc = tok(texts[ti], return_offsets_mapping=True, truncation=True, max_length=lm.max_length,
                  return_tensors="pt")
        offs = enc.pop("offset_mapping")[0].tolist()
        with torch.inference_mode():
            hs = model(**enc, output_hidden_states=True).hidden_states
        idx = [i for i, (a, b) in enumerate(offs) if b > a and a < e and b > s]
        _ = [h[0, idx].mean(0) for h in hs]
    return time.perf_counter() - t


def cosines(A, B):
    num = (A * B).sum(-1)
    den = np.linalg.norm(A, axis=-1) * np.linalg.norm(B, axis=-1) + 1e-12
    return num / den


def accuracy(X, labels, words):
    from analysis.errors import TooFewPointsError
    from analysis.senses import predict_senses

    accs = []
    for w in np.unique(words):
        m = words == w
        try:
            accs.append(predict_senses(X[m], labels[m], seed=0, logreg=False).centroid_accuracy)
        except TooFewPointsError:  # a word whose sample holds one sense with 2+ occurrences cannot be scored
            continue
    return float(np.mean(accs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-word", type=int, default=60)
    ap.add_argument("--windows", default="64,128,256")
    ap.add_argument("--naive", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"needs {DATA} (../shared/datasets)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from analysis.encoder import load_model

    load0 = os.getloadavg()
    lm = load_model(None)
    texts, spans, labels, words, n_tok = paragraphs(args.per_word, args.seed, lm.tokenizer)
    windows = [int(w) for w in args.windows.split(",")]
    full, t_full = timed_embed(lm, texts, spans, None)
    rows = [("whole paragraph (512)", None, t_full, full)]
    for w in windows:
        X, t = timed_embed(lm, texts, spans, w)
        rows.append((f"window {w}", w, t, X))
    t_naive = naive(lm, texts, spans, args.naive)
    naive_rate = args.naive / t_naive
    n = len(spans)
    acc_full = accuracy(full[:, -1], labels, words)
    load1 = os.getloadavg()
    shown = sys.argv[1:] if argv is None else argv
    cmd = "`.venv/bin/python bench/window_cost.py" + (" " + " ".join(shown) if shown else "") + "`"
    print(f"{cmd} — {platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')} UTC; load average "
          f"before/after {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f} → {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f}")
    print(f"\n{n} occurrences of {len(np.unique(words))} CoarseWSD-20 words in paragraphs of {n_tok.min()}-"
          f"{n_tok.max()} tokens (mean {n_tok.mean():.0f}); packaged all-MiniLM-L6-v2, all 7 hidden states, mean "
          f"pooling. Naive loop (one text at a time, whole paragraph): {naive_rate:.1f} occ/s on the first "
          f"{args.naive}.\n")
    print("| input | occ/s | vs whole paragraph | vs naive loop | cosine to whole-paragraph vector, last layer "
          "(mean / 5th pct) | lowest layer mean cosine | centroid accuracy (last layer) | change |")
    print("|---|---|---|---|---|---|---|---|")
    for name, w, t, X in rows:
        rate = n / t
        c = cosines(X, full)  # (n, layers)
        acc = accuracy(X[:, -1], labels, words)
        print(f"| {name} | {rate:.1f} | {t_full / t:.2f}× | {rate / naive_rate:.2f}× | {c[:, -1].mean():.4f} / "
              f"{np.percentile(c[:, -1], 5):.4f} | {c.mean(0).min():.4f} | {acc:.3f} | {acc - acc_full:+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
