"""Long work as jobs that finish: computations run in a worker thread, their state lives outside the script run.

Why: a Streamlit script run is interrupted by every widget change and repeated on every interaction, and on a busy
2-core machine UMAP, a clustering sweep or a ranking can take minutes. A job is started once per key (a string that
names everything its result depends on), runs to the end in a worker thread whatever the page does meanwhile, and
keeps its progress, elapsed time, result or error in a registry shared by the server process
(``st.cache_resource``). The page draws the job's state; a small fragment polls it and reruns the page once when
the job has finished, so the result appears without the user doing anything.

The work function must not call Streamlit (worker threads have no script context). It receives a ``report``
callback first: ``report(fraction, message)`` with fraction in [0, 1] or None.

Jobs run one at a time per pool (:data:`MAX_WORKERS`): on two cores, two numeric jobs side by side only slow both
down, and numba's JIT (UMAP) is not re-entrant. Others wait in order and say so.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

MAX_WORKERS = 1
MAX_FINISHED = 64  # finished jobs kept (results are plain arrays and tables; the oldest go first)

ReportFn = Callable[[float | None, str], None]


@dataclass
class Job:
    """State of one job. Written by the worker thread under the registry's lock, read by pages."""

    key: str
    label: str
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    fraction: float | None = None
    message: str = ""
    result: Any = None
    error: BaseException | None = None
    error_text: str = ""

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def queued(self) -> bool:
        return self.started is None and not self.done

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def status_line(self) -> str:
        if self.queued:
            return f"{self.label}: waiting for another computation to finish…"
        pct = f" {self.fraction * 100:.0f} %" if self.fraction is not None else ""
        msg = f" — {self.message}" if self.message else ""
        return f"{self.label}…{pct}{msg} ({self.elapsed:.0f} s)"


class JobRegistry:
    """Jobs by key, shared by every session of the server process."""

    def __init__(self, max_workers: int = MAX_WORKERS):
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sensescope-job")

    def get(self, key: str) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def submit(self, key: str, fn: Callable[..., Any], *args, label: str = "Computing", **kwargs) -> Job:
        """Start ``fn(report, *args, **kwargs)`` unless a job with ``key`` exists (running, finished or failed).

        A failed job stays until :func:`run` has shown its error once (and forgets it): replacing it here would
        restart it on every rerun and never show the error.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            job = Job(key=key, label=label)
            self._jobs[key] = job
            self._jobs.move_to_end(key)
        self._pool.submit(self._run, job, fn, args, kwargs)
        return job

    def forget(self, key: str) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def _run(self, job: Job, fn, args, kwargs) -> None:
        def report(fraction: float | None, message: str = "") -> None:
            with self._lock:
                job.fraction = None if fraction is None else min(1.0, max(0.0, float(fraction)))
                job.message = str(message)

        with self._lock:
            job.started = time.time()
        try:
            result = fn(report, *args, **kwargs)
        except BaseException as exc:  # delivered to the page, which shows it
            with self._lock:
                job.error, job.error_text = exc, "".join(traceback.format_exception(exc))
                job.finished = time.time()
            return
        with self._lock:
            job.result, job.fraction, job.finished = result, 1.0, time.time()
            self._trim()

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.done]
        for k in finished[: max(0, len(finished) - MAX_FINISHED)]:
            self._jobs.pop(k, None)


@st.cache_resource
def registry() -> JobRegistry:
    """The server's job registry (one per process)."""
    return JobRegistry()


def run(key: str, fn: Callable[..., Any], *args, label: str = "Computing", poll: float = 1.0, **kwargs):
    """The result of job ``key``, starting it if needed; None (with a live status line) while it runs.

    A failed job raises its error here once, so the page shows it the way it shows errors of direct calls; the job is
    then forgotten, so the next call with the same key (a retry) starts it again instead of failing forever or
    restarting in a loop. While the job runs, a fragment redraws its status every ``poll``
    seconds and reruns the whole page once it has finished.
    """
    job = registry().submit(key, fn, *args, label=label, **kwargs)
    if job.done:
        if job.failed:
            registry().forget(key)
            raise job.error
        return job.result
    _status(key, poll)
    return None


def _status(key: str, poll: float) -> None:
    @st.fragment(run_every=poll)
    def _poll():
        job = registry().get(key)
        if job is None or job.done:
            st.rerun(scope="app")
        st.progress(job.fraction or 0.0, text=job.status_line())

    _poll()
