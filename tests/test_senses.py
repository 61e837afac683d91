"""Known-answer tests for analysis.senses on planted data (no model needed)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from analysis import senses
from analysis.errors import ConfigError, SenseScopeError, TooFewPointsError


def blobs(n_per=40, k=4, dim=32, spread=0.3, seed=0):
    """k well-separated Gaussian blobs (centres far apart relative to the noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 5
    y = np.repeat(np.arange(k), n_per)
    X = centres[y] + rng.normal(scale=spread, size=(len(y), dim))
    return X.astype(np.float32), np.array([f"sense{c}" for c in y], dtype=object)


# ---------------------------------------------------------------------------------------------------- planted clusters

@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "hdbscan"])
def test_planted_blobs_are_recovered(method):
    X, y = blobs(seed=1)
    res = senses.cluster_vectors(senses.preprocess(X), method=method, k="auto", seed=0)
    sc = senses.cluster_scores(y, res.labels)
    assert res.k == 4
    assert sc.ari == pytest.approx(1.0)
    assert sc.purity == pytest.approx(1.0)
    assert sc.inverse_purity == pytest.approx(1.0)
    if method != "hdbscan":
        assert max(res.silhouette, key=res.silhouette.get) == 4
        assert set(res.silhouette) == set(range(2, 11))


def test_given_k_is_used():
    X, y = blobs()
    res = senses.cluster_vectors(X, k=6, seed=0)
    assert res.k == 6 and res.silhouette == {}
    assert len(np.unique(res.labels)) == 6
    # Clusters are numbered by decreasing size.
    sizes = np.bincount(res.labels)
    assert (np.diff(sizes) <= 0).all()


def test_shuffled_labels_give_ari_near_zero():
    X, y = blobs(n_per=100, k=3)
    labels = senses.cluster_vectors(X, k=3, seed=0).labels
    rng = np.random.default_rng(5)
    aris = [senses.cluster_scores(rng.permutation(y), labels).ari for _ in range(20)]
    assert abs(np.mean(aris)) < 0.02
    assert max(abs(a) for a in aris) < 0.05


def test_metrics_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b", "c"], size=300)
    c = np.where(rng.random(300) < 0.6, pd.Series(y).map({"a": 0, "b": 1, "c": 2}).to_numpy(), rng.integers(0, 4, 300))
    sc = senses.cluster_scores(y, c)
    assert sc.ari == pytest.approx(skm.adjusted_rand_score(y, c))
    assert sc.nmi == pytest.approx(skm.normalized_mutual_info_score(y, c))
    assert sc.v_measure == pytest.approx(skm.v_measure_score(y, c))
    cont = skm.cluster.contingency_matrix(y, c)  # labels x clusters
    assert sc.purity == pytest.approx(cont.max(axis=0).sum() / cont.sum())
    assert sc.inverse_purity == pytest.approx(cont.max(axis=1).sum() / cont.sum())
    assert np.array_equal(np.asarray(sc.contingency), cont.T)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_agglomerative_matches_sklearn(k):
    from sklearn.cluster import AgglomerativeClustering

    X, _ = blobs(n_per=25, k=3, spread=4.0, seed=4)  # overlapping blobs: the tree's shape matters
    ours = senses.cluster_vectors(X, method="agglomerative", k=k).labels
    ref = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(X)
    assert skm.adjusted_rand_score(ref, ours) == pytest.approx(1.0)


def test_purity_on_hand_computed_table():
    # 3 clusters x 2 labels: cluster 0 = 5 a + 1 b, cluster 1 = 1 a + 4 b, cluster 2 = 2 a + 3 b (N = 16).
    y = ["a"] * 5 + ["b"] * 1 + ["a"] * 1 + ["b"] * 4 + ["a"] * 2 + ["b"] * 3
    c = [0] * 6 + [1] * 5 + [2] * 5
    table = senses.contingency_table(y, c)
    assert table.loc[0, "a"] == 5 and table.loc[2, "b"] == 3
    # purity = (5 + 4 + 3) / 16; inverse purity = (max a = 5, max b = 4) / 16
    assert senses.purity(table) == pytest.approx(12 / 16)
    assert senses.inverse_purity(table) == pytest.approx(9 / 16)
    sc = senses.cluster_scores(y, c)
    assert sc.purity_f == pytest.approx(2 * (12 / 16) * (9 / 16) / (12 / 16 + 9 / 16))


