"""Cached wrappers for the Shift page (thin: the work is in analysis.shift).

Results are cached with ``st.cache_data`` keyed on the inputs (vectors, period codes, labels and parameters), so
moving a widget that does not change them redraws instantly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import shift as S


@st.cache_data(show_spinner="Clustering the usages…", max_entries=16)
def cluster(X: np.ndarray, method: str, k, random_state: int):
    """Sense clusters (labels, k, silhouette, notice) via analysis.shift.cluster_labels."""
    labels, res = S.cluster_labels(X, method=method, k=k, random_state=random_state)
    return labels, int(res.k), dict(res.silhouette or {}), res.notice


@st.cache_data(show_spinner="Comparing periods (permutation tests and bootstrap)…", max_entries=16)
def analyse(X: np.ndarray, periods: S.Periods, labels, sense_names: dict | None, n_permutations: int, n_boot: int,
            ci: float, random_state: int, appear_min_count: int) -> S.ShiftResult:
    return S.analyse_shift(X, periods, labels=labels, sense_names=sense_names, n_permutations=n_permutations,
                           n_boot=n_boot, ci=ci, random_state=random_state, appear_min_count=appear_min_count)


@st.cache_data(show_spinner=False, max_entries=16)
def trajectory(X: np.ndarray, periods: S.Periods, n_typical: int) -> S.Trajectory:
    return S.trajectory(X, periods, n_typical=n_typical)


@st.cache_data(show_spinner="Ranking the targets…", max_entries=8)
def rank(occ: pd.DataFrame, X: np.ndarray, period_kwargs: dict, senses: str, n_permutations: int, n_boot: int,
         random_state: int):
    ranking, results, skipped = S.shift_many(occ, X, senses=senses, n_permutations=n_permutations, n_boot=n_boot,
                                             random_state=random_state, **period_kwargs)
    return ranking, skipped
