"""Sense induction that can answer "one sense": graph methods, the k = 1 test, one-sense scoring and the CLI on
planted data (the embedding step is replaced by planted vectors, so the expected answer is known)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import senses
from analysis import shift as S
from analysis.errors import ConfigError

DIM = 48


def _blob(rng, centre, n, spread):
    return centre + spread * rng.normal(size=(n, len(centre)))


def one_blob(n=150, seed=0, spread=0.3):
    """One tight blob around a unit centre (noise of norm ~``spread``: cosines ~0.92 after L2): one sense."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=DIM)
    return _blob(rng, centre / np.linalg.norm(centre), n, spread / np.sqrt(DIM))


def three_blobs(n=60, seed=1):
    """Three well separated blobs (near-orthogonal centres)."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(DIM, 3)))[0].T
    X = np.concatenate([_blob(rng, c, n, 0.15 / np.sqrt(DIM)) for c in centres])
    return X, np.repeat(["a", "b", "c"], n)


def default_clusters(X, seed=0):
    """The clustering the CLI and the page run by default: DEFAULT_METHOD, k auto, the k = 1 test's threshold."""
    return senses.cluster_vectors(X, method=senses.DEFAULT_METHOD, k="auto", seed=seed,
                                  min_silhouette=senses.DEFAULT_MIN_SILHOUETTE, threshold=senses.DEFAULT_THRESHOLD,
                                  preference=senses.DEFAULT_PREFERENCE)


def test_planted_one_blob_default_finds_one_cluster_ari_1():
    X = senses.preprocess(one_blob())
    cl = default_clusters(X)
    assert cl.method == senses.DEFAULT_METHOD
    assert cl.k == 1 and set(cl.labels) == {0}
    sc = senses.score_clusters(np.array(["only"] * len(X), dtype=object), cl.labels)
    assert sc.ari == 1.0 and sc.purity == 1.0 and sc.nmi == 1.0 and sc.n_labels == 1


def test_planted_three_blobs_default_finds_three():
    X, y = three_blobs()
    cl = default_clusters(senses.preprocess(X))
    assert cl.k == 3
    assert senses.score_clusters(y, cl.labels).ari == pytest.approx(1.0)


@pytest.mark.parametrize("method,kw", [("correlation", {"threshold": 0.5}), ("chinese_whispers", {"threshold": 0.5}),
                                       ("affinity", {"preference": 0.0}),
                                       ("kmeans", {"min_silhouette": 0.2}), ("agglomerative", {"min_silhouette": 0.2})])
def test_each_method_by_name_on_three_blobs(method, kw):
    X, y = three_blobs(seed=3)
    cl = senses.cluster_vectors(senses.preprocess(X), method=method, seed=0, **kw)
    assert cl.k == 3 and cl.method == method
    assert senses.score_clusters(y, cl.labels).ari == pytest.approx(1.0)
    assert list(np.bincount(cl.labels)) == sorted(np.bincount(cl.labels), reverse=True)  # numbered by size


# (Agglomerative average linkage is left out: cut at k = 2 it splits one outlier off a blob, whose silhouette is high.)
@pytest.mark.parametrize("method,kw", [("correlation", {"threshold": 0.5}), ("chinese_whispers", {"threshold": 0.5}),
                                       ("kmeans", {"min_silhouette": 0.2})])
def test_one_sense_answer_for_each_method_that_can_give_it(method, kw):
    cl = senses.cluster_vectors(senses.preprocess(one_blob(seed=5)), method=method, seed=0, **kw)
    assert cl.k == 1


def test_without_the_k1_test_kmeans_splits_one_blob():
    """The old behaviour, for contrast: silhouette over k >= 2 never answers one cluster."""
    cl = senses.cluster_vectors(senses.preprocess(one_blob()), method="kmeans", k="auto", seed=0)
    assert cl.k >= 2
    cl1 = senses.cluster_vectors(senses.preprocess(one_blob()), method="kmeans", k="auto", seed=0, min_silhouette=0.2)
    assert cl1.k == 1 and "one-sense threshold" in cl1.notice and cl1.params["min_silhouette"] == 0.2


