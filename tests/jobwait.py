"""Run an AppTest page until the background jobs it starts (ui/jobs.py) have finished and their results are drawn.

In a browser a fragment polls a running job and reruns the page when it ends; AppTest runs a script once per
``run()``, so page tests call :func:`settle` instead: run, wait for every job that the run started or that finished
during it, run again, until a run starts no job. Waiting has a generous limit (a loaded machine is slow) and fails
with the labels of the jobs still running.
"""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest


def _jobs():
    try:
        from ui import jobs
    except ImportError:  # a checkout from before background jobs (regression tests run there too)
        return []
    return list(jobs.registry()._jobs.values())


def settle(at, *, limit_s: float = 600) -> AppTest:
    """``at.run()`` repeated until no job is running or has just finished; returns the AppTest.

    ``at`` is an AppTest or a widget whose value was just set (``settle(at.radio(key="k").set_value("x"))``).
    """
    deadline = time.time() + limit_s
    while True:
        began = time.time()
        at = at.run()
        if at.exception:
            return at
        touched = [j for j in _jobs() if not j.done or (j.finished or 0) >= began]
        if not touched:
            return at
        while any(not j.done for j in _jobs()):
            if time.time() > deadline:
                raise AssertionError("jobs still running: " + ", ".join(j.status_line() for j in _jobs() if not j.done))
            time.sleep(0.1)


def open_settled(page: str, *, model: str | None = None, timeout: int = 240, **state) -> AppTest:
    """Like tests.apptest.open_page, then :func:`settle`."""
    from tests.apptest import open_page

    at = open_page(page, model=model, timeout=timeout, **state)
    settle(at)
    assert not at.exception, at.exception
    return at
