"""Big embedding sets (issue 12): k-means and PCA fitted on a seeded sample above their size limits, the large
scatter drawn for size. The limits are lowered here so that planted sets of a few thousand points take that path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import senses as S
from analysis.errors import ConfigError
from analysis.plots import raster
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


def test_large_scatter_is_a_density_image_of_every_point_with_sampled_markers(monkeypatch):
    import base64
    import io

    from PIL import Image

    monkeypatch.setattr(P, "LARGE_SCATTER", 50)
    n = 120
    rng = np.random.default_rng(0)
    kwic = np.array([""] * n, dtype=object)
    kwic[:10] = [f"context <b>{i}</b>" for i in range(10)]
    groups = np.where(np.arange(n) % 2, "s1", "s0")
    df = pd.DataFrame({"occurrence_id": np.arange(n) + 1000, "x": rng.normal(size=n), "y": rng.normal(size=n),
                       "kwic": kwic, "cluster_name": groups})
    fig = P.plot_projection(df, color="cluster_name")
    assert {t.type for t in fig.data} == {"scattergl"} and len(fig.data) == 2
    # markers: the 10 rows with a context, as float32 / int32 binary arrays, hover = context, group, id
    assert sum(len(t.x) for t in fig.data) == 10
    assert all(np.asarray(t.x).dtype == np.float32 and np.asarray(t.customdata).dtype == np.int32 for t in fig.data)
    s0 = fig.data[[t.name for t in fig.data].index("s0")]
    assert "occurrence %{customdata}" in s0.hovertemplate and "s0" in s0.hovertemplate
    assert list(s0.customdata) == [1000, 1002, 1004, 1006, 1008] and s0.text[0].startswith("context <b>0</b>")
    # the image holds every point: as many lit pixels as distinct pixels of the 120 points, each of a group colour
    meta = fig.layout.meta["raster"]
    assert meta["points"] == n and meta["markers"] == 10
    (image,) = fig.layout.images
    rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1]))))
    assert rgba.shape == (meta["height"], meta["width"], 4)
    pix = raster._pixels(df["x"], df["y"], meta["box"], meta["width"], meta["height"])
    lit = np.flatnonzero(rgba[..., 3].ravel() > 0)
    assert set(lit) == set(pix)
    from analysis.plots import theme

    c0 = np.array([int(theme.sense_color("s0").lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])
    only0 = [p for p in set(pix[groups == "s0"]) if p not in set(pix[groups == "s1"])]
    assert np.abs(rgba.reshape(-1, 4)[only0, :3].astype(int) - c0).max() <= 1
    assert list(fig.layout.xaxis.range) == [meta["box"][0], meta["box"][1]]
    small = P.plot_projection(df.iloc[:40], color="cluster_name")
    assert all(t.type == "scatter" for t in small.data) and not small.layout.images


def test_numeric_colour_density_image_and_colour_bar(monkeypatch):
    monkeypatch.setattr(P, "LARGE_SCATTER", 50)
    n = 200
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"occurrence_id": np.arange(n), "x": rng.normal(size=n), "y": rng.normal(size=n),
                       "year": rng.integers(1900, 2000, n)})
    fig = P.plot_projection(df, color="year")
    (trace,) = fig.data
    assert trace.marker.showscale and trace.marker.cmin == df["year"].min() and trace.marker.cmax == df["year"].max()
    assert fig.layout.meta["raster"]["points"] == n and len(fig.layout.images) == 1


def test_inside_boxes_and_lassos_equal_matplotlib_paths():
    from matplotlib.path import Path as MPath

    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1, 1, 5000), rng.uniform(-1, 1, 5000)
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    r = 0.5 + 0.3 * np.sin(3 * t)  # a star-like, non-convex polygon
    px, py = r * np.cos(t), r * np.sin(t)
    want = MPath(np.column_stack([px, py])).contains_points(np.column_stack([x, y]))
    got = raster.inside(x, y, lassos=[(px, py)])
    assert want.sum() > 500 and (got != want).sum() <= 2  # points on an edge may go either way
    box = raster.inside(x, y, boxes=[([0.2, -0.1], [0.0, 0.5])])
    assert np.array_equal(box, (x >= -0.1) & (x <= 0.2) & (y >= 0) & (y <= 0.5))
    both = raster.inside(x, y, boxes=[([0.2, -0.1], [0.0, 0.5])], lassos=[(px, py)])
    assert np.array_equal(both, box | got)


def test_a_lasso_on_a_big_scatter_lists_every_occurrence_under_it():
    from ui import explore as ue

    view = pd.DataFrame({"occurrence_id": [10, 11, 12, 13], "x": [0.0, 1.0, 2.0, 0.5], "y": [0.0, 1.0, 2.0, 0.2]})
    state = {"selection": {"points": [{"customdata": 10}], "box": [],
                           "lasso": [{"xref": "x", "yref": "y", "x": [-1, 1.5, 1.5, -1], "y": [-1, -1, 1.5, 1.5]}]}}
    assert ue.selected_ids(state) == [10]  # the sampled marker only
    assert ue.selected_ids(state, view) == [10, 11, 13]  # every point under the lasso
    box = {"selection": {"points": [], "lasso": [], "box": [{"x": [1.5, 2.5], "y": [1.5, 2.5]}]}}
    assert ue.selected_ids(box, view) == [12]


def _memmap_set(tmp_path, n_per=700, layers=3, dim=16, seed=0):
    """A float16 memory-mapped (n, layers, dim) set of three planted senses (the store's layout), with its gold."""
    X, gold = blobs(n_per, dim=dim, seed=seed)
    rng = np.random.default_rng(seed + 1)
    data = np.stack([X + rng.normal(scale=0.3, size=X.shape) for _ in range(layers)], axis=1).astype(np.float16)
    np.save(tmp_path / "v.npy", data)
    return np.load(tmp_path / "v.npy", mmap_mode="r"), list(range(layers)), gold


@pytest.mark.parametrize("layer", [-1, "0-2"])
def test_lazy_layer_reads_the_values_prepared_layer_makes(tmp_path, monkeypatch, layer):
    """Rows in any order, negative indices, masks, slices, one row and the blocks are bit for bit the rows of
    prepared_layer, read without making the matrix; np.asarray makes it once and later reads come from it."""
    from analysis.senses import vectors as V

    monkeypatch.setattr(V, "BLOCK_ROWS", 97)  # the row count is no multiple of the block
    mm, available, _ = _memmap_set(tmp_path)
    want = S.prepared_layer(mm, available, layer)
    lazy = S.lazy_layer(mm, available, layer)
    assert isinstance(lazy, S.LazyLayer) and lazy.shape == want.shape and len(lazy) == len(want)
    rows = np.random.default_rng(2).choice(len(want), 500, replace=False)  # unsorted
    assert np.array_equal(lazy[rows], want[rows])
    assert np.array_equal(lazy[[-1, 0, 5]], want[[-1, 0, 5]]) and np.array_equal(lazy[7], want[7])
    mask = np.arange(len(want)) % 3 == 0
    assert np.array_equal(lazy[mask], want[mask]) and np.array_equal(lazy[10:400:7], want[10:400:7])
    monkeypatch.setattr(V, "PASS_THREADS", 3)  # results in row order whatever thread finishes first
    parts = lazy.map_blocks(lambda b: b)
    assert [len(p) for p in parts[:3]] == [97, 97, 97] and np.array_equal(np.concatenate(parts), want)
    assert not lazy.made
    with pytest.raises(IndexError):
        lazy[[len(want)]]
    full = np.asarray(lazy)
    assert lazy.made and np.array_equal(full, want) and not full.flags.writeable
    assert np.asarray(lazy) is full and np.array_equal(lazy[rows], want[rows])
    assert np.array_equal(lazy @ np.eye(16, dtype=np.float32), want)  # numpy reads it like an array


def test_lazy_layer_is_only_for_a_preparation_that_learns_nothing(tmp_path):
    mm, available, _ = _memmap_set(tmp_path, n_per=20)
    made = S.lazy_layer(mm, available, -1, S.Preprocessing(remove_mean=True))
    assert isinstance(made, np.ndarray)
    assert np.array_equal(made, S.prepared_layer(mm, available, -1, S.Preprocessing(remove_mean=True)))
    with pytest.raises(ConfigError, match="layer 5"):
        S.lazy_layer(mm, available, 5)


def test_kmeans_and_pca_of_a_big_lazy_layer_never_make_the_matrix(tmp_path, monkeypatch):
    """Above the sample sizes, k-means (auto-k) and PCA read a LazyLayer's sample and then one pass of blocks: the
    labels are those of the made matrix, the coordinates equal to float precision, and the matrix is never made.
    Methods that need every vector (a graph method here) make it and give the made matrix's answer."""
    from analysis.senses import vectors as V

    monkeypatch.setattr(V, "BLOCK_ROWS", 256)
    monkeypatch.setattr(clustering, "MAX_KMEANS_POINTS", 1_000)
    monkeypatch.setattr(clustering, "MAX_FIT_POINTS", 300)
    monkeypatch.setattr(projection, "MAX_PCA_FIT", 500)
    mm, available, gold = _memmap_set(tmp_path)
    want = S.prepared_layer(mm, available, -1)
    lazy = S.lazy_layer(mm, available, -1)
    from sklearn.metrics import adjusted_rand_score

    for kwargs in ({"k": "auto", "min_silhouette": 0.15}, {"k": 4}):
        a = S.cluster_vectors(lazy, method="kmeans", seed=3, **kwargs)
        b = S.cluster_vectors(want, method="kmeans", seed=3, **kwargs)
        assert np.array_equal(a.labels, b.labels) and a.k == b.k and a.silhouette == b.silhouette
        assert a.notice == b.notice and "300" in a.notice
        if kwargs["k"] == "auto":  # the planted senses, found on the sample and placed for every row
            assert a.k == 3 and adjusted_rand_score(gold, a.labels) == pytest.approx(1.0)
    agg = S.cluster_vectors(lazy, method="agglomerative", k=3, seed=0)
    assert np.array_equal(agg.labels, S.cluster_vectors(want, method="agglomerative", k=3, seed=0).labels)
    pa, pb = S.project(lazy, method="pca", seed=1), S.project(want, method="pca", seed=1)
    assert pa.n_fit == pb.n_fit == 500 and pa.notice == pb.notice
    np.testing.assert_allclose(pa.coords, pb.coords, rtol=0, atol=1e-5)
    assert not lazy.made  # neither made the matrix
    graph = S.cluster_vectors(lazy, method="correlation", threshold=0.9, seed=0)
    assert lazy.made
    assert np.array_equal(graph.labels, S.cluster_vectors(want, method="correlation", threshold=0.9, seed=0).labels)


@pytest.mark.parametrize("n_per, metric", [(400, "euclidean"), (1_500, "euclidean"), (1_500, "cosine")])
def test_auto_k_silhouettes_are_sklearns_scores_from_one_distance_matrix(n_per, metric):
    """Above and below the silhouette sample (3,000 rows): the scores of every k are silhouette_score's, on its seeded
    sample, from one distance matrix; one label in the sample gives NaN, not an error."""
    from sklearn.metrics import silhouette_score

    X, _ = blobs(n_per, k=3)
    rng = np.random.default_rng(1)
    candidates = {k: rng.integers(0, k, len(X)) for k in (2, 3, 5)} | {9: np.zeros(len(X), dtype=int)}
    got = clustering._silhouettes(X, candidates, metric, seed=4)
    sample = clustering.SILHOUETTE_SAMPLE if len(X) > clustering.SILHOUETTE_SAMPLE else None
    for k in (2, 3, 5):
        want = silhouette_score(X, candidates[k], metric=metric, sample_size=sample, random_state=4)
        assert got[k] == pytest.approx(want, abs=1e-6)
    assert np.isnan(got[9])


def test_auto_k_fits_each_k_as_one_fit_alone_would():
    """The k of auto-k run side by side on threads: each k's labels are those of the same fit run by itself."""
    X, _ = blobs(300, k=4)
    ks = [2, 3, 4, 5, 6]
    together, metric = clustering._labels_per_k(X, "kmeans", ks, seed=2, n_init=3)
    assert metric == "euclidean" and list(together) == ks
    for k in ks:
        assert np.array_equal(together[k], clustering._kmeans(X, k, 2, 3))


def test_a_rider_is_computed_by_the_next_pass_whoever_asks_for_it(tmp_path, monkeypatch):
    from analysis.senses import vectors as V

    monkeypatch.setattr(V, "BLOCK_ROWS", 256)
    mm, available, _ = _memmap_set(tmp_path)
    want = S.prepared_layer(mm, available, -1)
    lazy = S.lazy_layer(mm, available, -1)
    lazy.ride("norms", lambda block: np.linalg.norm(block, axis=1))
    assert lazy.ridden("norms") is None  # nothing before a pass
    sums = np.concatenate(lazy.map_blocks(lambda block: block.sum(axis=1)))  # someone else's pass
    np.testing.assert_array_equal(sums, want.sum(axis=1))  # that pass's own result is unchanged
    np.testing.assert_array_equal(lazy.ridden("norms"), np.linalg.norm(want, axis=1))
    lazy.ride("norms", lambda block: block[:, 0])  # a key already computed is kept: no second rider
    lazy.map_blocks(lambda block: None)
    np.testing.assert_array_equal(lazy.ridden("norms"), np.linalg.norm(want, axis=1))


def test_a_planned_pca_rides_on_the_clusters_pass(tmp_path, monkeypatch):
    """The Senses page plans its PCA before the clusters: k-means' assignment pass also projects every row, the PCA
    then reads no block, and the coordinates are those of a PCA with its own pass; a PCA not planned (3-D here) still
    gets its pass."""
    from analysis.senses import vectors as V

    monkeypatch.setattr(V, "BLOCK_ROWS", 256)
    monkeypatch.setattr(clustering, "MAX_KMEANS_POINTS", 1_000)
    monkeypatch.setattr(clustering, "MAX_FIT_POINTS", 300)
    monkeypatch.setattr(projection, "MAX_PCA_FIT", 500)
    mm, available, _ = _memmap_set(tmp_path)
    alone = S.project(S.lazy_layer(mm, available, -1), method="pca", seed=1)
    lazy = S.lazy_layer(mm, available, -1)
    passes = []
    real = V.LazyLayer.map_blocks
    monkeypatch.setattr(V.LazyLayer, "map_blocks",
                        lambda self, fn, rows=None: passes.append(fn) or real(self, fn, rows))
    S.plan_pca(lazy, 2, seed=1)
    S.plan_pca(lazy, 2, seed=1)  # planned twice: still one rider
    cl = S.cluster_vectors(lazy, method="kmeans", k="auto", seed=3)
    assert len(passes) == 1 and cl.k == 3
    planned = S.project(lazy, method="pca", seed=1)
    assert len(passes) == 1  # no pass of its own
    np.testing.assert_array_equal(planned.coords, alone.coords)
    assert planned.params == alone.params and planned.notice == alone.notice
    three = S.project(lazy, method="pca", n_components=3, seed=1)
    assert len(passes) == 2 and three.coords.shape == (len(lazy), 3)
    np.testing.assert_allclose(three.coords[:, :2], alone.coords, atol=1e-5)
    assert not lazy.made
