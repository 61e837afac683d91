"""LID trajectory of domain-adaptive fine-tuning: does the paper's finding show up on this CPU?

What it does
    1. Fine-tunes the packaged all-MiniLM-L6-v2 (continued masked-LM training, a new MLM head tied to the input
       embeddings; analysis.finetune) on the bundled demo corpus (data/demo/dwug_en: 591 distinct DWUG usages of
       plane, gas and chairman from COHA, 1810-2010), saving a checkpoint every K steps. 10 % of the texts are held out
       by the run (split.json). A finished run in --out is reused (the fine-tuning is resumable and deterministic).
    2. Builds evaluation sets and draws one seeded token sample from each, which runs through every checkpoint
       (analysis.dimension: local TwoNN in each token's L = 128 nearest neighbours, exact duplicates removed) at the
       last layer and the embedding layer:
         [in: held-out]   the run's held-out demo usages (in-domain, 59 texts), --sample tokens;
         [out: small]     CoarseWSD-20 test sentences (modern Wikipedia, out-of-domain) with as many words;
         [in: other DWUG] --other-texts usages of the 25 other DWUG EN targets (same COHA corpus, never trained on:
                          a larger in-domain set), --large-sample tokens;
         [out: large]     CoarseWSD-20 sentences with as many words as those.
       Sets are matched by word count because LID depends on how many sampled tokens share a context.
    3. Prints, per checkpoint, the training and held-out masked-LM loss and the mean LID of every set with its change
       from checkpoint-0; then a noise check: the first and last checkpoint on fresh token samples (other seeds).
       Everything goes to <out>/lid_trajectory.json.

Ruppik et al. (2025) report that fine-tuning lowers the mean LID on in-domain data and leaves out-of-domain data
mostly unchanged.

Usage
    .venv/bin/python bench/lid_trajectory.py [--steps 300] [--save-every 50] [--batch-size 16] [--max-length 64]
        [--sample 2000] [--neighbors 128] [--other-texts 600]
        [--large-sample 5000] [--check-seeds 1,2,3] [--threads N] [--out out/bench_lid]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.cli.dimension import load_texts  # noqa: E402
from analysis.corpus import load_corpus  # noqa: E402
from analysis.dimension import dimension_across_checkpoints, find_checkpoints  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "dwug_en"
COARSE = ROOT.parent / "shared" / "datasets" / "coarsewsd20" / "CoarseWSD-20"
DWUG_FALLBACK = ROOT.parent / "shared" / "datasets" / "semchange_en" / "dwug_en_v3"
RECORD_COLUMNS = ("checkpoint", "step", "layer", "mean", "median", "std", "global", "n_tokens", "n_duplicates",
                  "train_loss", "eval_loss")


def demo_texts() -> tuple[list[str], str]:
    """The distinct texts of the bundled demo corpus (or the full DWUG EN where it is absent) and where they are."""
    source = DEMO if DEMO.exists() else DWUG_FALLBACK
    return load_texts(str(source)), str(source)


def ood_texts(n_words: int, seed: int, n_sentences: int = 0) -> list[str]:
    """CoarseWSD-20 test sentences (all 20 words pooled) in a seeded order: ``n_sentences`` of them, or (0) as many as
    it takes to reach ``n_words`` whitespace words, so both evaluation sets offer about as many tokens."""
    if not COARSE.exists():
        raise SystemExit(f"{COARSE} is absent: give out-of-domain text another way")
    sents = []
    for word in sorted(p for p in COARSE.iterdir() if p.is_dir()):
        for line in (word / "test.data.txt").read_text(encoding="utf-8").splitlines():
            parts = line.split("\t", 1)
            if len(parts) == 2 and parts[1].strip():
                sents.append(parts[1].strip())
    sents = list(dict.fromkeys(sents))
    order = np.random.default_rng(seed).permutation(len(sents))
    out, words = [], 0
    for i in order:
        if (n_sentences and len(out) >= n_sentences) or (not n_sentences and words >= n_words):
            break
        out.append(sents[i])
        words += len(sents[i].split())
    return out


def other_dwug_texts(n: int, seed: int, exclude: list[str]) -> list[str]:
    """n usages (seeded) of the DWUG EN targets that are not in the demo corpus: same corpus (COHA), unseen in training."""
    data = DWUG_FALLBACK / "data"
    if not data.exists():
        raise SystemExit(f"{data} is absent: run with --other-texts 0")
    skip = set(exclude)
    docs = load_corpus(DWUG_FALLBACK)
    demo = {"plane_nn", "gas_nn", "chairman_nn"}
    pool = [t for t, tg in zip(docs["text"].astype(str), docs["target"].astype(str)) if tg not in demo and t not in skip]
    pool = list(dict.fromkeys(pool))
    pick = np.sort(np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False))
    return [pool[i] for i in pick]


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--neighbors", type=int, default=128)
    ap.add_argument("--layers", default="0,-1", help="a layer spec (analysis.layers), e.g. 0,-1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-seeds", default="1,2,3",
                    help="token-sample seeds for a noise check: first vs last checkpoint, last layer ('' = none)")
    ap.add_argument("--check-sample", type=int, default=1000,
                    help="tokens per noise-check sample of the small sets (the large sets use --large-sample)")
    ap.add_argument("--other-texts", type=int, default=600,
                    help="usages of the other DWUG EN targets as a larger in-domain set (0 = skip; needs ../shared)")
    ap.add_argument("--large-sample", type=int, default=5000, help="tokens sampled from the larger sets")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_lid"))
    return ap.parse_args()


def _finetune(args, texts: list[str], run_dir: Path):
    """Step 1: the fine-tuning run (reused when finished); returns its result and how long this call took."""
    from analysis.finetune import finetune

    t0 = time.perf_counter()
    res = finetune(texts, run_dir, steps=args.steps, save_every=args.save_every, seed=args.seed,
                   batch_size=args.batch_size, max_length=args.max_length, lr=args.lr, device=args.device,
                   on_progress=_printer())
    t_ft = time.perf_counter() - t0
    for msg in res.messages:
        print(f"note: {msg}")
    print(f"fine-tuning: {res.status} at step {res.step}/{res.total_steps} on {res.device} in {t_ft:.0f} s "
          f"({res.steps_per_second or float('nan'):.2f} steps/s this call; {res.n_train_texts} training / "
          f"{res.n_eval_texts} held-out texts)")
    return res, t_ft


def _words(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)


def _eval_sets(args, texts: list[str], run_dir: Path) -> list[tuple[str, str, list[str], int]]:
    """Step 2's evaluation sets: (short name, description, texts, tokens to sample), matched by word count."""
    from analysis.finetune import prepare_texts

    split = json.loads((run_dir / "split.json").read_text())
    prepared, _ = prepare_texts(texts)
    heldout = [prepared[i] for i in split["heldout"]]
    sets = [("in: held-out", "in-domain: the run's held-out demo usages", heldout, args.sample),
            ("out: small", "out-of-domain: CoarseWSD-20 sentences, as many words",
             ood_texts(_words(heldout), args.seed), args.sample)]
    if args.other_texts:
        other = other_dwug_texts(args.other_texts, args.seed, exclude=texts)
        sets += [("in: other DWUG", "in-domain: usages of the 25 other DWUG EN targets (same COHA corpus, not "
                                    "trained on)", other, args.large_sample),
                 ("out: large", "out-of-domain: CoarseWSD-20 sentences, as many words as those",
                  ood_texts(_words(other), args.seed + 1), args.large_sample)]
    return sets