def test_purity_rises_with_k_but_inverse_purity_falls():
    X, y = blobs(n_per=30, k=2)
    p = [senses.cluster_scores(y, senses.cluster_vectors(X, k=k, seed=0).labels) for k in (2, 8, 60)]
    assert p[0].purity == pytest.approx(1.0) and p[2].purity == pytest.approx(1.0)
    assert p[2].inverse_purity < p[0].inverse_purity


def test_missing_gold_labels_are_left_out():
    y = np.array(["a", "a", None, "b", "b", np.nan], dtype=object)
    c = np.array([0, 0, 1, 1, 1, 0])
    sc = senses.cluster_scores(y, c)
    assert sc.n == 4 and sc.ari == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------- seeds

@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_same_seed_same_projection(method):
    X, _ = blobs(n_per=20, k=3)
    a = senses.project(X, method=method, seed=7)
    b = senses.project(X, method=method, seed=7)
    c = senses.project(X, method=method, seed=8)
    assert np.array_equal(a.coords, b.coords)
    assert c.coords.shape == (60, 2) and np.isfinite(c.coords).all()


@pytest.mark.slow
def test_same_seed_same_umap_and_3d():
    X, _ = blobs(n_per=20, k=3)
    a = senses.project(X, method="umap", n_components=3, seed=1)
    b = senses.project(X, method="umap", n_components=3, seed=1)
    c = senses.project(X, method="umap", n_components=3, seed=2)
    assert a.coords.shape == (60, 3)
    assert np.array_equal(a.coords, b.coords)
    assert np.isfinite(c.coords).all()


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "hdbscan"])
def test_same_seed_same_clusters(method):
    X, _ = blobs(n_per=30, k=3, spread=3.0)  # overlapping, so the seed could matter
    a = senses.cluster_vectors(X, method=method, k=3, seed=11)
    b = senses.cluster_vectors(X, method=method, k=3, seed=11)
    c = senses.cluster_vectors(X, method=method, k=3, seed=12)
    assert np.array_equal(a.labels, b.labels)
    assert c.labels.shape == (90,) and c.k >= 1


# ---------------------------------------------------------------------------------------------------- errors

def test_too_few_points_for_umap_message():
    X = np.random.default_rng(0).normal(size=(3, 8))
    with pytest.raises(TooFewPointsError, match=r"UMAP with 15 neighbours needs at least 16 occurrences; there are 3"):
        senses.project(X, method="umap")


def test_too_few_points_for_tsne_message():
    X = np.random.default_rng(0).normal(size=(10, 8))
    with pytest.raises(TooFewPointsError, match="t-SNE with perplexity 30"):
        senses.project(X, method="tsne")


def test_k_larger_than_n():
    X = np.random.default_rng(0).normal(size=(4, 8))
    with pytest.raises(TooFewPointsError, match="Cannot make 5 clusters from 4 occurrences"):
        senses.cluster_vectors(X, k=5)


def test_one_label_only():
    with pytest.raises(TooFewPointsError, match="same gold label"):
        senses.cluster_scores(["a"] * 5, [0, 0, 1, 1, 1])
    X, _ = blobs(n_per=5, k=1)
    with pytest.raises(TooFewPointsError, match="two gold senses"):
        senses.predict_senses(X, ["a"] * 5)


def test_rare_sense_in_cross_validation():
    X, y = blobs(n_per=10, k=2)
    y = y.copy()
    y[0] = "lonely"
    res = senses.predict_senses(X, y)
    assert "lonely" in res.notice and "lonely" not in res.labels
    assert res.n_train == 19 and res.centroid_accuracy == pytest.approx(1.0)
    with pytest.raises(TooFewPointsError, match="at least two gold senses with 2 or more"):
        senses.predict_senses(X[:3], ["a", "a", "b"])


@pytest.mark.parametrize("kwargs,err", [({"method": "spectral"}, ConfigError), ({"k": 0}, ConfigError),
                                        ({"k": "many"}, ConfigError), ({"k_range": (1, 4)}, ConfigError)])
def test_bad_cluster_settings(kwargs, err):
    X, _ = blobs(n_per=5, k=2)
    with pytest.raises(err):
        senses.cluster_vectors(X, **kwargs)