def test_stable_word_split_by_period_has_jsd_zero_and_is_not_significant():
    """One sense whose usages drift along a planted time direction: no sense change, so JSD ~ 0 and p ~ 1."""
    rng = np.random.default_rng(7)
    X = one_blob(n=200, seed=7)
    period = np.repeat([0, 1], 100)
    mean = X.mean(axis=0) / np.linalg.norm(X.mean(axis=0))
    drift = rng.normal(size=DIM)
    drift -= (drift @ mean) * mean  # across the blob (a drift along its mean would vanish in the L2 normalisation)
    X = X + 0.12 * np.outer(period - 0.5, drift / np.linalg.norm(drift))
    Z = senses.preprocess(X)
    labels = default_clusters(Z).labels
    a, b = labels[period == 0], labels[period == 1]
    assert S.jsd(a, b) == pytest.approx(0.0, abs=1e-3)
    res = S.compare_periods(Z[period == 0], Z[period == 1], labels_a=a, labels_b=b, metrics=("jsd",),
                            inference=S.Inference(n_permutations=199, n_bootstrap=50, seed=0))
    assert res["jsd"].p_value > 0.05
    # The old default splits the same word along time: JSD far from 0 (what the issue measured on DWUG).
    old = senses.cluster_vectors(senses.preprocess(X), method="kmeans", k="auto", seed=0).labels
    assert S.jsd(old[period == 0], old[period == 1]) > 0.2


def _stable_and_changed(seed=7):
    """Two targets over two periods: "stable" = one sense drifting across the blob with time (no sense change),
    "changed" = a second sense that appears in the second period only."""
    rng = np.random.default_rng(seed)
    X = one_blob(n=200, seed=seed)
    period = np.repeat([0, 1], 100)
    mean = X.mean(axis=0) / np.linalg.norm(X.mean(axis=0))
    drift = rng.normal(size=DIM)
    drift -= (drift @ mean) * mean
    stable = X + 0.12 * np.outer(period - 0.5, drift / np.linalg.norm(drift))
    B, _ = three_blobs(n=100, seed=seed)
    changed = np.concatenate([B[:100], B[:50], B[100:150]])  # period 1: half the old sense, half a new one
    occ = pd.DataFrame({"target": np.repeat(["stable", "changed"], 200), "period": np.tile(period, 2).astype(str)})
    return occ, np.concatenate([stable, changed])


def test_shift_ranking_default_senses_leave_a_stable_word_at_jsd_zero():
    """The shift path (shift-rank, the Shift page): its k-means senses for JSD use the same one-sense test, so a
    stable word drifting with time has JSD ~ 0, not significant, while a planted new sense is found; without the
    test (min_silhouette None, the old default) the stable word is split along time."""
    occ, X = _stable_and_changed()
    ranking, results, skipped = S.shift_many(occ, X, period_column="period", n_permutations=199, n_bootstrap=0)
    assert not skipped
    r = ranking.set_index("target")
    assert r.loc["stable", "jsd"] == pytest.approx(0.0, abs=1e-3) and r.loc["stable", "jsd_p"] > 0.05
    assert r.loc["changed", "jsd"] > 0.2 and r.loc["changed", "jsd_p"] < 0.01
    old, _, _ = S.shift_many(occ, X, period_column="period", n_permutations=0, n_bootstrap=0, min_silhouette=None)
    assert old.set_index("target").loc["stable", "jsd"] > 0.2


def test_graph_methods_sample_large_sets_and_validate_options():
    X, y = three_blobs(n=80, seed=4)
    cl = senses.cluster_vectors(senses.preprocess(X), method="correlation", threshold=0.5, max_pairwise=100, seed=2)
    assert cl.k == 3 and "random sample of 100" in cl.notice
    assert senses.score_clusters(y, cl.labels).ari == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="threshold must lie between -1 and 1"):
        senses.cluster_vectors(X, method="correlation", threshold=1.5)
    with pytest.raises(ConfigError, match="quantile must lie between 0 and 1"):
        senses.cluster_vectors(X, method="affinity", preference=2)
    given = senses.cluster_vectors(senses.preprocess(X), method="chinese_whispers", threshold=0.5, k=5)
    assert "k you gave was not used" in given.notice