def _lid_runs(args, sets, cks) -> tuple[dict, dict, dict]:
    """Step 2: each set's token sample through every checkpoint; (runs, seconds, set descriptions) by set."""
    results, timings, info = {}, {}, {}
    for short, name, eval_texts, n_sample in sets:
        t0 = time.perf_counter()
        run = dimension_across_checkpoints(cks, eval_texts, layers=args.layers, n_sample=n_sample,
                                           n_neighbors=args.neighbors, seed=args.seed)
        timings[short] = time.perf_counter() - t0
        results[short] = run
        n_layers = run.records["layer"].nunique()
        info[short] = {"description": name, "texts": len(eval_texts), "words": _words(eval_texts),
                       "tokens_sampled": len(run.sample.tokens), "candidates": run.sample.n_candidates}
        print(f"[{short}] {name}: {len(eval_texts)} texts, {_words(eval_texts)} words, {len(run.sample.tokens)} "
              f"tokens sampled of {run.sample.n_candidates} ({timings[short]:.0f} s for {len(cks)} checkpoints x "
              f"{n_layers} layers)", flush=True)
    return results, timings, info


def _print_trajectories(results: dict) -> pd.DataFrame:
    """Step 3: per layer, the losses and each set's mean LID (change from checkpoint-0) by step; the long table."""
    df = pd.DataFrame([{"set": short, **{k: r[k] for k in RECORD_COLUMNS}}
                       for short, run in results.items() for r in run.to_records()])
    for layer in sorted(df.layer.unique(), reverse=True):
        print(f"\n== layer {layer}: mean LID (Δ from checkpoint-0) ==")
        wide = []
        for step in sorted(df.step.unique()):
            d = df[(df.step == step) & (df.layer == layer)]
            row = {"step": int(step), "train loss": d.train_loss.iloc[0], "held-out loss": d.eval_loss.iloc[0]}
            for short in results:
                row[short] = d[d.set == short]["mean"].iloc[0]
            wide.append(row)
        wide = pd.DataFrame(wide)
        for short in results:
            wide[short] = [f"{v:.2f} ({v - wide[short].iloc[0]:+.2f})" for v in wide[short]]
        print(wide.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return df


def _noise_check(args, sets, cks) -> list[dict]:
    """Step 3's noise check: the first and last checkpoint at the last layer on fresh token samples (other seeds)."""
    checks = []
    seeds = [int(x) for x in args.check_seeds.split(",") if x.strip()]
    if not seeds:
        return checks
    ends = [cks[0], cks[-1]]
    print(f"\n== noise check: fresh token samples (seeds {seeds}), last layer, {ends[0].name} vs {ends[1].name} ==")
    for short, name, eval_texts, n_sample in sets:
        small = short.endswith("small") or short.endswith("held-out")
        n_check = min(args.check_sample, n_sample) if small else n_sample
        deltas = []
        for seed in seeds:
            run = dimension_across_checkpoints(ends, eval_texts, layers=[-1], n_sample=n_check,
                                               n_neighbors=args.neighbors, seed=seed)
            m = run.records["mean"].tolist()
            deltas.append(m[1] - m[0])
            checks.append({"set": short, "seed": seed, "tokens": n_check, "first": m[0], "last": m[1],
                           "delta": m[1] - m[0]})
            print(f"  [{short}] {n_check} tokens, seed {seed}: {m[0]:.2f} -> {m[1]:.2f} (Δ {m[1] - m[0]:+.2f})",
                  flush=True)
        sd = np.std(deltas, ddof=1) if len(deltas) > 1 else 0.0
        print(f"  [{short}] Δ over seeds: {np.mean(deltas):+.2f} ± {sd:.2f} (sd)")
    return checks


def main() -> int:
    args = _parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    run_dir = out / "run"
    texts, source = demo_texts()
    print(f"corpus: {source}: {len(texts)} distinct texts")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}")
    res, t_ft = _finetune(args, texts, run_dir)
    sets = _eval_sets(args, texts, run_dir)
    cks = find_checkpoints(run_dir)
    results, timings, info = _lid_runs(args, sets, cks)
    df = _print_trajectories(results)
    checks = _noise_check(args, sets, cks)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"checks": checks, "args": vars(args), "corpus": source, "n_texts": len(texts), "sets": info,
               "finetune_seconds": t_ft, "lid_seconds": timings, "device": res.device,
               "records": df.to_dict(orient="records")}
    (out / "lid_trajectory.json").write_text(json.dumps(payload, indent=1, default=float))
    print(f"\nwrote {out / 'lid_trajectory.json'}")
    return 0


def _printer():
    """Prints the run's progress at most every 30 s (and when it ends)."""
    from analysis.cli.finetune import progress_line

    last = [0.0]

    def show(p: dict) -> None:
        now = time.monotonic()
        if p["status"] == "running" and now - last[0] < 30:
            return
        last[0] = now
        print("  " + progress_line(p), flush=True)

    return show


if __name__ == "__main__":
    sys.exit(main())
