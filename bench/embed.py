"""Benchmark of the encoding path (issue 2).

Prints, on >= 2,000 real occurrences (DWUG EN usages from ../shared/datasets/semchange_en):
  (a) occurrences/s of a naive loop: one text at a time, the whole context, all layers, pooling by hand;
  (b) occurrences/s of the project's path (analysis.encoder.embed_spans: length-sorted token-budget batches, shared
      windows, pooling on the device), and the ratio b/a;
  the model FLOP rate of (b) as a share of this CPU's fp32 matmul peak measured in the same run;
  the time to open 10,000 cached occurrences (checksum verified) and read one layer as float32.

Usage:  .venv/bin/python bench/embed.py [--n 2000] [--model M] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from analysis import encoder, store  # noqa: E402
import cv_data  # noqa: E402  (bench/ is the script's folder, first on sys.path)
from analysis.corpus import texts_and_spans  # noqa: E402



def coarsewsd_occurrences(n: int) -> pd.DataFrame:
    """Short single sentences (CoarseWSD-20 test sets), where per-call overhead weighs most in the naive loop."""
    from analysis.datasets import coarsewsd20_words, load_coarsewsd20_word

    root = ROOT.parent / "shared" / "datasets" / "coarsewsd20" / "CoarseWSD-20"
    if not root.exists():
        sys.exit(f"{root} is absent")
    frames = [load_coarsewsd20_word(root / w, splits=("test",)) for w in coarsewsd20_words(root)]
    occ = pd.concat(frames, ignore_index=True).sample(n=n, random_state=0).reset_index(drop=True)
    occ["occurrence_id"] = np.arange(len(occ))
    return occ


def matmul_peak(threads: int, size: int = 1024, reps: int = 20) -> float:
    """Best fp32 GFLOP/s of torch.mm over a few trials."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        dt = time.perf_counter() - t
        best = max(best, 2 * size ** 3 * reps / dt / 1e9)
    return best


def flops_per_token(lm, seq_len: float, n_layers_run: int) -> float:
    """Forward FLOPs per token of a BERT-style encoder: dense projections + attention scores and mixing."""
    cfg = lm.model.config
    d = cfg.hidden_size
    ff = getattr(cfg, "intermediate_size", 4 * d)
    per_layer = 2 * (4 * d * d + 2 * d * ff) + 2 * 2 * seq_len * d
    return per_layer * n_layers_run


def naive(lm, occ: pd.DataFrame) -> np.ndarray:
    out = np.zeros((len(occ), lm.n_layers, lm.dim), dtype=np.float32)
    with torch.inference_mode():
        for i, (text, s, e) in enumerate(zip(occ["text"], occ["start"], occ["end"])):
            enc = lm.tokenizer(text, return_offsets_mapping=True, return_tensors="pt", truncation=True,
                               max_length=lm.max_length)
            offs = enc.pop("offset_mapping")[0].tolist()
            hs = lm.model(**enc, output_hidden_states=True).hidden_states
            idx = [j for j, (a, b) in enumerate(offs) if a < e and b > s and b > a]
            out[i] = torch.stack([h[0, idx].mean(0) for h in hs]).numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=8192)
    ap.add_argument("--data", choices=["dwug", "coarsewsd"], default="dwug",
                    help="dwug: DWUG EN usages (1-3 sentences); coarsewsd: CoarseWSD-20 single sentences")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    occ = cv_data.dwug_usages(args.n) if args.data == "dwug" else coarsewsd_occurrences(args.n)
    lm = encoder.load_model(args.model, device="cpu")
    texts, spans = texts_and_spans(occ)
    n_tok = [len(ids) + lm.n_special for ids, _ in encoder._tokenize_texts(lm, texts)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {args.threads} threads; model {lm.name}; data {args.data}: {len(occ)} occurrences in {len(texts)} texts, "
          f"mean {np.mean(n_tok):.1f} tokens/text")

    peak_before = matmul_peak(args.threads)
    naive(lm, occ.iloc[:20])  # warm-up
    t = time.perf_counter()
    ref = naive(lm, occ)
    t_naive = time.perf_counter() - t

    encoder.embed_spans(lm, texts, spans[:64])  # warm-up
    t = time.perf_counter()
    vecs = encoder.embed_spans(lm, texts, spans, batch_size=args.batch_size, max_tokens=args.max_tokens)
    t_fast = time.perf_counter() - t
    peak_after = matmul_peak(args.threads)
    peak = max(peak_before, peak_after)

    cos = (ref * vecs).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(vecs, axis=-1)
    windows = encoder.plan_windows(lm, texts, spans)
    tokens = sum(len(w.ids) for w in windows)
    mean_len = tokens / len(windows)
    flops = tokens * flops_per_token(lm, mean_len, lm.n_layers - 1)
    rate_a, rate_b = len(occ) / t_naive, len(occ) / t_fast
    print(f"(a) naive loop          : {rate_a:8.1f} occurrences/s ({t_naive:.1f} s)")
    print(f"(b) project path        : {rate_b:8.1f} occurrences/s ({t_fast:.1f} s), {tokens / t_fast:.0f} tokens/s")
    print(f"ratio b/a               : {rate_b / rate_a:8.2f}   (target >= 4)")
    print(f"agreement a vs b        : min cosine {cos.min():.7f}")
    print(f"fp32 matmul peak        : {peak:8.1f} GFLOP/s (before {peak_before:.1f}, after {peak_after:.1f})")
    print(f"model FLOP rate of (b)  : {flops / t_fast / 1e9:8.1f} GFLOP/s = {100 * flops / t_fast / 1e9 / peak:.0f}% "
          f"of peak   (target >= 60%; {flops_per_token(lm, mean_len, lm.n_layers - 1) / 1e6:.1f} MFLOP/token)")

    # loading 10,000 cached occurrences
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SENSESCOPE_CACHE"] = tmp
        reps = -(-10_000 // len(occ))
        big_occ = pd.concat([occ] * reps, ignore_index=True).iloc[:10_000]
        big_vec = np.concatenate([vecs] * reps)[:10_000]
        store.write_entry("bench10k", big_vec, big_occ, {"model": lm.name, "layers": list(range(lm.n_layers))})
        times = []
        for _ in range(5):
            t = time.perf_counter()
            es = store.open_entry("bench10k")
            layer = es.layer(-1)
            times.append(time.perf_counter() - t)
        print(f"open 10,000 cached occurrences + read a layer: median {np.median(times):.3f} s "
              f"(best {min(times):.3f} s; {es.vectors.nbytes / 1e6:.0f} MB float16, checksum verified; target <= 0.5 s)"
              f" shape {layer.shape}")


if __name__ == "__main__":
    main()