def test_errors_are_sensescope_errors_with_one_sentence():
    with pytest.raises(SenseScopeError) as info:
        senses.project(np.zeros((2, 3)), method="pca", n_components=3)
    assert "\n" not in str(info.value)


def test_layer_specs():
    V = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    avail = [0, 1, 2, 3]
    assert np.array_equal(senses.layer_vectors(V, avail, 2), V[:, 2])
    assert np.allclose(senses.layer_vectors(V, avail, (-2, -1)), V[:, 2:].mean(axis=1))
    assert np.allclose(senses.layer_vectors(V, avail, "1-3"), V[:, 1:].mean(axis=1))
    assert senses.layer_label(avail, -1) == "3" and senses.layer_label(avail, (1, 3)) == "1-3"
    with pytest.raises(ConfigError, match="layer 7 is not in the embedding set"):
        senses.layer_vectors(V, avail, 7)


def test_preprocessing_removes_common_direction():
    rng = np.random.default_rng(0)
    common = rng.normal(size=16) * 10
    X = common + rng.normal(size=(200, 16))
    plain = senses.preprocess(X, senses.Preprocessing(normalize=True, remove_mean=False))
    centred = senses.preprocess(X, senses.Preprocessing(normalize=True, remove_mean=True))
    # Raw cosines are all high (shared direction); after removing it they are spread around 0.
    assert (plain @ plain.T).mean() > 0.8
    assert abs((centred @ centred.T)[np.triu_indices(200, 1)].mean()) < 0.05
    assert np.allclose(np.linalg.norm(centred, axis=1), 1, atol=1e-5)
    pc = senses.VectorPreprocessor(n_directions=2).fit(X)
    Z = pc.transform(X)
    assert np.abs(Z @ pc.directions_.T).max() < 1e-4


# ---------------------------------------------------------------------------------------------------- classifiers

def test_classifiers_on_planted_senses_cv_and_split():
    X, y = blobs(n_per=30, k=3, spread=1.0)
    cv = senses.predict_senses(X, y, seed=0)
    assert cv.mode == "cv" and cv.n_splits == 5
    assert cv.centroid_accuracy == pytest.approx(1.0) and cv.logreg_macro_f1 == pytest.approx(1.0)
    split = np.where(np.arange(len(y)) % 3 == 0, "test", "train")
    sp = senses.predict_senses(X, y, split=split)
    assert sp.mode == "split" and sp.n_test == 30 and sp.centroid_accuracy == pytest.approx(1.0)
    # Random labels: near chance (1/3), far from 1.
    rnd = senses.predict_senses(X, np.random.default_rng(0).permutation(y), seed=0)
    assert rnd.centroid_accuracy < 0.6


def test_nearest_centroid_is_cosine():
    X = np.array([[1, 0], [2, 0.1], [0, 1], [0.1, 3]], dtype=float)
    clf = senses.NearestCentroidClassifier().fit(X, ["x", "x", "y", "y"])
    # A long vector near the y axis belongs to y even though it is far from y's centroid in Euclidean terms.
    assert list(clf.predict(np.array([[0.5, 50.0], [30.0, 1.0]]))) == ["y", "x"]


# ---------------------------------------------------------------------------------------------------- descriptions

def test_class_tfidf_finds_distinctive_words():
    docs = ["the wing of the aircraft", "aircraft landed at the airport", "pilot flew the aircraft",
            "the geometry of a flat surface", "surface normal in geometry", "euclidean geometry surface"]
    labels = [0, 0, 0, 1, 1, 1]
    tf = senses.class_tfidf(docs, labels, top_n=2)
    assert set(tf[tf.cluster == 0].word) == {"aircraft"} | set(tf[tf.cluster == 0].word) - {"the"}
    assert tf[tf.cluster == 0].iloc[0].word == "aircraft"
    assert tf[tf.cluster == 1].word.iloc[:2].tolist() == ["geometry", "surface"]
    assert "the" not in set(tf.word)  # stop word


