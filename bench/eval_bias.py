"""The whole bundled bias battery at the three levels with the default model: the table, and how long it takes.

For each level the bundled battery of that level (``analysis.bias.sources.bundled_names(level)``: 50 word-list tests,
50 sentence tests, 38 contextual tests) runs with a cold encoding cache (so encoding is timed), at the last layer
unless ``--all-layers``; the model is loaded once (timed separately). Wall and CPU (process) time are both printed:
on a shared machine the wall time depends on the other load (printed too), the CPU time much less. Per level it prints the tests, the distinct
inputs encoded, encoding time and statistics time, then one row per test (d, bootstrap interval, p, Holm p, number of
permutations, items). The issue's target: one level at one layer in at most 60 s on the 2-core CPU.

Run from the project root::

    .venv/bin/python bench/eval_bias.py [--levels word sentence contextual] [--all-layers] [--permutations 100000]
        [--bootstrap 2000] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import bias as B  # noqa: E402
from analysis.bias.sources import bundled_names, load_bundled  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", nargs="+", default=list(B.LEVELS), choices=list(B.LEVELS))
    ap.add_argument("--all-layers", action="store_true")
    ap.add_argument("--permutations", type=int, default=B.DEFAULT_PERMUTATIONS)
    ap.add_argument("--bootstrap", type=int, default=B.DEFAULT_BOOTSTRAP)
    ap.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's own); on a shared, loaded machine 1 is much faster")
    ap.add_argument("--out", help="write results.csv here")
    args = ap.parse_args(argv)

    import torch

    from analysis.encoder import load_model

    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t = time.perf_counter()
    lm = load_model(args.model)
    print(f"model {lm.name}: {lm.n_layers} hidden states, dim {lm.dim}, loaded in {time.perf_counter() - t:.1f} s")
    options = B.RunOptions(layers="all" if args.all_layers else None, permutations=args.permutations,
                           n_bootstrap=args.bootstrap, seed=0)
    frames, summary = [], []
    for level in args.levels:
        queries = [load_bundled(n) for n in bundled_names(level)]
        cache = B.EncodingCache()
        t0, c0 = time.perf_counter(), time.process_time()
        # Encoding alone first (what run_bias does before the tests), to time the two parts separately.
        n_items = B.encode_level(queries, lm, level, options, cache=cache)
        t_enc, c_enc = time.perf_counter() - t0, time.process_time() - c0
        results, skipped = B.run_bias(queries, [lm], options, levels=[level], cache=cache)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert not skipped, skipped
        summary.append(dict(level=level, tests=len(queries), items=n_items, distinct_inputs=cache.encoded,
                            encode_s=round(t_enc, 1), stats_s=round(total - t_enc, 1), total_s=round(total, 1),
                            cpu_encode_s=round(c_enc, 1), cpu_stats_s=round(cpu - c_enc, 1), cpu_total_s=round(cpu, 1),
                            per_layer_s=round(total / (lm.n_layers if args.all_layers else 1), 1),
                            load=round(os.getloadavg()[0], 1)))
        frames.append(B.results_frame(results))
        print(f"{level}: {len(queries)} tests, {cache.encoded} distinct inputs, encode {t_enc:.1f} s, "
              f"statistics {total - t_enc:.1f} s, total {total:.1f} s (CPU {cpu:.1f} s; load {os.getloadavg()[0]:.1f})",
              flush=True)
    frame = pd.concat(frames, ignore_index=True)
    pd.set_option("display.width", 200)
    view = frame[["test", "level", "layer", "effect_size", "ci_low", "ci_high", "p_value", "p_holm",
                  "n_permutations", "n_x", "n_a", "n_missing"]]
    view = B.format_table(view, digits=2)
    print(view.to_string(index=False))
    print()
    print(pd.DataFrame(summary).to_string(index=False))
    last = frame[frame["layer"] == frame["layer"].max()]
    for level, sub in last.groupby("level", sort=False):
        d = sub["effect_size"].astype(float)
        print(f"{level}: mean |d| = {np.nanmean(np.abs(d)):.3f}, d > 0 in {int((d > 0).sum())}/{d.notna().sum()}, "
              f"p < 0.05 in {int((sub['p_value'] < 0.05).sum())}, Holm p < 0.05 in {int((sub['p_holm'] < 0.05).sum())}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        from analysis.export import table_csv

        (Path(args.out) / "results.csv").write_bytes(table_csv(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
