"""The Shift page's computations: long ones as background jobs (ui/jobs.py), the quick trajectory as cached data.

Why jobs: clustering with k by silhouette, the permutation tests and bootstraps, and above all ranking many targets
(embedding every target's occurrences first) take from seconds to minutes on a busy machine. As jobs they run to the
end whatever the page does meanwhile, show progress and elapsed time, and the page reruns itself when they finish.

The work functions here take ``report(fraction, message)`` first and never call Streamlit (they run in a worker
thread); the page resolves everything Streamlit-cached (the model, the documents) before it starts them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import shift as S
from ui import jobs


def job(key: str, label: str, fn, *args):
    """The result of ``fn(report, *args)`` run as job ``key``; None while it runs (a status line is drawn).

    A SenseScopeError of the work is raised here, in the script thread, so that the page shows it with
    widgets.error (:func:`ui.jobs.checked`).
    """
    return jobs.checked(key, fn, *args, label=label)


def key_of(name: str, *parts) -> str:
    """A job key naming everything a result depends on (arrays and periods by content, see :func:`ui.jobs.key_of`)."""
    plain = [(np.asarray(p.codes), list(p.names), p.source, p.column) if isinstance(p, S.Periods) else p
             for p in parts]
    return jobs.key_of(f"shift:{name}", *plain)


# ------------------------------------------------------------------------------------------------------- the work
def cluster_work(report, X: np.ndarray, method: str, k, seed: int):
    """Sense clusters (labels, k, silhouette, notice) via analysis.shift.cluster_labels."""
    report(None, "clustering the usages")
    labels, res = S.cluster_labels(X, method=method, k=k, seed=seed)
    return labels, int(res.k), dict(res.silhouette or {}), res.notice


def analyse_work(report, X: np.ndarray, periods: S.Periods, labels, sense_names: dict | None,
                 settings: S.ShiftSettings) -> S.ShiftResult:
    """:func:`analysis.shift.analyse_shift` of one target with the page's test settings."""
    report(None, f"{settings.n_permutations} permutations, {settings.n_bootstrap} bootstrap resamples")
    return S.analyse_shift(X, periods, labels=labels, sense_names=sense_names, settings=settings)


def layers_work(report, vectors: np.ndarray, layers: tuple, periods: S.Periods, labels, sense_names: dict | None,
                settings: S.ShiftSettings) -> pd.DataFrame:
    """:func:`analysis.shift.shift_by_layer` of one target: its change at every layer, with the page's tests."""
    return S.shift_by_layer(vectors, layers, periods, labels=labels, sense_names=sense_names, settings=settings,
                            progress=lambda i, n, layer: report(i / max(n, 1), f"layer {layer} done ({i}/{n})"))


def rank_work(report, docs: pd.DataFrame, targets: tuple[list[str], dict | None], model: tuple, layer_spec,
              options: S.RankOptions):
    """Embed every target's occurrences (cached on disk), then rank the targets by change (first vs last period).

    ``targets`` is (wanted, search): ``search`` is None when the corpus gives its spans and targets, else the search
    options (regex, whole_word, case_sensitive, labelled_hits) for each of the ``wanted`` targets. ``model`` is
    (loaded model, model name). Returns (ranking, skipped).
    """
    from analysis.corpus import find_occurrences
    from analysis.senses import layer_vectors
    from analysis.store import get_or_compute

    wanted, search = targets
    loaded, model_name = model
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
        es.occurrences, X, options, progress=lambda i, n, t: report(0.5 + 0.5 * i / max(n, 1), f"ranked {t}"))
    return ranking, skipped


@st.cache_data(show_spinner=False, max_entries=16)
def trajectory(X: np.ndarray, periods: S.Periods, n_typical: int) -> S.Trajectory:
    """Prototypes in a PCA of the usages (fast: no job)."""
    return S.trajectory(X, periods, n_typical=n_typical)
