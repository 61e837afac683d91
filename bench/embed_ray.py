"""Benchmark of ``embed --engine ray`` (issue 12): occurrences/s of the single-process path and of a Ray Data job
with 1 and 2 workers, on the same occurrences in one run, and the scaling efficiency.

Each run gets a fresh cache folder (no cache hits) and goes through :func:`analysis.store.get_or_compute`, so its
time covers what a user waits for: model load (in the driver, or in every actor), encoding, chunk files and the
finished entry. The local Ray cluster is started once, before the timed runs (its start is printed apart). The
vectors of every run are checked against the single-process ones (lowest cosine printed).

Per-worker rate = the 1-worker rate; efficiency(N) = rate(N) / (N x rate(1)). A node with G GPUs runs G workers;
its rate is about G x the per-worker rate of one GPU x the efficiency.

Usage:  .venv/bin/python bench/embed_ray.py [--n 1200] [--model M] [--chunk-size 150] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

import cv_data  # noqa: E402  (bench/ is the script's folder, first on sys.path)
from analysis import store  # noqa: E402


def timed_run(occ, model, chunk_size: int, batch_size: int, engine=None) -> tuple[float, np.ndarray, str]:
    """Seconds of one uncached get_or_compute, its vectors (float32) and its key."""
    with tempfile.TemporaryDirectory(prefix="embed_ray_bench_") as cache:
        os.environ["SENSESCOPE_CACHE"] = cache
        t0 = time.perf_counter()
        es = store.get_or_compute(occ, model, chunk_size=chunk_size, batch_size=batch_size, engine=engine)
        seconds = time.perf_counter() - t0
        assert not es.cache_hit
        return seconds, np.asarray(es.vectors, dtype=np.float32), es.key


def lowest_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-30)).min())


def start_cluster(num_cpus: int) -> float:
    import ray

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             logging_level="warning")
    return time.perf_counter() - t0


def run(args) -> dict:
    from analysis.ray_engine import RayEngine, require_ray

    require_ray()
    import ray
    import torch

    occ = cv_data.dwug_usages(args.n)
    workers = [int(w) for w in args.workers.split(",")]
    print(f"{len(occ)} DWUG EN occurrences, model {args.model or 'packaged all-MiniLM-L6-v2'}, chunk {args.chunk_size}"
          f", batch {args.batch_size}; {os.cpu_count()} CPUs, torch threads in this process {torch.get_num_threads()}"
          f" (Ray actors: 1 each)")
    rows, reference, key = [], None, None
    for label, threads in (("local (1 process)", torch.get_num_threads()), ("local, 1 torch thread", 1)):
        seconds, reference, key = local_run(occ, args, threads)
        rows.append({"engine": label, "workers": 1, "seconds": seconds, "occ_per_s": len(occ) / seconds})
        print(f"  {label}: {seconds:.1f} s, {len(occ) / seconds:.0f} occ/s")
    startup = start_cluster(max(workers))
    print(f"  local Ray cluster ({max(workers)} CPU slots) started in {startup:.1f} s (not in the times below)")
    try:
        for n in workers:
            seconds, vectors, ray_key = timed_run(occ, args.model, args.chunk_size, args.batch_size,
                                                  engine=RayEngine(workers=n))
            assert ray_key == key, "the Ray entry has another cache key"
            cos = lowest_cosine(reference, vectors)
            rows.append({"engine": "ray", "workers": n, "seconds": seconds, "occ_per_s": len(occ) / seconds,
                         "lowest_cosine": cos})
            print(f"  ray, {n} worker{'s' if n != 1 else ''}: {seconds:.1f} s, {len(occ) / seconds:.0f} occ/s, "
                  f"lowest cosine vs local {cos:.7f}")
    finally:
        ray.shutdown()
    seconds = local_run(occ, args, torch.get_num_threads())[0]  # again, after: the machine's load drifts
    rows.append({"engine": "local (1 process), after", "workers": 1, "seconds": seconds,
                 "occ_per_s": len(occ) / seconds})
    print(f"  local again: {seconds:.1f} s, {len(occ) / seconds:.0f} occ/s")
    return summarize(rows, len(occ), startup)


def local_run(occ, args, threads: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return timed_run(occ, args.model, args.chunk_size, args.batch_size)
    finally:
        torch.set_num_threads(before)


def summarize(rows: list[dict], n: int, startup: float) -> dict:
    per_worker = next((r["occ_per_s"] for r in rows if r["engine"] == "ray" and r["workers"] == 1), None)
    for r in rows:
        if r["engine"] == "ray" and per_worker:
            r["efficiency"] = r["occ_per_s"] / (r["workers"] * per_worker)
    local_rows = [r["occ_per_s"] for r in rows if r["engine"].startswith("local (1 process)")]
    local = sum(local_rows) / len(local_rows)  # the mean of the runs before and after the Ray runs
    print("\n| engine | workers | seconds | occurrences/s | vs local (mean of before/after) | scaling efficiency |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        eff = f"{r['efficiency']:.2f}" if "efficiency" in r else "–"
        print(f"| {r['engine']} | {r['workers']} | {r['seconds']:.1f} | {r['occ_per_s']:.0f} | "
              f"{r['occ_per_s'] / local:.2f}x | {eff} |")
    if per_worker:
        best = max((r for r in rows if "efficiency" in r), key=lambda r: r["workers"])
        print(f"\nper-worker rate {per_worker:.0f} occ/s; with the {best['workers']}-worker efficiency "
              f"{best['efficiency']:.2f}, 4 workers would give ~{4 * per_worker * best['efficiency']:.0f} occ/s "
              f"(at their own per-worker rate, e.g. one GPU each)")
    return {"occurrences": n, "ray_startup_s": startup, "runs": rows, "per_worker_occ_per_s": per_worker,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "load": os.getloadavg()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1200, help="occurrences (DWUG EN usages)")
    p.add_argument("--model", help="model (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=int, default=150, help="occurrences per store chunk = per Ray task")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts to run")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args()
    result = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
