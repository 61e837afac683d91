"""Seconds per guided-tour step once warm (issue 15's target: at most 5 s a step on the bundled demo).

What it does
    Opens views/tour.py in Streamlit's AppTest with a fresh cache folder, walks every step once to warm it (the first
    visit embeds the demo as a background job, fits the PCA, runs the WEAT test, estimates the LIDs), then walks them
    again --rounds times and prints, per step, the median seconds of (a) opening the step and (b) moving its "try it
    yourself" control, each until the page has settled (tests/jobwait.settle: no background job left). AppTest runs
    the page script in this process, so the times are the script's own, without the browser's drawing.

Usage
    .venv/bin/python bench/tour_steps.py [--rounds 3] [--json out/bench_tour.json]

Run it alone: on a 2-core machine anything else running beside it shows up in the times (the load average is
printed with them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.jobwait import open_settled, settle  # noqa: E402
from tests.test_tour_page import TRY_IT, _widget  # noqa: E402


def _timed(fn):
    t = time.perf_counter()
    at = fn()
    return at, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["SENSESCOPE_CACHE"] = tempfile.mkdtemp(prefix="tour_bench_")
    from ui.tour import STEPS

    t0 = time.perf_counter()
    at = open_settled("views/tour.py", timeout=900)
    times = {step: {"open": [], "try": []} for step, _, _ in STEPS}
    for rnd in range(args.rounds + 1):  # round 0 warms every step and its control
        for step, _, _ in STEPS:
            at, t_open = _timed(lambda: settle(at.radio(key="tour_step").set_value(step)))
            kind, key, value = TRY_IT[step]
            w = _widget(at, kind, key)
            default = w.value
            at, t_try = _timed(lambda: settle(w.select_index(3) if value is None else w.set_value(value)))
            # and back to the control's first value (timed too), so that every round makes the same two changes
            at, t_back = _timed(lambda: settle(_widget(at, kind, key).set_value(default)))
            if at.exception or at.error:
                print(f"step {step}: the page shows a problem: {at.exception or [e.value for e in at.error]}")
                return 1
            if rnd:
                times[step]["open"].append(t_open)
                times[step]["try"] += [t_try, t_back]
        if rnd == 0:
            print(f"warm-up (embedding, PCA, WEAT, LID; every step once): {time.perf_counter() - t0:.1f} s")
    load = os.getloadavg()
    print(f"per step, median of {args.rounds} warm rounds (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"{os.cpu_count()} CPUs):")
    rows = []
    for step, title, _ in STEPS:
        o, t = statistics.median(times[step]["open"]), statistics.median(times[step]["try"])
        rows.append({"step": step, "title": title, "open_s": round(o, 3), "try_s": round(t, 3)})
        print(f"  {step:<11} open {o:5.2f} s   try it {t:5.2f} s   {'ok' if max(o, t) <= 5 else 'OVER 5 s'}")
    worst = max(max(r["open_s"], r["try_s"]) for r in rows)
    print(f"slowest warm step: {worst:.2f} s (target: at most 5 s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rounds": args.rounds, "load": load, "steps": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
