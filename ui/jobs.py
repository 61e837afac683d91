"""Long work as jobs that finish: computations run in a worker thread, their state lives outside the script run.

Why: a Streamlit script run is interrupted by every widget change and repeated on every interaction, and on a busy
2-core machine UMAP, a clustering sweep or a ranking can take minutes. A job is started once per key (a string that
names everything its result depends on), runs to the end in a worker thread whatever the page does meanwhile, and
keeps its progress, elapsed time, result or error in a registry shared by the server process
(``st.cache_resource``). The page draws the job's state; a fragment follows it and reruns the page once when the job
has finished, so the result appears without the user doing anything.

Why the fragment waits inside one run instead of rerunning every second: Streamlit deletes, at the end of every script
run (fragment runs included), the files that download buttons generated since the previous run. A fragment rerun
every second therefore removed a clicked download's file before the browser fetched it (``/media/<id>.csv`` -> 404,
issue 9). Here the fragment's first timer tick starts one fragment run that redraws the progress line until the job
ends and then reruns the page once: no script run ends while the job runs, so every download keeps working. A widget
change still interrupts that run at once (Streamlit preempts it at the next redraw); the page then starts following
the job again.

The work function must not call Streamlit (worker threads have no script context). It receives a ``report``
callback first: ``report(fraction, message)`` with fraction in [0, 1] or None.

Jobs run one at a time per pool (:data:`MAX_WORKERS`): on two cores, two numeric jobs side by side only slow both
down, and numba's JIT (UMAP) is not re-entrant. Others wait in order and say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

MAX_WORKERS = 1
#: Tests only: while the file this variable names exists, a job waits before it starts (deterministically pending).
HOLD_ENV = "SENSESCOPE_JOB_HOLD"
MAX_FINISHED = 64  # finished jobs kept (results are plain arrays and tables; the oldest go first)
#: A queued job that no page has asked for during this many seconds is dropped when its turn comes, not run: moving
#: a slider through ten values must not queue ten UMAP fits ahead of the one the page now waits for.
STALE_S = 120.0

ReportFn = Callable[[float | None, str], None]


@dataclass
class Job:
    """State of one job. Written by the worker thread under the registry's lock, read by pages."""

    key: str
    label: str
    submitted: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)  # when a page last asked for it
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
            job = self._jobs.get(key)
            if job is not None:
                job.seen = time.time()
            return job

    def submit(self, key: str, fn: Callable[..., Any], *args, label: str = "Computing", **kwargs) -> Job:
        """Start ``fn(report, *args, **kwargs)`` unless a job with ``key`` exists (running, finished or failed).

        A failed job stays until :func:`run` has shown its error once (and forgets it): replacing it here would
        restart it on every rerun and never show the error.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                job.seen = time.time()
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
            if time.time() - job.seen > STALE_S:  # nobody waits for it any more (see STALE_S)
                if self._jobs.get(job.key) is job:
                    self._jobs.pop(job.key)
                return
            job.started = time.time()
        try:
            _hold(report)
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


def _hold(report: ReportFn) -> None:
    """Wait while the file named by $SENSESCOPE_JOB_HOLD exists (a test's way to keep a job pending)."""
    path = os.environ.get(HOLD_ENV)
    while path and os.path.exists(path):
        report(None, f"held by {HOLD_ENV}")
        time.sleep(0.2)


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


def _in_fragment_rerun() -> bool:
    """True in a run of fragments alone (a timer tick), False in a full run of the page (fragments drawn inline)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def _status(key: str, poll: float) -> None:
    @st.fragment(run_every=poll)
    def _follow():
        line = st.empty()
        while True:
            job = registry().get(key)
            if job is None or job.done:
                st.rerun(scope="app")
            line.progress(job.fraction or 0.0, text=job.status_line())
            if not _in_fragment_rerun():
                return  # drawn inside the page's run; the first timer tick follows the job from here on
            time.sleep(poll)  # one long fragment run: see the module docstring

    _follow()


class _Failed:
    """A work function's user error, carried back as its result and raised again on the page (see :func:`checked`)."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _capturing(fn: Callable[..., Any]) -> Callable[..., Any]:
    from analysis.errors import SenseScopeError

    def work(report, *args, **kwargs):
        try:
            return fn(report, *args, **kwargs)
        except SenseScopeError as exc:  # deterministic for these inputs: shown every time, never restarted in a loop
            return _Failed(exc)

    work.__name__ = getattr(fn, "__name__", "work")
    return work


def checked(key: str, fn: Callable[..., Any], *args, label: str = "Computing", poll: float = 1.0, **kwargs):
    """Like :func:`run`, but a SenseScopeError of the work is kept as the job's outcome and raised on every call.

    A user error (too few points, a model that cannot load) depends only on the inputs, which the key names: showing
    it again on every rerun is right, starting the job again is not. Other errors go through :func:`run` (shown once,
    then retried).
    """
    result = run(key, _capturing(fn), *args, label=label, poll=poll, **kwargs)
    if isinstance(result, _Failed):
        raise result.exc
    return result


def _feed(h, part) -> None:
    import numpy as np
    import pandas as pd

    if isinstance(part, np.ndarray):
        arr = np.ascontiguousarray(part)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
    elif isinstance(part, pd.DataFrame):
        h.update(repr(list(part.columns)).encode())
        h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    elif isinstance(part, (list, tuple)):
        h.update(b"(")
        for p in part:
            _feed(h, p)
        h.update(b")")
    elif isinstance(part, dict):
        _feed(h, sorted(((str(k), v) for k, v in part.items()), key=lambda kv: kv[0]))
    else:
        h.update(json.dumps(part, default=repr).encode() if isinstance(part, (str, int, float, bool, type(None)))
                 else repr(part).encode())
    h.update(b"|")


def key_of(name: str, *parts) -> str:
    """A job key naming everything a result depends on: ``name`` and a digest of ``parts`` (arrays by content)."""
    h = hashlib.sha1()
    for part in parts:
        _feed(h, part)
    return f"{name}:{h.hexdigest()}"


def requested(request_slot: str, result_slot: str, fn: Callable[..., Any], *, label: Callable[[list], str],
              idle: str, prepare: Callable[[list], list] | None = None):
    """The result of the request a button left in ``st.session_state[request_slot]``: ``(run_key, job_key, *args)``.

    The request runs as job ``job_key`` (``fn(report, *args)``; ``prepare(args)`` first when the job is not started
    yet, e.g. to load Streamlit-cached models in the script thread); once it has finished, ``(run_key, result)`` is
    kept in ``st.session_state[result_slot]`` and returned, also on later runs of the page. While the job runs the
    page stops under its status line (it reruns when the job is done); with no result yet it says ``idle`` and stops.
    A user error is shown every time the same request is made, a failure once.
    """
    from ui import widgets

    request = st.session_state.get(request_slot)
    if request is not None:
        _run_key, job_key, *args = request
        try:
            work_args = prepare(list(args)) if prepare is not None and registry().get(job_key) is None else args
            found = checked(job_key, fn, *work_args, label=label(args))
        except Exception as exc:  # a user error (shown every time the same request is made) or a failure (shown once)
            widgets.error(exc)
            st.session_state.pop(request_slot, None)
            found = None
        if found is not None:
            st.session_state.pop(request_slot, None)
            st.session_state[result_slot] = (_run_key, found)
    stored = st.session_state.get(result_slot)
    if stored is None and request is not None:
        st.stop()  # the job's status line above follows it; the page reruns when it is done
    if stored is None:
        st.info(idle)
        st.stop()
    return stored