def test_context_windows_and_names_and_nearest():
    texts = ["one two three plane four five six", "plane at start"]
    w = senses.context_windows(texts, [14, 0], [19, 5], window=2)
    assert w == ["two three four five", "at start"]
    names = senses.cluster_names(np.array([0, 1, -1, 0]), {0: "aircraft"})
    assert names.tolist() == ["aircraft", "cluster 1", "noise", "aircraft"]
    X, y = blobs(n_per=10, k=2)
    labels = senses.cluster_vectors(X, k=2).labels
    nn = senses.nearest_to_centroids(X, labels, n=3)
    assert len(nn) == 6 and (nn.groupby("cluster")["similarity"].apply(lambda s: s.is_monotonic_decreasing)).all()
    assert all(labels[i] == c for i, c in zip(nn["index"], nn["cluster"]))
    d = senses.describe_clusters(X, labels, ["w"] * len(labels), names={1: "second"}, gold=y)
    assert d["size"].sum() == 20 and d.loc[d.cluster == 1, "name"].item() == "second"
    assert (d["majority_share"] == 1.0).all()


def test_score_layers_table():
    rng = np.random.default_rng(0)
    X, y = blobs(n_per=20, k=2)
    V = np.stack([rng.normal(size=X.shape), X], axis=1)  # layer 0 noise, layer 1 informative
    df = senses.score_layers(V, [0, 1], y, model="planted")
    assert list(df.layer) == ["0", "1"]
    assert df.loc[1, "ari"] == pytest.approx(1.0) and df.loc[0, "ari"] < 0.3
    assert {"purity", "inverse_purity", "nmi", "v_measure", "centroid_accuracy", "logreg_accuracy",
            "macro_f1"} <= set(df.columns)


# ---------------------------------------------------------------------------------------------------- scale

def test_fifty_thousand_points():
    """50,000 x 64 planted points: PCA projection, k-means with auto k, scores and probes (speed: bench/)."""
    X, y = blobs(n_per=12_500, k=4, dim=64, spread=1.0, seed=2)
    Z = senses.preprocess(X)
    proj = senses.project(Z, method="pca")
    res = senses.cluster_vectors(Z, k="auto", k_range=(2, 5), seed=0)
    sc = senses.cluster_scores(y, res.labels)
    pr = senses.predict_senses(Z, y, logreg=False)
    agg = senses.cluster_vectors(Z, method="agglomerative", k=4, seed=0)
    assert proj.coords.shape == (50_000, 2)
    assert res.k == 4 and sc.ari == pytest.approx(1.0)
    assert pr.centroid_accuracy == pytest.approx(1.0)
    assert "sample of 5,000 of the 50,000" in agg.notice
    assert senses.cluster_scores(y, agg.labels).ari == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------- seeds and specs

def test_seed_and_its_old_name_random_state_agree():
    X, y = blobs(n_per=20, k=3, spread=3.0)
    a = senses.cluster_vectors(X, k=3, seed=4)
    b = senses.cluster_vectors(X, k=3, random_state=4)
    assert np.array_equal(a.labels, b.labels) and a.params["seed"] == 4
    p = senses.project(X, method="tsne", perplexity=10, seed=3)
    q = senses.project(X, settings=senses.ProjectionSettings(method="tsne", perplexity=10), random_state=3)
    assert np.array_equal(p.coords, q.coords) and p.seed == q.random_state == 3
    assert senses.predict_senses(X, y, seed=1) == senses.predict_senses(X, y, random_state=1)
    V = np.stack([X, X], axis=1)
    pd.testing.assert_frame_equal(senses.score_layers(V, [0, 1], y, seed=2, logreg=False),
                                  senses.score_layers(V, [0, 1], y, scoring=senses.LayerScoring(logreg=False),
                                                      random_state=2))
    with pytest.raises(TypeError, match="n_boot"):
        senses.cluster_vectors(X, k=3, n_boot=5)
    with pytest.raises(TypeError, match="colour"):
        senses.project(X, method="pca", colour="red")


def test_generator_seeds_and_no_global_random_state():
    import random

    X, y = blobs(n_per=20, k=3, spread=3.0)
    np.random.seed(123)
    random.seed(123)
    before_np, before_py = np.random.get_state()[1].copy(), random.getstate()
    a = senses.cluster_vectors(X, method="hdbscan", seed=np.random.default_rng(9), max_pairwise=40)
    b = senses.cluster_vectors(X, method="hdbscan", seed=np.random.default_rng(9), max_pairwise=40)
    senses.project(X, method="tsne", perplexity=10, seed=np.random.default_rng(1), max_fit=40)
    senses.predict_senses(X, y, seed=np.random.default_rng(2))
    assert np.array_equal(a.labels, b.labels) and "sample of 40 of the 60" in a.notice
    assert np.array_equal(np.random.get_state()[1], before_np) and random.getstate() == before_py


