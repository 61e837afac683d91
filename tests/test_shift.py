"""Semantic shift: known answers on planted data, exact agreement with direct computations, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

from analysis import shift as S
from analysis.errors import SenseScopeError
from tests.conftest import DEMO

DIM = 24


def _blobs(rng, sizes, centres):
    """Points around the given centres (rows of ``centres``), with cluster labels."""
    X = np.vstack([c + 0.6 * rng.normal(size=(n, DIM)) for n, c in zip(sizes, centres)])
    y = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    return X, y


@pytest.fixture()
def centres():
    rng = np.random.default_rng(123)
    return rng.normal(size=(3, DIM)) * 2.0 + 3.0  # offset: cosine geometry, not centred at the origin


# ------------------------------------------------------------------------------------------------ direct computations
def test_apd_and_prt_match_direct_numpy(centres):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(37, DIM)) + centres[0]
    B = rng.normal(size=(53, DIM)) + centres[1]
    direct_apd = cdist(A, B, metric="cosine").mean()
    a, b = A.mean(0), B.mean(0)
    direct_prt = 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert S.apd(A, B) == pytest.approx(direct_apd, abs=1e-12)
    assert S.prt(A, B) == pytest.approx(direct_prt, abs=1e-12)
    res = S.compare_periods(A, B, metrics=("apd", "prt"), inference=S.Inference(n_permutations=0, n_bootstrap=0))
    assert res["apd"].value == pytest.approx(direct_apd, abs=1e-12)
    assert res["prt"].value == pytest.approx(direct_prt, abs=1e-12)
    assert res["apd"].p_value is None and res["apd"].ci_low is None


def test_jsd_natural_log_known_values():
    # disjoint senses: the maximum, ln 2
    assert S.jsd([0, 0, 0], [1, 1]) == pytest.approx(math.log(2))
    assert S.jsd([0, 1, 0, 1], [1, 0]) == pytest.approx(0.0, abs=1e-15)
    p, q = np.array([0.75, 0.25]), np.array([0.25, 0.75])
    m = (p + q) / 2
    h = lambda v: -(v * np.log(v)).sum()
    assert S.jsd([0, 0, 0, 1], [0, 1, 1, 1]) == pytest.approx(h(m) - (h(p) + h(q)) / 2)
    assert S.jsd([0, 0, -1, -1], [1, -1]) == pytest.approx(math.log(2))  # noise (-1) is left out


def test_permutation_p_value_formula_and_bootstrap_by_hand(centres):
    rng = np.random.default_rng(5)
    A = rng.normal(size=(6, DIM)) + centres[0]
    B = rng.normal(size=(5, DIM)) + centres[0]
    n_perm, seed = 200, 11
    res = S.compare_periods(A, B, metrics=("apd", "prt"), inference=S.Inference(n_perm, 300, seed=seed))
    # The same permutations drawn here directly: (count(null >= obs) + 1) / (n + 1).
    gen = np.random.default_rng(seed)
    order = gen.permuted(np.tile(np.arange(11), (n_perm, 1)), axis=1)[:, :6]
    pooled = np.vstack([A, B])
    null = []
    for row in order:
        mask = np.zeros(11, bool)
        mask[row] = True
        null.append(cdist(pooled[mask], pooled[~mask], "cosine").mean())
    obs = cdist(A, B, "cosine").mean()
    expected = (np.sum(np.array(null) >= obs - 1e-12) + 1) / (n_perm + 1)
    assert res["apd"].p_value == pytest.approx(expected)
    assert res["apd"].n_permutations == n_perm
    assert res["apd"].p_value >= 1 / (n_perm + 1)
    lo, hi = res["apd"].ci_low, res["apd"].ci_high
    assert lo < hi and lo <= obs * 1.2 and hi >= obs * 0.8
    again = S.compare_periods(A, B, metrics=("apd", "prt"), inference=S.Inference(n_perm, 300, seed=seed))
    assert again == res  # seeded: identical


# ------------------------------------------------------------------------------------------------------ planted data
def test_identical_usages_in_both_periods_show_no_change(centres):
    rng = np.random.default_rng(1)
    X, y = _blobs(rng, [40, 30], centres[:2])
    res = S.compare_periods(X, X.copy(), labels_a=y, labels_b=y,
                            inference=S.Inference(n_permutations=199, n_bootstrap=0))
    assert res["prt"].value == pytest.approx(0.0, abs=1e-12)
    assert res["jsd"].value == pytest.approx(0.0, abs=1e-12)
    pooled = cdist(X, X, "cosine")
    assert res["apd"].value == pytest.approx(pooled.mean(), abs=1e-12)  # cross pairs = all pairs of one set
    for m in ("apd", "prt", "jsd"):
        assert res[m].p_value > 0.5


def test_random_split_gives_near_zero_change_and_large_p(centres):
    X, y = _blobs(np.random.default_rng(2), [120, 80], centres[:2])
    pvals = {m: [] for m in S.METRICS}
    for seed in range(12):
        codes = np.random.default_rng(100 + seed).permutation(np.repeat([0, 1], 100))
        per = S.periods_from_codes(codes, ["early", "late"])
        res = S.analyse_shift(X, per, labels=y, n_permutations=199, n_bootstrap=200, seed=seed)
        pr = res.pairs[0]
        within = cdist(X, X, "cosine")[~np.eye(len(X), dtype=bool)].mean()
        assert abs(pr.metrics["apd"].value - within) < 0.02 * within
        assert pr.metrics["prt"].value < 0.01
        assert pr.metrics["jsd"].value < 0.03
        for m in S.METRICS:
            pvals[m].append(pr.metrics[m].p_value)
    for m in S.METRICS:
        # under the null p is uniform: a mean well above 0.2 and few small values
        assert np.mean(pvals[m]) > 0.25, (m, pvals[m])
        assert np.mean(np.array(pvals[m]) < 0.05) <= 0.25, (m, pvals[m])


def _planted(seed, centres, n_new=40):
    rng = np.random.default_rng(seed)
    Xa, ya = _blobs(rng, [50, 50], centres[:2])
    Xb, yb = _blobs(rng, [30, 30, n_new], centres)
    X = np.vstack([Xa, Xb])
    y = np.concatenate([ya, yb])
    codes = np.concatenate([np.zeros(len(Xa), int), np.ones(len(Xb), int)])
    return X, y, codes


def test_planted_new_cluster_gives_high_jsd_and_apd_with_small_p(centres):
    X, y, codes = _planted(3, centres)
    per = S.periods_from_codes(codes, ["1810-1860", "1960-2010"])
    res = S.analyse_shift(X, per, labels=y, n_permutations=999, n_bootstrap=500, seed=0)
    m = res.pairs[0].metrics
    assert m["jsd"].value > 0.15  # p = (.5,.5,0), q = (.3,.3,.4): JSD = 0.18 nats
    for name in S.METRICS:
        assert m[name].p_value < 0.01, name
        assert m[name].n_permutations == 999
        assert m[name].ci_low <= m[name].value <= m[name].ci_high or name == "jsd"
    # APD clearly above the no-change level of the same data split at random
    shuffled = S.periods_from_codes(np.random.default_rng(0).permutation(codes), per.names)
    null = S.analyse_shift(X, shuffled, labels=y, n_permutations=0, n_bootstrap=0)
    assert m["apd"].value > 1.05 * null.pairs[0].metrics["apd"].value
    shares = res.shares
    j = shares.senses.index(2)
    assert shares.first_period[j] == "1960-2010"
    assert shares.counts[:, j].tolist() == [0, 40]
    assert shares.largest_from[j] == "1960-2010"  # 40 of 100 is the largest share in the later period
    assert shares.shares[1, j] == pytest.approx(0.4)
    assert shares.ci_low[1, j] < 0.4 < shares.ci_high[1, j]


def test_planted_cluster_found_by_clustering(centres):
    """JSD with clusters from analysis.senses (k by silhouette) also detects the planted sense."""
    X, y, codes = _planted(4, centres)
    labels, res = S.cluster_labels(X, k_range=(2, 4))
    assert res.k == 3
    per = S.periods_from_codes(codes, ["a", "b"])
    out = S.analyse_shift(X, per, labels=labels, n_permutations=199, n_bootstrap=0)
    assert out.pairs[0].metrics["jsd"].value > 0.15 and out.pairs[0].metrics["jsd"].p_value < 0.01


def test_dwug_gold_clusters_reproduce_change_graded():
    """JSD of DWUG's own clusters = the published change_graded (a Jensen-Shannon *distance*, base 2)."""
    from analysis.corpus import find_occurrences, load_corpus

    occ = find_occurrences(load_corpus(DEMO / "dwug_en"))
    gold = S.read_gold(DEMO / "dwug_en" / "stats" / "opt" / "stats_groupings.csv")
    X = np.random.default_rng(0).normal(size=(len(occ), 8)) + 1
    ranking, results, skipped = S.shift_many(occ, X, period_column="period", senses="column",
                                             n_permutations=0, n_bootstrap=0)
    assert not skipped and len(ranking) == occ["target"].nunique() >= 3
    for t, j in zip(ranking["target"], ranking["jsd"]):
        assert math.sqrt(j / math.log(2)) == pytest.approx(gold.graded[t], abs=2e-3), t


