"""Background jobs (ui/jobs.py): one run per key, a failed job's error shown once, then a retry starts afresh."""

from __future__ import annotations

import threading
import time

import pytest

from ui import jobs


def _wait(job, limit_s=120):
    deadline = time.time() + limit_s
    while not job.done:
        if time.time() > deadline:  # a state waited for, not a speed
            pytest.fail(f"job {job.label} did not finish: {job.status_line()}")
        time.sleep(0.01)


@pytest.fixture
def reg(monkeypatch):
    r = jobs.JobRegistry()
    monkeypatch.setattr(jobs, "registry", lambda: r)
    monkeypatch.setattr(jobs, "_status", lambda key, poll: None)  # no Streamlit fragment outside a script run
    return r


def test_a_key_runs_once_and_keeps_its_result(reg):
    calls = []

    def work(report, x):
        calls.append(x)
        report(0.5, "half")
        return x * 2

    job = reg.submit("k", work, 21, label="Doubling")
    _wait(job)
    assert reg.submit("k", work, 21).result == 42
    assert jobs.run("k", work, 21) == 42
    assert calls == [21]


def test_a_failed_job_raises_once_then_a_retry_runs_again(reg):
    attempts = []
    gate = threading.Event()

    def work(report):
        attempts.append(1)
        if len(attempts) == 1:
            gate.wait(60)
            raise ValueError("first try fails")
        return "ok"

    assert jobs.run("f", work) is None  # started, held in the background until the gate opens
    gate.set()
    _wait(reg.get("f"))
    # Resubmitting while the failure is not yet shown must not restart the job (that looped forever before).
    assert reg.submit("f", work).failed and len(attempts) == 1
    with pytest.raises(ValueError, match="first try fails"):
        jobs.run("f", work)
    assert reg.get("f") is None  # forgotten once shown
    retry = reg.submit("f", work)  # the retry starts afresh
    _wait(retry)
    assert jobs.run("f", work) == "ok" and len(attempts) == 2


def test_jobs_run_one_at_a_time_and_queue_in_order(reg):
    gate = threading.Event()
    order = []

    def slow(report, name):
        order.append(name)
        gate.wait(60)
        return name

    a = reg.submit("a", slow, "a", label="A")
    b = reg.submit("b", slow, "b", label="B")
    deadline = time.time() + 600
    while a.started is None:
        if time.time() > deadline:  # a state waited for, not a speed
            pytest.fail('the job did not start')
        time.sleep(0.01)
    assert b.queued and "waiting" in b.status_line()
    gate.set()
    _wait(a), _wait(b)
    assert order == ["a", "b"] and (a.result, b.result) == ("a", "b")