def test_small_clusters_join_the_most_similar_one():
    X, y = three_blobs(n=50, seed=6)
    rng = np.random.default_rng(0)
    outlier = rng.normal(size=(1, DIM))
    Xo = senses.preprocess(np.vstack([X, outlier]))
    cl = senses.cluster_vectors(Xo, method="correlation", threshold=0.5, seed=0, min_cluster_size=3)
    assert cl.k == 3 and cl.params["k_before_merge"] == 4 and "joined" in cl.notice
    raw = senses.cluster_vectors(Xo, method="correlation", threshold=0.5, seed=0, min_cluster_size=1)
    assert raw.k == 4


def test_same_seed_same_labels_graph_methods():
    X, _ = three_blobs(seed=8)
    Z = senses.preprocess(X + 0.3 * np.random.default_rng(1).normal(size=X.shape) / np.sqrt(DIM))
    for method in ("correlation", "chinese_whispers"):
        a = senses.cluster_vectors(Z, method=method, threshold=0.3, seed=3).labels
        b = senses.cluster_vectors(Z, method=method, threshold=0.3, seed=3).labels
        assert (a == b).all()


def test_score_clusters_one_gold_sense():
    gold = np.array(["s"] * 10, dtype=object)
    one, two = np.zeros(10, int), np.r_[np.zeros(6, int), np.ones(4, int)]
    assert senses.score_clusters(gold, one).ari == 1.0
    s2 = senses.score_clusters(gold, two)
    assert s2.ari == 0.0 and s2.purity == 1.0 and s2.inverse_purity == pytest.approx(0.6)
    # two senses: the same as cluster_scores
    g2 = np.array(["a"] * 5 + ["b"] * 5, dtype=object)
    assert senses.score_clusters(g2, two).ari == senses.cluster_scores(g2, two).ari


# ----------------------------------------------------------------------------------------------------------------
# The CLI on planted vectors
# ----------------------------------------------------------------------------------------------------------------

def _planted_cli(monkeypatch, tmp_path, X, gold, extra=()):
    """Run ``senses`` on a corpus of len(X) rows whose embedding is X at every layer (0..2)."""
    from analysis import store
    from analysis.cli import main

    n = len(X)
    corpus = tmp_path / "c.csv"
    pd.DataFrame({"text": [f"the bank number {i} here" for i in range(n)], "sense": gold}).to_csv(corpus, index=False)
    V = np.repeat(np.asarray(X, dtype=np.float32)[:, None, :], 3, axis=1)

    def fake(occ, model=None, **kw):
        assert len(occ) == n
        return store.EmbeddingSet(V, (0, 1, 2), occ, {"model": "planted"}, key="planted")

    monkeypatch.setattr(store, "get_or_compute", fake)
    out = tmp_path / "out"
    rc = main(["senses", str(corpus), "--target", "bank", "--label-column", "sense", "--projection", "pca",
               "--formats", "html", "--out", str(out), *extra])
    return rc, out


def test_cli_one_gold_sense_is_scored_not_an_error(monkeypatch, tmp_path, capsys):
    X = one_blob(n=60, seed=2)
    rc, out = _planted_cli(monkeypatch, tmp_path, X, ["river"] * len(X))
    assert rc == 0, capsys.readouterr().err
    (rec,) = json.loads((out / "metrics.json").read_text())
    assert rec["k"] == 1 and rec["ari"] == 1.0 and rec["purity"] == 1.0 and rec["nmi"] == 1.0
    assert rec["centroid_accuracy"] is None and rec["logreg_accuracy"] is None
    assert "classifiers skipped" in rec["classifier_note"] and "two gold senses" in rec["classifier_note"]
    assert rec["method"] == senses.DEFAULT_METHOD and rec["clustering"]["method"] == senses.DEFAULT_METHOD
    assert any(out.glob("contingency_*.html")) and any(out.glob("projection_*.html"))
    assert "classifiers skipped" in capsys.readouterr().err


def test_cli_one_gold_sense_with_k_gold(monkeypatch, tmp_path):
    X = one_blob(n=40, seed=3)
    rc, out = _planted_cli(monkeypatch, tmp_path, X, ["river"] * len(X), ["--method", "kmeans", "--k", "gold"])
    assert rc == 0
    (rec,) = json.loads((out / "metrics.json").read_text())
    assert rec["k"] == 1 and rec["ari"] == 1.0 and rec["k_requested"] == "gold"