def test_options_objects_and_keywords_give_the_same_results(centres):
    """shift_many / analyse_shift take an options object or its fields by name (old names n_boot, random_state
    too): the same settings give identical results, and a seed may be a Generator."""
    rng = np.random.default_rng(4)
    X, y = _blobs(rng, [30, 30], centres[:2])
    occ = pd.DataFrame({"target": ["a"] * 30 + ["b"] * 30, "g": (["1"] * 15 + ["2"] * 15) * 2, "label": y})
    options = S.RankOptions(periods=S.PeriodSpec(period_column="g"), senses="column",
                            settings=S.ShiftSettings(n_permutations=49, n_bootstrap=20, seed=3))
    by_object, _, _ = S.shift_many(occ, X, options)
    by_name, _, _ = S.shift_many(occ, X, period_column="g", senses="column", n_permutations=49, n_bootstrap=20,
                                 seed=3)
    by_old_name, _, _ = S.shift_many(occ, X, period_column="g", senses="column", n_permutations=49, n_boot=20,
                                     random_state=3)
    pd.testing.assert_frame_equal(by_object, by_name)
    pd.testing.assert_frame_equal(by_object, by_old_name)
    assert S.RankOptions.build(options, n_bins=3, seed=5).settings.seed == 5
    assert S.RankOptions.build(options, n_bins=3).periods.n_bins == 3
    with pytest.raises(SenseScopeError, match="not both"):
        S.shift_many(occ, X, options, n_boot=1, n_bootstrap=2)
    with pytest.raises(TypeError):
        S.shift_many(occ, X, options, no_such_option=1)
    per = S.periods_from_codes(np.r_[np.zeros(30, int), np.ones(30, int)], ["1", "2"])
    state = np.random.get_state()[1].copy()
    one = S.analyse_shift(X, per, labels=y, n_permutations=49, n_bootstrap=20, seed=np.random.default_rng(9))
    two = S.analyse_shift(X, per, labels=y, n_permutations=49, n_bootstrap=20, seed=np.random.default_rng(9))
    assert one.pairs == two.pairs and (np.random.get_state()[1] == state).all()  # global numpy state untouched