def test_layer_specs_follow_analysis_layers():
    from analysis import layers

    V = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    avail = [0, 1, 2, 3, 4]
    assert np.allclose(senses.layer_vectors(V, avail, "1,3"), V[:, [1, 3]].mean(axis=1))
    assert np.allclose(senses.layer_vectors(V, avail, [0, -1]), V[:, [0, 4]].mean(axis=1))
    assert senses.layer_label(avail, "1,3,-1") == "1,3,4" and senses.layer_label(avail, "2..4") == "2-4"
    for spec in (None, 2, (1, 3), "1,3", "-2--1"):
        assert senses.resolve_layers(avail, spec) == layers.positions(avail, spec, default=senses.DEFAULT_LAYER)
    with pytest.raises(ConfigError, match="cannot read the layers"):
        senses.layer_vectors(V, avail, "top")


def test_one_record_schema_and_json_safe_results():
    X, y = blobs(n_per=15, k=2)
    cl = senses.cluster_vectors(X, k="auto", k_range=(2, 4), seed=0)
    sc = senses.cluster_scores(y, cl.labels)
    pr = senses.predict_senses(X, y, logreg=False)
    rec = senses.score_record(sc, pr)
    assert tuple(rec) == senses.SCORE_COLUMNS and rec["ari"] == sc.ari and np.isnan(rec["macro_f1"])
    assert all(v is None for v in senses.score_record(None, None).values())
    assert pr.to_dict()["logreg_accuracy"] is None and pr.as_dict() == pr.to_dict()  # NaN -> None
    assert set(cl.to_dict()["silhouette"]) == {"2", "3", "4"} and cl.to_dict()["params"]["seed"] == 0
    df = senses.score_layers(np.stack([X], axis=1), [0], y, logreg=False)
    assert list(df.columns) == ["model", "layer", "k", *senses.SCORE_COLUMNS, "n"]


@pytest.mark.parametrize("prep", [senses.Preprocessing(), senses.Preprocessing(normalize=False),
                                  senses.Preprocessing(remove_mean=True), senses.Preprocessing(n_directions=2)])
@pytest.mark.parametrize("layer", [-1, (1, 3), "0,2"])
def test_prepared_layer_equals_the_two_steps(tmp_path, monkeypatch, prep, layer):
    """prepared_layer (one pass over row blocks when nothing is fitted) gives exactly the values of preprocess after
    layer_vectors, on a float16 memmap whose row count is not a multiple of the block, with a zero row kept at zero."""
    from analysis.senses import vectors as V

    monkeypatch.setattr(V, "BLOCK_ROWS", 7)
    rng = np.random.default_rng(4)
    data = rng.normal(size=(52, 4, 16)).astype(np.float16)
    data[10] = 0
    np.save(tmp_path / "v.npy", data)
    mm = np.load(tmp_path / "v.npy", mmap_mode="r")
    available = [0, 1, 2, 3]
    got = senses.prepared_layer(mm, available, layer, prep)
    want = senses.preprocess(senses.layer_vectors(mm, available, layer), prep)
    assert got.dtype == np.float32 and got.shape == (52, 16)
    assert np.array_equal(got, want)
    if not (prep.remove_mean or prep.n_directions):
        assert not got[10].any() and np.allclose(np.linalg.norm(np.delete(got, 10, 0), axis=1), 1, atol=1e-5) \
            == prep.normalize


def test_prepared_layer_refuses_what_the_two_steps_refuse(monkeypatch):
    from analysis.senses import vectors as V

    monkeypatch.setattr(V, "BLOCK_ROWS", 5)
    bad = np.ones((12, 2, 3), dtype=np.float32)
    bad[11, 1, 2] = np.nan  # in the last block only
    with pytest.raises(ConfigError, match="NaN"):
        senses.prepared_layer(bad, [0, 1], -1)
    with pytest.raises(TooFewPointsError):
        senses.prepared_layer(np.ones((0, 2, 3), dtype=np.float32), [0, 1], -1)
    with pytest.raises(ConfigError, match="layer"):
        senses.prepared_layer(np.ones((3, 2, 3), dtype=np.float32), [0, 1], 5)
