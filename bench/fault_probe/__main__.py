"""Security and fault probe (issue 9): bad input, kill-resume, cache corruption, concurrency, web safety, long inputs.

Runs small cases against the code of this checkout and prints, per category, ``tried / right`` and the failing cases.
A case is right when the user sees what they must: a CLI case exits 2 with an ``error: ...`` line and no traceback
(argparse's own ``prog: error: ...`` line counts); a library case raises a SenseScopeError subclass or gives the
correct value; cached work is neither lost nor corrupted (a resumed or recomputed entry equals an undisturbed run).

Everything runs in a temporary folder with a private cache and a 3-layer random BERT built here (no network).

Usage:  .venv/bin/python bench/fault_probe [--out probe.json] [--only CATEGORY[,CATEGORY...]] [--jobs 2]
(run the folder; its modules import one another by name, as Python puts this folder first on sys.path)
"""

from __future__ import annotations

import argparse, json, os, sys, tempfile, time  # noqa: E401
from pathlib import Path

import common as C
from bad_input import probe_bad_input
from cache import probe_cache
from concurrency import probe_concurrency
from fixtures import build_files, build_models
from kill_resume import probe_kill_resume
from long_inputs import probe_long
from web import probe_web

CATEGORIES = "bad,kill,cache,concurrency,web,long"


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--only", help=f"comma-separated categories: {CATEGORIES}")
    ap.add_argument("--jobs", type=int, default=2, help="CLI cases run side by side (default 2)")
    return ap.parse_args()


def _run(only: set[str], jobs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fault_probe_") as tmp:
        C.W = Path(tmp)
        build_files()
        models = build_models()
        steps = [("bad", lambda: probe_bad_input(models, jobs)), ("kill", lambda: probe_kill_resume(models)),
                 ("cache", lambda: probe_cache(models)), ("concurrency", lambda: probe_concurrency(models)),
                 ("web", lambda: probe_web(models)), ("long", lambda: probe_long(models))]
        for name, step in steps:
            if name in only:
                print(f"== {name}", flush=True)
                step()


def _summary(seconds: float, load) -> None:
    print(f"\nfault probe: {seconds:.0f} s, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for cat, rows in C.RESULTS.items():
        bad = [r["case"] for r in rows if not r["right"]]
        print(f"  {cat:18s} {len(rows):3d} tried / {len(rows) - len(bad):3d} right" +
              "".join(f"\n      failing: {b}" for b in bad))


def main() -> int:
    args = _args()
    only = set((args.only or CATEGORIES).split(","))
    load = os.getloadavg()
    t0 = time.perf_counter()
    _run(only, args.jobs)
    seconds = time.perf_counter() - t0
    _summary(seconds, load)
    if args.out:
        Path(args.out).write_text(json.dumps({"seconds": round(seconds, 1), "load_start": load,
                                              "load_end": os.getloadavg(), "results": C.RESULTS}, indent=1))
    return 0 if all(r["right"] for rows in C.RESULTS.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