# ---------------------------------------------------------------------------------------------------------- periods
def test_years_missing_or_unparsable_are_counted_and_left_out():
    df = pd.DataFrame({"year": [1810, "1835-06-01", None, "n.d.", "", 1900.0, 2000, 1950.5, 1999]})
    per = S.make_periods(df, year_column="year", mode="edges", edges=[1800, 1850, 1950, 2010])
    assert per.n_missing == 2 and per.n_unparsable == 2  # "n.d." and 1950.5 (not a whole year) are not years
    assert per.codes.tolist() == [0, 0, -1, -1, -1, 1, 2, -1, 2]
    assert per.counts == (2, 1, 2)
    assert per.names == ("1800–1849", "1850–1949", "1950–2010")
    assert any("not a year" in w for w in per.warnings) and any("no (parsable) year" in w for w in per.warnings)
    out = S.make_periods(df, year_column="year", mode="edges", edges=[1805, 1950])
    assert out.n_out_of_range == 2 and out.codes.tolist()[-3:] == [-1, -1, -1]


def test_one_year_rule_for_loaded_corpora_and_year_bins(tmp_path):
    """"c. 1836" is the year 1836 both when the corpus is loaded (its year column) and when shift bins a column of
    raw values (a metadata column): one parser, analysis.corpus.parse_years, decides both."""
    from analysis.corpus import ColumnSpec, load_corpus, parse_years

    raw = ["c. 1836", "1836?", "May 1836", "1836-05-01", "n.d.", "1836.5", "", None, pd.NaT, 1836.0, True, "44 BC"]
    expected = [1836, 1836, 1836, 1836, None, None, None, None, None, 1836, None, -44]
    got = parse_years(pd.Series(raw, dtype=object)).tolist()
    assert [None if pd.isna(v) else v for v in got] == expected
    years, n_missing, n_unparsable = S.year_values(raw)
    assert [None if np.isnan(v) else v for v in years] == expected
    assert (n_missing, n_unparsable) == (3, 3)  # "", None and NaT are empty; "n.d.", "1836.5", True are not years
    path = tmp_path / "c.csv"
    pd.DataFrame({"text": ["a plane", "the plane", "one plane", "two planes"],
                  "date": ["c. 1836", "1836", "c. 1950", "1950?"]}).to_csv(path, index=False)
    docs = load_corpus(path, ColumnSpec(text="text", year="date"))
    docs["raw_date"] = ["c. 1836", "1836", "c. 1950", "1950?"]
    loaded = S.make_periods(docs, year_column="year", mode="edges", edges=[1800, 1900, 2000])
    unparsed = S.make_periods(docs, year_column="raw_date", mode="edges", edges=[1800, 1900, 2000])
    assert loaded.codes.tolist() == unparsed.codes.tolist() == [0, 0, 1, 1]
    assert unparsed.n_unparsable == 0 and not hasattr(S, "parse_years")  # no second parser in analysis.shift


