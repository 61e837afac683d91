"""The Shift page's computations: long ones as background jobs (ui/jobs.py), the quick trajectory as cached data.

Why jobs: clustering with k by silhouette, the permutation tests and bootstraps, and above all ranking many targets
(embedding every target's occurrences first) take from seconds to minutes on a busy machine. As jobs they run to the
end whatever the page does meanwhile, show progress and elapsed time, and the page reruns itself when they finish.

The work functions here take ``report(fraction, message)`` first and never call Streamlit (they run in a worker
thread); the page resolves everything Streamlit-cached (the model, the documents) before it starts them.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import streamlit as st

from analysis import shift as S
from analysis.errors import SenseScopeError
from ui import jobs


class _Failed:
    """A work function's user error, carried back as its result and raised again on the page (see :func:`job`)."""

    def __init__(self, exc: SenseScopeError):
        self.exc = exc


def _capturing(fn):
    def work(report, *args):
        try:
            return fn(report, *args)
        except SenseScopeError as exc:  # deterministic for these inputs: shown, not retried on every rerun
            return _Failed(exc)
    work.__name__ = getattr(fn, "__name__", "work")
    return work


def job(key: str, label: str, fn, *args):
    """The result of ``fn(report, *args)`` run as job ``key``; None while it runs (a status line is drawn).

    A SenseScopeError of the work is raised here, in the script thread, so that the page shows it with
    widgets.error.
    """
    result = jobs.run(key, _capturing(fn), *args, label=label)
    if isinstance(result, _Failed):
        raise result.exc
    return result


# ------------------------------------------------------------------------------------------------------------ keys
def _feed(h, part) -> None:
    if isinstance(part, np.ndarray):
        arr = np.ascontiguousarray(part)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    elif isinstance(part, S.Periods):
        _feed(h, np.asarray(part.codes))
        h.update(json.dumps([list(part.names), part.source, part.column], default=str).encode())
    elif isinstance(part, pd.DataFrame):
        h.update(repr(list(part.columns)).encode())
        h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    elif isinstance(part, (list, tuple)):
        h.update(b"(")
        for p in part:
            _feed(h, p)
        h.update(b")")
    else:
        h.update(repr(part).encode())
    h.update(b"|")


def key_of(name: str, *parts) -> str:
    """A job key naming everything a result depends on (arrays by content)."""
    h = hashlib.sha1()
    for part in parts:
        _feed(h, part)
    return f"shift:{name}:{h.hexdigest()}"


# ------------------------------------------------------------------------------------------------------- the work
def cluster_work(report, X: np.ndarray, method: str, k, random_state: int):
    """Sense clusters (labels, k, silhouette, notice) via analysis.shift.cluster_labels."""
    report(None, "clustering the usages")
    labels, res = S.cluster_labels(X, method=method, k=k, random_state=random_state)
    return labels, int(res.k), dict(res.silhouette or {}), res.notice


def analyse_work(report, X: np.ndarray, periods: S.Periods, labels, sense_names: dict | None, n_permutations: int,
                 n_boot: int, ci: float, random_state: int, appear_min_count: int) -> S.ShiftResult:
    report(None, f"{n_permutations} permutations, {n_boot} bootstrap resamples")
    return S.analyse_shift(X, periods, labels=labels, sense_names=sense_names, n_permutations=n_permutations,
                           n_boot=n_boot, ci=ci, random_state=random_state, appear_min_count=appear_min_count)


def rank_work(report, docs: pd.DataFrame, wanted: list[str], search: dict | None, loaded, model_name, layer_spec,
              period_kwargs: dict, senses: str, n_permutations: int, n_boot: int, random_state: int,
              drop_thin: bool):
    """Embed every target's occurrences (cached on disk), then rank the targets by change (first vs last period).

    ``search`` is None when the corpus gives its spans and targets, else the search options (regex, whole_word,
    case_sensitive, labelled_hits) for each of the ``wanted`` targets. Returns (ranking, skipped).
    """
    from analysis.corpus import find_occurrences
    from analysis.senses import layer_vectors
    from analysis.store import get_or_compute

    report(0.0, "finding the occurrences")
    if search is None:
        occ = find_occurrences(docs)
    else:
        occ = pd.concat([find_occurrences(docs, t, **search) for t in wanted], ignore_index=True)
        occ["occurrence_id"] = np.arange(len(occ))
    es = get_or_compute(occ, model_name, loaded=loaded,
                        progress=lambda d, t: report(0.5 * d / max(t, 1), f"embedding {d}/{t} occurrences"))
    X = layer_vectors(es.vectors, es.layers, layer_spec)
    ranking, _, skipped = S.shift_many(
        es.occurrences, X, senses=senses, n_permutations=n_permutations, n_boot=n_boot, random_state=random_state,
        drop_thin_periods=drop_thin, progress=lambda i, n, t: report(0.5 + 0.5 * i / max(n, 1), f"ranked {t}"),
        **period_kwargs)
    return ranking, skipped


@st.cache_data(show_spinner=False, max_entries=16)
def trajectory(X: np.ndarray, periods: S.Periods, n_typical: int) -> S.Trajectory:
    """Prototypes in a PCA of the usages (fast: no job)."""
    return S.trajectory(X, periods, n_typical=n_typical)
