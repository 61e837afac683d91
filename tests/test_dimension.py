"""Known answers for the local intrinsic dimension estimators (planted manifolds, no model)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.dimension import (LocalDimension, deduplicate, local_twonn, nearest_neighbors, occurrence_dimension)
from analysis.errors import ConfigError, TooFewPointsError


def ball(n: int, d: int, rng) -> np.ndarray:
    """n points uniform in the d-dimensional unit ball."""
    z = rng.normal(size=(n, d))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return z * rng.random(n)[:, None] ** (1 / d)


def test_5d_ball_in_50d_gives_5():
    # Mean local TwoNN (L = 128) is biased low on a ball: TwoNN on 128 uniform points of a 5-ball averages ~4.63, and
    # over 20 seeds of this exact setup the mean ranged 4.46-4.73 (median ~4.57). So this check holds with margin only
    # for most seeds; the band is the issue's. The 2-d case below and the skdim equality carry the precise checks.
    rng = np.random.default_rng(0)
    X = ball(3000, 5, rng) @ rng.normal(size=(5, 50))
    est = LocalDimension(n_neighbors=128).fit(X)
    s = est.summary()
    assert abs(s["mean"] - 5) <= 0.5, s
    assert 4.0 < s["global"] < 5.5
    assert s["n_duplicates"] == 0 and s["n_zero_distances"] == 0 and s["n_undefined"] == 0
    assert est.dimension_pw_.shape == (3000,)


def test_2d_plane_in_50d_gives_2():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 2)) @ rng.normal(size=(2, 50)) + 3.0  # offset: centring inside must not matter
    s = LocalDimension(n_neighbors=64, global_estimate=False).fit(X).summary()
    assert abs(s["mean"] - 2) < 0.2, s
    assert abs(s["median"] - 2) < 0.2


@pytest.mark.parametrize("dim", [10, 40])  # skdim takes the kd-tree path up to 25 coordinates, pairwise above
def test_pointwise_values_equal_skdim(dim):
    import skdim

    rng = np.random.default_rng(dim)
    X = ball(300, 4, rng) @ rng.normal(size=(4, dim))
    L = 30
    ours = LocalDimension(n_neighbors=L, global_estimate=False).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skdim.id.TwoNN(discard_fraction=0.1).fit_pw(X, n_neighbors=L, smooth=False).dimension_pw_
    np.testing.assert_allclose(ours.dimension_pw_, ref, rtol=1e-9)
    # the same neighbourhoods given explicitly (and a different discard fraction) agree too
    _, knn = nearest_neighbors(X, L)
    mine, zeros = local_twonn(X, knn, discard_fraction=0.2)
    ref2 = skdim.id.TwoNN(discard_fraction=0.2).fit_pw(X, precomputed_knn=knn, n_neighbors=L).dimension_pw_
    np.testing.assert_allclose(mine, ref2, rtol=1e-9)
    assert zeros.sum() == 0


def test_zero_distances_inside_a_neighbourhood_are_dropped_and_counted_like_skdim():
    import skdim

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 30))
    X[1] = X[0]  # a duplicate pair inside neighbourhoods given by hand
    knn = np.array([np.r_[0:30], np.r_[0, 1, 32:60], np.r_[30:60]])
    mine, zeros = local_twonn(X, knn)
    assert zeros.tolist() == [2, 2, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skdim.id.TwoNN(discard_fraction=0.1).fit_pw(X, precomputed_knn=knn, n_neighbors=30).dimension_pw_
    np.testing.assert_allclose(mine, ref, rtol=1e-9)
    assert np.all(np.isfinite(mine)) and np.all(mine > 0)


def test_duplicates_are_removed_counted_and_mapped_back():
    # skdim's fit_pw on such data gives 0 for ~1 point in 9 and wild values elsewhere (see ../shared/STACK.md)
    rng = np.random.default_rng(4)
    base = ball(400, 3, rng) @ rng.normal(size=(3, 20))
    reps = rng.integers(1, 4, size=400)            # each distinct point 1-3 times
    X = np.repeat(base, reps, axis=0)[rng.permutation(reps.sum())]
    est = LocalDimension(n_neighbors=40).fit(X)
    s = est.summary()
    assert s["n_duplicates"] == len(X) - 400 and s["n_unique"] == 400
    for key in ("mean", "median", "std", "global"):
        assert np.isfinite(s[key]) and s[key] > 0, (key, s)
    assert np.all(np.isfinite(est.dimension_per_sample_)) and np.all(est.dimension_per_sample_ > 0)
    # every row carries its distinct vector's value; the distinct points get what they get without the copies
    np.testing.assert_array_equal(est.dimension_per_sample_, est.dimension_pw_[est.inverse_])
    alone = LocalDimension(n_neighbors=40).fit(X[est.unique_index_])
    np.testing.assert_allclose(alone.dimension_pw_, est.dimension_pw_)
    assert abs(s["mean"] - 3) < 0.6


def test_deduplicate_keeps_first_occurrences_in_order():
    X = np.array([[3.0, 1], [1, 1], [3, 1], [0, 2], [1, 1]])
    keep, inv = deduplicate(X)
    assert keep.tolist() == [0, 1, 3]
    assert inv.tolist() == [0, 1, 0, 2, 1]


def test_too_small_sample_says_so():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(100, 8))
    X = np.vstack([X, X[:50]])  # 150 rows, 100 distinct
    with pytest.raises(TooFewPointsError, match=r"L = 128 .* at least 129 distinct vectors, but there are only 100 "
                                                r"after removing 50 exact duplicates"):
        LocalDimension(n_neighbors=128).fit(X)
    LocalDimension(n_neighbors=99, global_estimate=False).fit(X)  # exactly L + 1 distinct points is enough


def test_bad_settings_are_config_errors():
    X = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ConfigError, match="estimator"):
        LocalDimension(estimator="danco").fit(X)
    with pytest.raises(ConfigError, match="at least 3"):
        LocalDimension(n_neighbors=2).fit(X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        LocalDimension(n_neighbors=10).fit(bad)


def test_mle_and_lpca_alternatives():
    rng = np.random.default_rng(6)
    X = ball(800, 3, rng) @ rng.normal(size=(3, 30))
    mle = LocalDimension(n_neighbors=50, estimator="mle", global_estimate=False).fit(X).summary()
    assert abs(mle["mean"] - 3) < 0.5, mle
    # local PCA on a linear subspace sees exactly 3 directions everywhere
    lpca = LocalDimension(n_neighbors=50, estimator="lpca", global_estimate=False).fit(X)
    assert set(np.unique(lpca.dimension_pw_)) == {3.0}
    twonn = LocalDimension(n_neighbors=50, global_estimate=False).fit(X).summary()
    assert abs(twonn["mean"] - 3) < 0.5


def test_occurrence_dimension_takes_an_embedding_set_layer():
    rng = np.random.default_rng(7)
    low = ball(200, 2, rng) @ rng.normal(size=(2, 16))
    high = rng.normal(size=(200, 16))
    vectors = np.stack([high, low], axis=1).astype(np.float32)  # (n_occurrences, n_layers, dim)

    class FakeSet:
        def layer(self, l):
            return vectors[:, [5, 9].index(l)]

    a = occurrence_dimension(FakeSet(), 9, n_neighbors=20)
    b = occurrence_dimension(vectors, 1, n_neighbors=20)
    np.testing.assert_allclose(a.dimension_per_sample_, b.dimension_per_sample_)
    assert a.dimension_per_sample_.shape == (200,)
    assert a.summary()["mean"] < occurrence_dimension(vectors, 0, n_neighbors=20).summary()["mean"] - 3
    with pytest.raises(ConfigError, match="layer"):
        occurrence_dimension(vectors)
    with pytest.raises(TooFewPointsError):
        occurrence_dimension(vectors[:15], 1, n_neighbors=20)