def test_equal_width_and_equal_count_bins_keep_each_year_in_one_bin():
    years = np.repeat(np.arange(1810, 1870), 3).tolist() + [2000] * 60
    df = pd.DataFrame({"year": years})
    ew = S.make_periods(df, year_column="year", mode="equal-width", n_bins=2)
    assert ew.names == ("1810–1904", "1905–2000") and ew.counts == (180, 60)  # width 95 years
    ec = S.make_periods(df, year_column="year", mode="equal-count", n_bins=4)
    assert sum(ec.counts) == len(df) and ec.n_periods == 4
    for y in set(years):  # all rows of a year share a period
        assert len(set(ec.codes[np.array(years) == y])) == 1
    assert max(ec.counts) - min(ec.counts) <= 63
    assert np.all(np.diff([np.mean(np.array(years)[ec.codes == i]) for i in range(4)]) > 0)  # time order


def test_period_column_order_and_missing_values():
    df = pd.DataFrame({"g": ["10", "2", None, "2", "10", "1"]})
    per = S.make_periods(df, period_column="g")
    assert per.names == ("1", "2", "10")  # numeric, not alphabetical
    assert per.codes.tolist() == [2, 1, -1, 1, 2, 0] and per.n_missing == 1
    named = S.make_periods(pd.DataFrame({"g": ["late", "early", "early"]}), period_column="g",
                           order=["early", "late"])
    assert named.names == ("early", "late") and named.counts == (2, 1)


@pytest.mark.parametrize("df, kwargs, exc, words", [
    (pd.DataFrame({"g": ["a"] * 5}), {"period_column": "g"}, S.OnePeriodError, "only 1 period ('a')"),
    (pd.DataFrame({"g": ["a"] * 5 + ["b"]}), {"period_column": "g"}, S.ThinPeriodError, "'b' (1)"),
    (pd.DataFrame({"y": [1900] * 6}), {"year_column": "y"}, S.OnePeriodError, "same year"),
    (pd.DataFrame({"y": ["x", None, "?"]}), {"year_column": "y"}, S.PeriodError, "none of the 3 rows"),
    (pd.DataFrame({"y": [1, 2]}), {"year_column": "date"}, S.PeriodError, "column 'date' is not"),
    (pd.DataFrame({"y": [1, 2]}), {"year_column": "y", "edges": [1, 1, 2]}, S.PeriodError, "strictly increasing"),
    (pd.DataFrame({"y": [1, 2]}), {"year_column": "y", "n_bins": 1}, S.PeriodError, "at least 2 bins"),
    (pd.DataFrame({"y": [1900, 1901, 1990, 1991, 1992]}), {"year_column": "y", "n_bins": 3}, S.ThinPeriodError,
     "fewer than 2"),
])
def test_bad_periods_give_clear_messages(df, kwargs, exc, words):
    with pytest.raises(exc) as info:
        per = S.make_periods(df, **kwargs)
        S.check_periods(per)
    assert isinstance(info.value, SenseScopeError)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_thin_and_empty_periods_warn_and_can_be_dropped():
    df = pd.DataFrame({"y": [1900] * 40 + [1950] + [2000] * 5})
    per = S.make_periods(df, year_column="y", mode="edges", edges=[1900, 1925, 1975, 1990, 2000])
    assert per.counts == (40, 1, 0, 5)
    assert any("no occurrences: 1975–1989" in w for w in per.warnings)
    assert any("too thin" in w and "1925–1974 (1)" in w for w in per.warnings)
    kept = per.drop_small()
    assert kept.names == ("1900–1924", "1990–2000") and kept.n_dropped == 1
    assert kept.codes[40] == -1 and kept.codes[-1] == 1
    S.check_periods(kept)


