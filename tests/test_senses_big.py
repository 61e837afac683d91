"""Big embedding sets (issue 12): k-means and PCA fitted on a seeded sample above their size limits, the large
scatter drawn for size. The limits are lowered here so that planted sets of a few thousand points take that path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import senses as S
from analysis.plots import senses as P
from analysis.senses import clustering, projection


def blobs(n_per: int, k: int = 3, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 6
    X = np.vstack([c + rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    return X, np.repeat(np.arange(k), n_per)


def test_kmeans_above_the_limit_is_fitted_on_a_sample_and_places_the_rest(monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    X, gold = blobs(700)
    monkeypatch.setattr(clustering, "MAX_KMEANS_POINTS", 1_000)
    monkeypatch.setattr(clustering, "MAX_FIT_POINTS", 300)
    res = S.cluster_vectors(X, method="kmeans", k="auto", seed=3)
    assert res.notice and "k-means" in res.notice and "300" in res.notice
    assert len(res.labels) == len(X) and res.k == 3
    assert adjusted_rand_score(gold, res.labels) == pytest.approx(1.0)
    again = S.cluster_vectors(X, method="kmeans", k="auto", seed=3)
    assert np.array_equal(res.labels, again.labels)  # seeded: the same sample, the same labels


def test_kmeans_below_the_limit_uses_every_point(monkeypatch):
    X, _ = blobs(200)
    monkeypatch.setattr(clustering, "MAX_KMEANS_POINTS", 1_000)
    res = S.cluster_vectors(X, method="kmeans", k=3, seed=0)
    assert res.notice is None


def test_pca_above_the_limit_is_fitted_on_a_sample_and_applied_to_all(monkeypatch):
    X, _ = blobs(700)
    full = S.project(X, method="pca", seed=1)
    assert full.notice is None and full.n_fit == len(X)
    monkeypatch.setattr(projection, "MAX_PCA_FIT", 500)
    part = S.project(X, method="pca", seed=1)
    assert part.n_fit == 500 and "500" in part.notice and part.coords.shape == full.coords.shape
    # the same plane up to the sign of each axis: blobs this far apart give near-identical components
    for j in range(2):
        r = np.corrcoef(part.coords[:, j], full.coords[:, j])[0, 1]
        assert abs(r) > 0.99


def test_large_scatter_is_webgl_with_binary_coordinates_and_sampled_hover(monkeypatch):
    monkeypatch.setattr(P, "LARGE_SCATTER", 50)
    n = 120
    rng = np.random.default_rng(0)
    kwic = np.array([""] * n, dtype=object)
    kwic[:10] = [f"context <b>{i}</b>" for i in range(10)]
    df = pd.DataFrame({"occurrence_id": np.arange(n) + 1000, "x": rng.normal(size=n), "y": rng.normal(size=n),
                       "kwic": kwic, "cluster_name": np.where(np.arange(n) % 2, "s1", "s0")})
    fig = P.plot_projection(df, color="cluster_name")
    assert {t.type for t in fig.data} == {"scattergl"} and len(fig.data) == 2
    assert sum(len(t.x) for t in fig.data) == n
    assert all(np.asarray(t.x).dtype == np.float32 and np.asarray(t.customdata).dtype == np.int32 for t in fig.data)
    s0 = fig.data[[t.name for t in fig.data].index("s0")]
    assert "occurrence %{customdata}" in s0.hovertemplate and "s0" in s0.hovertemplate
    texts = list(s0.text)
    assert texts[0].startswith("context <b>0</b>") and texts[-1] == ""
    assert fig.data[0].marker.size == 2
    small = P.plot_projection(df.iloc[:40], color="cluster_name")
    assert all(t.type == "scatter" for t in small.data)
