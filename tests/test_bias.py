"""Known-answer tests of the bias statistics (pure numpy, planted vectors; no model)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from analysis.bias import (BiasTestError, WeatQuery, association, bootstrap_ci, effect_size, holm,
                           permutation_pvalue, weat, weat_from_associations)


def planted(rng, n=8, dim=32, strength=1.5, n_attr=8):
    """X near a direction a, Y near b; A near a, B near b."""
    a, b = rng.normal(size=dim), rng.normal(size=dim)
    noise = lambda m: rng.normal(size=(m, dim))
    X = strength * a + noise(n)
    Y = strength * b + noise(n)
    A = strength * a + noise(n_attr)
    B = strength * b + noise(n_attr)
    return X, Y, A, B


def direct_s(w, A, B):
    cos = lambda u, v: float(np.dot(u, v) / (np.sqrt(np.dot(u, u)) * np.sqrt(np.dot(v, v))))
    return np.mean([cos(w, a) for a in A]) - np.mean([cos(w, b) for b in B])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_association_gives_large_d_and_small_p(seed):
    X, Y, A, B = planted(np.random.default_rng(seed))
    r = weat(X, Y, A, B, seed=seed)
    assert r.effect_size[0] > 1.5
    assert r.exact and r.n_permutations == math.comb(16, 8)
    assert r.p_value[0] < 0.01
    assert r.ci_low[0] > 0.5 and r.ci_low[0] <= r.effect_size[0] <= r.ci_high[0]


def test_swapped_targets_negate_d():
    X, Y, A, B = planted(np.random.default_rng(3))
    r = weat(X, Y, A, B, seed=0)
    s = weat(Y, X, A, B, seed=0)
    assert s.effect_size[0] == pytest.approx(-r.effect_size[0], rel=1e-12)
    assert s.p_value[0] > 0.99  # the planted direction is now the unlikely one
    # swapping the attribute sets negates d as well
    t = weat(X, Y, B, A, seed=0)
    assert t.effect_size[0] == pytest.approx(-r.effect_size[0], rel=1e-12)


def test_effect_size_matches_direct_numpy():
    rng = np.random.default_rng(4)
    X, Y, A, B = (rng.normal(size=(m, 10)) for m in (6, 6, 5, 7))
    sx = [direct_s(x, A, B) for x in X]
    sy = [direct_s(y, A, B) for y in Y]
    expected = (np.mean(sx) - np.mean(sy)) / np.std(sx + sy, ddof=1)
    np.testing.assert_allclose(association(X, A, B), sx, rtol=1e-10)
    assert effect_size(association(X, A, B), association(Y, A, B)) == pytest.approx(expected, rel=1e-10)
    assert weat(X, Y, A, B, n_bootstrap=0).effect_size[0] == pytest.approx(expected, rel=1e-10)


def test_exact_4_plus_4_matches_hand_enumeration_of_all_70_partitions():
    rng = np.random.default_rng(5)
    X, Y, A, B = (rng.normal(size=(4, 6)) for _ in range(4))
    s = [direct_s(w, A, B) for w in np.vstack([X, Y])]
    observed = sum(s[:4]) - sum(s[4:])
    count = 0
    partitions = list(itertools.combinations(range(8), 4))
    assert len(partitions) == 70
    for Xi in partitions:
        stat = sum(s[i] for i in Xi) - sum(s[i] for i in range(8) if i not in Xi)
        count += stat >= observed - 1e-12
    r = weat(X, Y, A, B, n_bootstrap=0)
    assert r.exact and r.n_permutations == 70
    assert r.p_value[0] == pytest.approx(count / 70, abs=1e-15)


def test_random_vectors_give_uniform_p_exact():
    ps = []
    for seed in range(300):
        rng = np.random.default_rng(1000 + seed)
        X, Y, A, B = (rng.normal(size=(8, 16)) for _ in range(4))
        ps.append(weat(X, Y, A, B, n_bootstrap=0).p_value[0])
    ps = np.array(ps)
    counts, _ = np.histogram(ps, bins=10, range=(0, 1))
    assert counts.min() >= 12 and counts.max() <= 50, counts  # expected 30 per bin
    assert stats.kstest(ps, "uniform").pvalue > 0.001


def test_random_vectors_give_uniform_p_monte_carlo():
    ps = []
    for seed in range(200):
        rng = np.random.default_rng(5000 + seed)
        s_x, s_y = rng.normal(size=30), rng.normal(size=30)
        p, n, exact = permutation_pvalue(s_x, s_y, permutations=999, seed=seed)
        assert not exact and n == 999
        ps.append(p)
    assert stats.kstest(ps, "uniform").pvalue > 0.001
    assert min(ps) >= 1 / 1000  # the (count + 1) / (n + 1) correction


def test_same_seed_same_p_and_other_seed_other_draws():
    rng = np.random.default_rng(6)
    s_x, s_y = rng.normal(size=40) + 0.2, rng.normal(size=40)
    a = permutation_pvalue(s_x, s_y, permutations=2000, seed=11)
    b = permutation_pvalue(s_x, s_y, permutations=2000, seed=11)
    c = permutation_pvalue(s_x, s_y, permutations=2000, seed=12)
    assert a == b
    assert a[0] != c[0]
    r1 = weat_from_associations(s_x, s_y, permutations=2000, seed=3)
    r2 = weat_from_associations(s_x, s_y, permutations=2000, seed=3)
    assert r1.p_value[0] == r2.p_value[0] and r1.ci_low[0] == r2.ci_low[0]


def test_monte_carlo_within_standard_error_of_exact():
    rng = np.random.default_rng(7)
    for _ in range(100):  # an informative case: p neither tiny nor near 1
        X, Y, A, B = planted(rng, strength=0.3)
        s_x, s_y = association(X, A, B), association(Y, A, B)
        p_exact, n_exact, exact = permutation_pvalue(s_x, s_y)
        if 0.05 < p_exact < 0.5:
            break
    assert exact and 0.05 < p_exact < 0.5
    n = 4000  # fewer than C(16, 8) = 12,870, so Monte Carlo
    se = math.sqrt(p_exact * (1 - p_exact) / n)
    diffs = []
    for seed in range(20):
        p_mc, n_mc, exact_mc = permutation_pvalue(s_x, s_y, permutations=n, seed=seed)
        assert not exact_mc and n_mc == n
        diffs.append(abs(p_mc - p_exact))
    diffs = np.array(diffs)
    assert np.all(diffs < 4 * se)
    assert np.mean(diffs < se) >= 0.45  # ~68 % expected within one standard error


def test_grouped_units_with_identical_occurrences_equal_word_level():
    """Each word repeated r times identically: re-partitioning whole words must give the word-level exact p."""
    rng = np.random.default_rng(8)
    for _ in range(100):  # a case with a moderate word-level p
        s_x, s_y = rng.normal(size=6) + 0.8, rng.normal(size=6)
        p_words, n_words, _ = permutation_pvalue(s_x, s_y)
        if 0.02 < p_words < 0.3:
            break
    assert 0.02 < p_words < 0.3
    r = 5
    occ_x, occ_y = np.repeat(s_x, r), np.repeat(s_y, r)
    gx, gy = np.repeat(np.arange(6), r), np.repeat(np.arange(6), r)
    p_grouped, n_grouped, exact = permutation_pvalue(occ_x, occ_y, groups_x=gx, groups_y=gy)
    assert exact and n_grouped == n_words == math.comb(12, 6)
    assert p_grouped == pytest.approx(p_words)
    # partitioning occurrences instead treats 30 + 30 dependent items as independent: a smaller p
    p_occ, _, _ = permutation_pvalue(occ_x, occ_y, permutations=20_000, seed=0)
    assert p_occ < p_grouped


def test_unequal_item_counts_use_difference_of_means():
    rng = np.random.default_rng(9)
    s_x, s_y = rng.normal(size=5), rng.normal(size=3)
    observed = s_x.mean() - s_y.mean()
    pool = np.concatenate([s_x, s_y])
    count = 0
    for Xi in itertools.combinations(range(8), 5):
        rest = [i for i in range(8) if i not in Xi]
        count += pool[list(Xi)].mean() - pool[rest].mean() >= observed - 1e-12
    p, n, exact = permutation_pvalue(s_x, s_y)
    assert exact and n == 56 and p == pytest.approx(count / 56)


def test_columns_are_tested_with_the_same_partitions_as_single_columns():
    rng = np.random.default_rng(10)
    s_x, s_y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    p_all, n, _ = permutation_pvalue(s_x, s_y, permutations=3000, seed=1)
    for j in range(3):
        p_j, _, _ = permutation_pvalue(s_x[:, j], s_y[:, j], permutations=3000, seed=1)
        assert p_all[j] == pytest.approx(p_j)


def test_bootstrap_interval_reproducible_and_brackets_d():
    X, Y, A, B = planted(np.random.default_rng(11), n=20, strength=0.6)
    s_x, s_y = association(X, A, B), association(Y, A, B)
    lo, hi = bootstrap_ci(s_x, s_y, seed=0)
    assert (lo, hi) == bootstrap_ci(s_x, s_y, seed=0)
    d = effect_size(s_x, s_y)
    assert lo < d < hi
    lo2, hi2 = bootstrap_ci(s_x, s_y, confidence=0.5, seed=0)
    assert lo <= lo2 and hi2 <= hi


def test_holm_against_a_direct_step_down():
    rng = np.random.default_rng(12)
    p = rng.uniform(0, 0.2, size=9)
    adj = holm(p)
    order = np.argsort(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        assert adj[i] == pytest.approx(running)
    assert np.all(adj >= p)
    with_nan = holm([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1]) and with_nan[0] == pytest.approx(0.02) and with_nan[2] == pytest.approx(0.04)


def test_constant_associations_give_nan_effect():
    assert np.isnan(effect_size(np.ones(4), np.ones(4)))


# --- query validation --------------------------------------------------------------------------------------------

WORDS = dict(X=["john", "paul", "mike"], Y=["amy", "joan", "lisa"], A=["office", "salary"], B=["home", "family"])


def test_query_from_words_and_templates():
    q = WeatQuery.from_words("t", **WORDS, templates=["This is {}.", "{} is here."])
    assert q.levels() == ("word", "sentence", "contextual")
    assert q.X.sentences[:2] == ("This is john.", "john is here.")
    occ = q.X.contexts[1]
    assert occ.form == "john" and occ.word == "john" and (occ.start, occ.end) == (0, 4)
    assert WeatQuery.from_words("t", **WORDS).levels() == ("word",)


@pytest.mark.parametrize("change, message", [
    (dict(X=[]), "is empty"),
    (dict(A=["office"]), "only one word"),
    (dict(Y=["amy", "joan"]), "different sizes"),
    (dict(B=["home", "Home"]), "twice"),
    (dict(X=["john", "", "mike"]), "empty entry"),
    (dict(Y=["amy", "John", "lisa"]), "in both X"),
])
def test_query_rejects_bad_sets(change, message):
    with pytest.raises(BiasTestError, match=message):
        WeatQuery.from_words("bad", **{**WORDS, **change})


@pytest.mark.parametrize("template, message", [("This is it.", "no {}"), ("{} and {}", "2 {} slots"), ("  ", "empty")])
def test_query_rejects_bad_templates(template, message):
    with pytest.raises(BiasTestError, match=message):
        WeatQuery.from_words("bad", **WORDS, templates=[template])


def test_zero_vectors_are_refused():
    from analysis.errors import SenseScopeError

    with pytest.raises(SenseScopeError, match="zero"):
        association(np.zeros((2, 3)), np.ones((2, 3)), np.ones((2, 3)))


def test_reused_permutations_give_the_numbers_of_a_fresh_draw():
    """Tests of equal sizes and seed share one draw of permutations; the p-values must not depend on that."""
    from analysis.bias import statistics as B

    rng = np.random.default_rng(13)
    a = (rng.normal(size=20) + 0.3, rng.normal(size=20))
    b = (rng.normal(size=20), rng.normal(size=20) + 0.1)
    B._PARTS_CACHE.clear()
    fresh_b = permutation_pvalue(*b, permutations=3000, seed=4)
    B._PARTS_CACHE.clear()
    fresh_a = permutation_pvalue(*a, permutations=3000, seed=4)
    reused_b = permutation_pvalue(*b, permutations=3000, seed=4)  # reuses a's draw
    assert reused_b == fresh_b
    other = permutation_pvalue(rng.normal(size=7), rng.normal(size=9), permutations=3000, seed=4)
    assert other[1] == 3000 and permutation_pvalue(*a, permutations=3000, seed=4) == fresh_a


def test_seeds_may_be_generators_and_global_random_state_is_left_alone():
    import random

    from analysis.bias import WeatSettings

    rng = np.random.default_rng(14)
    s_x, s_y = rng.normal(size=30) + 0.2, rng.normal(size=30)
    np.random.seed(99)
    random.seed(99)
    before_np, before_py = np.random.get_state()[1].copy(), random.getstate()
    settings = WeatSettings(permutations=500, n_bootstrap=100)
    a = weat_from_associations(s_x, s_y, settings, seed=np.random.default_rng(7))
    b = weat_from_associations(s_x, s_y, settings, seed=np.random.default_rng(7))
    assert not a.exact and (a.p_value[0], a.ci_low[0]) == (b.p_value[0], b.ci_low[0])
    seq = np.random.SeedSequence(8)
    c = weat_from_associations(s_x, s_y, settings, seed=seq)
    d = weat_from_associations(s_x, s_y, settings, seed=seq)  # the same SeedSequence twice: the same numbers
    assert (c.p_value[0], c.ci_high[0]) == (d.p_value[0], d.ci_high[0])
    assert weat_from_associations(s_x, s_y, WeatSettings(seed=3), permutations=500).n_permutations == 500
    assert np.array_equal(np.random.get_state()[1], before_np) and random.getstate() == before_py