def test_bad_vectors_and_labels_give_clear_messages(centres):
    per = S.periods_from_codes([0, 0, 1, 1], ["a", "b"])
    X = np.ones((4, 3))
    with pytest.raises(SenseScopeError, match="3 vectors but 4"):
        S.analyse_shift(X[:3], per)
    with pytest.raises(SenseScopeError, match="all zeros"):
        S.analyse_shift(np.vstack([np.zeros(3), X[1:]]), per)
    with pytest.raises(SenseScopeError, match="JSD needs sense clusters"):
        S.analyse_shift(X, per, metrics=("jsd",))
    with pytest.raises(SenseScopeError, match="NaN"):
        S.analyse_shift(np.full((4, 3), np.nan), per)
    with pytest.raises(SenseScopeError, match="no clustered"):
        S.analyse_shift(X + np.arange(4)[:, None], per, labels=[-1, -1, 0, 0])


# -------------------------------------------------------------------------------------------- several periods, pairs
def test_consecutive_and_vs_first_pairs_without_repeats(centres):
    rng = np.random.default_rng(7)
    X, y = _blobs(rng, [30, 30, 30, 30], np.vstack([centres, centres[:1]]))
    per = S.periods_from_codes(np.repeat([0, 1, 2, 3], 30), ["p1", "p2", "p3", "p4"])
    res = S.analyse_shift(X, per, labels=y, n_permutations=49, n_bootstrap=50)
    got = [(p.earlier, p.later, p.consecutive, p.vs_first) for p in res.pairs]
    assert got == [("p1", "p2", True, True), ("p1", "p3", False, True), ("p2", "p3", True, False),
                   ("p1", "p4", False, True), ("p3", "p4", True, False)]
    # p4 uses the same centre as p1: no change from the first period, large change from p3
    assert res.pair("p1", "p4").metrics["prt"].value < 0.01 < res.pair("p3", "p4").metrics["prt"].value
    frame = res.pairs_frame()
    assert len(frame) == 5 * 3 and set(frame["metric"]) == set(S.METRICS)
    assert res.to_dict()["pairs"][0]["apd_ci"][0] is not None


def test_trajectory_prototypes_are_centroids_and_typical_are_nearest(centres):
    rng = np.random.default_rng(8)
    X, _ = _blobs(rng, [25, 25, 25], centres)
    codes = np.repeat([0, 1, 2], 25)
    codes[3] = -1
    per = S.periods_from_codes(codes, ["a", "b", "c"])
    tr = S.trajectory(X, per, n_typical=3)
    for i, name in enumerate(per.names):
        idx = np.flatnonzero(codes == i)
        np.testing.assert_allclose(tr.prototype_xy[i], tr.usage_xy[idx].mean(0), atol=1e-9)
        sim = 1 - cdist(X[idx], X[idx].mean(0)[None], "cosine")[:, 0]
        assert tr.typical[name].tolist() == idx[np.argsort(-sim)[:3]].tolist()
    assert np.isnan(tr.usage_xy[3]).all()
    assert 0 < tr.explained[1] <= tr.explained[0] < 1


# ---------------------------------------------------------------------------------------------------- ranking, gold
def test_read_gold_formats(tmp_path):
    graded = tmp_path / "graded.txt"
    graded.write_text("plane\t0.88\nchairman\t0\ngas\t0.16\n")
    binary = tmp_path / "binary.txt"
    binary.write_text("plane\t1\nchairman\t0\ngas\t0\n")
    g = S.read_gold(graded)
    assert g.graded == {"plane": 0.88, "chairman": 0.0, "gas": 0.16} and g.binary is None
    b = S.read_gold(binary)
    assert b.binary == {"plane": 1, "chairman": 0, "gas": 0} and b.graded is None
    both = g.merged(b)
    assert both.graded and both.binary
    dwug = S.read_gold(DEMO / "dwug_en" / "stats" / "opt" / "stats_groupings.csv")
    assert dwug.binary["plane_nn"] == 1 and dwug.graded["plane_nn"] == pytest.approx(0.8936, abs=1e-4)
    bad = tmp_path / "bad.txt"
    bad.write_text("plane 0.5 extra\n")
    with pytest.raises(S.GoldFileError, match="line 1"):
        S.read_gold(bad)
    with pytest.raises(S.GoldFileError, match="does not exist"):
        S.read_gold(tmp_path / "missing.txt")
    with pytest.raises(S.GoldFileError, match="not a number"):
        S.read_gold(b"plane\thigh\n", name="upload.tsv")


