"""ui/jobs.py details that keep long work finishing and downloads working (issue 9): the hold hook for tests, stale
queued jobs dropped, user errors kept as the job's outcome, keys that name their inputs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from analysis.errors import ConfigError
from ui import jobs


def _wait(job, limit_s: float = 120):
    deadline = time.time() + limit_s
    while not job.done:
        if time.time() > deadline:  # a state waited for, not a speed
            pytest.fail(job.status_line())
        time.sleep(0.02)


def test_hold_file_keeps_a_job_pending_until_removed(tmp_path, monkeypatch):
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv(jobs.HOLD_ENV, str(hold))
    reg = jobs.JobRegistry()
    job = reg.submit("k", lambda report: 42, label="Held")
    deadline = time.time() + 600
    while "held by" not in job.message:
        if time.time() > deadline:  # a state waited for, not a speed
            pytest.fail(job.status_line())
        time.sleep(0.02)
    assert not job.done
    hold.unlink()
    _wait(job)
    assert job.result == 42


def test_a_queued_job_nobody_asks_for_any_more_is_dropped_not_run(tmp_path, monkeypatch):
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv(jobs.HOLD_ENV, str(hold))
    reg = jobs.JobRegistry()
    ran = []
    first = reg.submit("first", lambda report: ran.append("first"))       # occupies the single worker (held)
    stale = reg.submit("stale", lambda report: ran.append("stale"))
    wanted = reg.submit("wanted", lambda report: ran.append("wanted"))
    stale.seen -= jobs.STALE_S + 1  # no page has asked for it for longer than STALE_S
    hold.unlink()
    _wait(first)
    _wait(wanted)
    assert ran == ["first", "wanted"]
    assert reg.get("stale") is None  # forgotten: a page that asks again starts it afresh
    assert reg.get("wanted").result is None and reg.get("wanted").done


def test_checked_keeps_a_user_error_as_the_outcome(tmp_path, monkeypatch):
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv(jobs.HOLD_ENV, str(hold))
    reg = jobs.JobRegistry()
    monkeypatch.setattr(jobs, "registry", lambda: reg)
    monkeypatch.setattr(jobs, "_status", lambda key, poll: None)  # no Streamlit script here
    calls = []

    def work(report):
        calls.append(1)
        raise ConfigError("too few points")

    assert jobs.checked("bad", work) is None  # started, pending (held)
    hold.unlink()
    _wait(reg.get("bad"))
    for _ in range(3):  # shown on every rerun, never restarted
        with pytest.raises(ConfigError, match="too few points"):
            jobs.checked("bad", work)
    assert calls == [1]


def test_key_of_names_array_content_and_parameters():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    base = jobs.key_of("x", a, 15, 0.1, {"b": 1, "a": 2})
    assert base == jobs.key_of("x", a.copy(), 15, 0.1, {"a": 2, "b": 1})
    assert base != jobs.key_of("x", a + 1, 15, 0.1, {"a": 2, "b": 1})
    assert base != jobs.key_of("x", a, 16, 0.1, {"a": 2, "b": 1})
    assert base != jobs.key_of("y", a, 15, 0.1, {"a": 2, "b": 1})