def test_cli_three_planted_senses(monkeypatch, tmp_path):
    X, y = three_blobs(n=30, seed=9)
    rc, out = _planted_cli(monkeypatch, tmp_path, X, list(y))
    assert rc == 0
    (rec,) = json.loads((out / "metrics.json").read_text())
    assert rec["k"] == 3 and rec["ari"] == pytest.approx(1.0) and rec["classifier_note"] is None
    assert rec["centroid_accuracy"] == pytest.approx(1.0)


def test_cli_graph_options_reach_the_clustering(monkeypatch, tmp_path, capsys):
    X, y = three_blobs(n=30, seed=10)
    rc, out = _planted_cli(monkeypatch, tmp_path, X, list(y), ["--method", "correlation", "--threshold", "0.97"])
    assert rc == 0
    (rec,) = json.loads((out / "metrics.json").read_text())
    assert rec["clustering"]["threshold"] == 0.97 and rec["method"] == "correlation"
    (tmp_path / "b").mkdir()
    with pytest.raises(SystemExit) as exc:  # refused while the arguments are read, as argparse refuses any bad value
        _planted_cli(monkeypatch, tmp_path / "b", X, list(y), ["--min-silhouette", "x"])
    assert exc.value.code == 2 and "cannot read --min-silhouette 'x'" in capsys.readouterr().err


def test_stability_tells_a_blob_from_separated_senses():
    """k-means on one cloud gives partitions that move with the subsample; on separated senses the same one."""
    blob = senses.preprocess(one_blob(n=200))
    X, _ = three_blobs()
    X = senses.preprocess(X)
    assert senses.stability(blob, 2, seed=0) < 0.6
    assert senses.stability(X, 3, seed=0) > 0.95
    assert senses.stability(X, 3, seed=0) == senses.stability(X, 3, seed=0)  # seeded
    assert np.isnan(senses.stability(X[:3], 3, seed=0))  # too few rows for k clusters


def test_min_stability_answers_one_sense_for_a_blob_and_keeps_three():
    blob = senses.preprocess(one_blob(n=200))
    X, y = three_blobs()
    X = senses.preprocess(X)
    free = senses.cluster_vectors(blob, method="kmeans", k="auto", seed=0)
    assert free.k >= 2  # without a one-sense test the blob is split
    cl = senses.cluster_vectors(blob, method="kmeans", k="auto", seed=0, min_stability=0.8)
    assert cl.k == 1 and "not stable" in cl.notice and cl.params["min_stability"] == 0.8
    for method in ("kmeans", "agglomerative"):
        three = senses.cluster_vectors(X, method=method, k="auto", seed=0, min_stability=0.8)
        assert three.k == 3 and senses.score_clusters(y, three.labels).ari == pytest.approx(1.0)


def test_cli_min_stability_reaches_the_clustering(monkeypatch, tmp_path, capsys):
    X = one_blob(n=120, seed=4)
    rc, out = _planted_cli(monkeypatch, tmp_path, X, ["river"] * len(X),
                           ["--method", "kmeans", "--min-silhouette", "none", "--min-stability", "0.8"])
    assert rc == 0, capsys.readouterr().err
    (rec,) = json.loads((out / "metrics.json").read_text())
    assert rec["k"] == 1 and rec["ari"] == 1.0 and rec["clustering"]["min_stability"] == 0.8
    (tmp_path / "b").mkdir()
    rc, out = _planted_cli(monkeypatch, tmp_path / "b", X, ["river"] * len(X),
                           ["--method", "kmeans", "--min-silhouette", "none"])
    assert rc == 0 and json.loads((out / "metrics.json").read_text())[0]["k"] >= 2  # off: the blob is split
    (tmp_path / "c").mkdir()
    with pytest.raises(SystemExit) as exc:
        _planted_cli(monkeypatch, tmp_path / "c", X, ["river"] * len(X), ["--min-stability", "high"])
    assert exc.value.code == 2 and "cannot read --min-stability 'high'" in capsys.readouterr().err