def test_ranking_spearman_and_binary_accuracy():
    targets = ["a_nn", "b_nn", "c_vb", "d_nn", "e_nn"]
    rank = pd.DataFrame({"target": targets, "apd": [0.5, 0.4, 0.3, 0.2, 0.1], "prt": [0.1, 0.2, 0.3, 0.4, 0.5],
                         "jsd": [0.5, 0.1, 0.4, 0.2, 0.3]})
    for m in S.METRICS:
        rank[f"{m}_p"] = 0.01
    gold = S.Gold(graded={"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0, "x": 1.0},
                  binary={"a_nn": 1, "b_nn": 1, "c_vb": 0, "d_nn": 0, "e_nn": 0})
    ev = S.evaluate_ranking(rank, gold)
    assert ev.n_graded == 4 and ev.matched["a_nn"] == "a"
    assert ev.spearman["apd"] == pytest.approx(1.0) and ev.spearman["prt"] == pytest.approx(-1.0)
    assert ev.spearman["jsd"] == pytest.approx(spearmanr([0.5, 0.1, 0.4, 0.2], [5, 4, 3, 2]).statistic)
    assert set(ev.spearman_json()) == {"apd", "prt", "jsd", "n"} and ev.spearman_json()["n"] == 4
    # rule "mean": changed when above the mean (0.3): apd -> a, b changed = gold
    assert ev.accuracy["apd"] == 1.0 and ev.accuracy["prt"] == pytest.approx(1 / 5)
    perm = S.evaluate_ranking(rank, gold, binary_rule="permutation")
    assert perm.accuracy["apd"] == pytest.approx(2 / 5)  # all p < 0.05 -> all "changed"
    with pytest.raises(S.GoldFileError, match="no target matches"):
        S.evaluate_ranking(rank, S.Gold(graded={"zzz": 1.0}, binary=None))


def test_rank_targets_orders_by_change(centres):
    rng = np.random.default_rng(9)
    results = {}
    for t, n_new in (("stable", 0), ("changed", 50), ("mild", 15)):
        Xa, ya = _blobs(rng, [40, 40], centres[:2])
        Xb, yb = _blobs(rng, [40 - n_new // 2, 40 - n_new // 2, n_new], centres)
        per = S.periods_from_codes(np.r_[np.zeros(80, int), np.ones(len(Xb), int)], ["1", "2"])
        results[t] = S.analyse_shift(np.vstack([Xa, Xb]), per, labels=np.r_[ya, yb], n_permutations=0, n_bootstrap=0,
                                     pairs="first_last")
    r = S.rank_targets(results)
    assert r["target"].tolist() == ["changed", "mild", "stable"]
    assert r.loc[r["target"] == "changed", "rank_jsd"].item() == 1


def test_rho_interval_and_permutation_p_over_targets():
    from scipy.stats import spearmanr

    from analysis.shift.evaluation import _row_pearson, _ranks, rho_uncertainty

    rng = np.random.default_rng(3)
    s, g = rng.normal(size=12), rng.normal(size=12)
    assert _row_pearson(_ranks(s)[None], _ranks(g)[None])[0] == pytest.approx(spearmanr(s, g).statistic)
    # five targets in the same order: only the identity and the reversal reach |rho| = 1, so p = 2 / 5! = 0.0167
    (lo, hi), p = rho_uncertainty([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], n_permutations=20000)
    assert lo == hi == pytest.approx(1.0) and p == pytest.approx(2 / 120, abs=0.004)
    (lo, hi), p = rho_uncertainty(s, g)
    rho = spearmanr(s, g).statistic
    assert lo < rho < hi and p > 0.05 and p == pytest.approx(spearmanr(s, g).pvalue, abs=0.06)
    assert rho_uncertainty(s, g) == ((lo, hi), p)  # seeded
    strong = g + 0.3 * rng.normal(size=12)
    (lo2, _), p2 = rho_uncertainty(strong, g)
    assert lo2 > 0.3 and p2 < 0.01
