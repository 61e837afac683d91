"""2-D/3-D projections of the occurrences for viewing (PCA, UMAP, t-SNE), reproducible for a given seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis._util import as_matrix
from analysis.errors import ConfigError, TooFewPointsError
from analysis.senses._base import (DEFAULT_PROJECTION, MAX_FIT_POINTS, MAX_PCA_FIT, PROJECTION_METHODS, _sample,
                                   _seed_int, _settings, _threads)
from analysis.senses.vectors import LazyLayer


@dataclass(frozen=True)
class ProjectionSettings:
    """How :func:`project` maps the vectors to 2-D or 3-D.

    method : "umap", "pca" or "tsne" (UMAP uses the cosine metric; t-SNE cosine with PCA initialisation)
    n_components : 2 or 3
    seed : int, ``np.random.SeedSequence`` or ``np.random.Generator``; the same int gives the same coordinates
    n_neighbors, min_dist : UMAP's parameters
    perplexity : t-SNE's parameter
    max_fit : UMAP and t-SNE are fitted on a sample of at most this many points (see :data:`MAX_FIT_POINTS`)
    """

    method: str = DEFAULT_PROJECTION
    n_components: int = 2
    seed: object = 0
    n_neighbors: int = 15
    min_dist: float = 0.1
    perplexity: float = 30.0
    max_fit: int = MAX_FIT_POINTS


@dataclass(frozen=True)
class ProjectionResult:
    """A 2-D or 3-D view of the occurrences.

    Attributes
    ----------
    coords : ndarray of shape (n_occurrences, n_components)
    method : str
    n_components : int
    seed : int
        The int seed the reducer was given (also readable under its old name ``random_state``).
    n_fit : int
        Number of points the projection was fitted on (smaller than n when a sample was used).
    notice : str or None
        A sentence for the user when a sample was used.
    params : dict
        The method's parameters (for the export manifest).
    """

    coords: np.ndarray
    method: str
    n_components: int
    seed: int
    n_fit: int
    notice: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def random_state(self) -> int:
        """The old name of :attr:`seed`."""
        return self.seed


def project(X, *, settings: ProjectionSettings | None = None, **options) -> ProjectionResult:
    """Coordinates of the vectors X (n_occurrences, dim), usually prepared by :func:`preprocess`, in 2-D or 3-D.

    ``settings`` (a :class:`ProjectionSettings`) or its fields as keywords (``method="pca"``, ``n_components=3``,
    ``seed=7``; ``random_state`` is accepted as the old name of ``seed``) say how; keywords override ``settings``.
    UMAP and t-SNE on more than ``max_fit`` points are fitted on a seeded sample and the result's ``notice`` says so.
    """
    s = _settings(ProjectionSettings, settings, options, "project")
    streamed = isinstance(X, LazyLayer) and str(s.method).lower() == "pca" and X.shape[0] > MAX_PCA_FIT
    if not streamed:  # PCA reads a big LazyLayer's sample, then its blocks; anything else gets the made matrix
        X = as_matrix(X, dtype=np.float32)
    n = X.shape[0]
    method = check_projection(n, settings=s)
    seed = _seed_int(s.seed)
    with _threads(n):
        if method == "pca":
            return _project_pca(X, s, seed)
        if method == "umap":
            return _project_umap(X, s, seed)
        return _project_tsne(X, s, seed)


def check_projection(n: int, *, settings: ProjectionSettings | None = None, **options) -> str:
    """Raise the error :func:`project` would raise for these settings and n points, without computing anything.

    Takes the same ``settings`` / keywords as :func:`project`. Lets a caller (the page) report an impossible setting
    at once instead of from a background job. Returns the normalised method name.
    """
    s = _settings(ProjectionSettings, settings, options, "check_projection")
    method = str(s.method).lower().replace("-", "")
    if method not in PROJECTION_METHODS:
        raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTION_METHODS)}.")
    if s.n_components not in (2, 3):
        raise ConfigError("Projections have 2 or 3 dimensions.")
    if method == "pca" and n < s.n_components + 1:
        raise TooFewPointsError(f"A {s.n_components}-D PCA needs at least {s.n_components + 1} occurrences; "
                                f"there are {n}.")
    if method == "umap":
        if s.n_neighbors < 2:
            raise ConfigError("UMAP needs at least 2 neighbours.")
        # UMAP's spectral initialisation and neighbour graph need more points than neighbours.
        if n <= s.n_neighbors:
            raise TooFewPointsError(f"UMAP with {s.n_neighbors} neighbours needs at least {s.n_neighbors + 1} "
                                    f"occurrences; there are {n}. Use PCA or fewer neighbours.")
    if method == "tsne":
        m = min(n, s.max_fit)
        if m <= s.perplexity or m < 4:
            raise TooFewPointsError(f"t-SNE with perplexity {s.perplexity:g} needs more than "
                                    f"{max(int(s.perplexity), 3)} occurrences; there are {m}. Use PCA or a lower "
                                    f"perplexity.")
    return method


def _sample_pca(X, n_components: int, seed: int):
    """A PCA of X fitted on its seeded sample of :data:`MAX_PCA_FIT` rows (once per lazy layer)."""
    from sklearn.decomposition import PCA

    def fit():
        return PCA(n_components=n_components, random_state=seed).fit(X[_sample(X.shape[0], MAX_PCA_FIT, seed)])

    return X.memo(("pca", n_components, seed), fit) if isinstance(X, LazyLayer) else fit()


def plan_pca(X, n_components: int = 2, seed=0) -> None:
    """Have the next pass over the rows of a big :class:`LazyLayer` also place them on its sampled PCA.

    The Senses page calls this before the clusters, whose assignment of every row to a centroid is a pass over the
    set: the PCA the chart draws then needs no pass of its own (one read of the set instead of two). The same
    coordinates as without it. Does nothing for an array or a layer of at most :data:`MAX_PCA_FIT` rows."""
    if isinstance(X, LazyLayer) and X.shape[0] > MAX_PCA_FIT:
        seed = _seed_int(seed)
        X.ride(("pca", int(n_components), seed), _sample_pca(X, int(n_components), seed).transform)


def _nothing(block) -> None:
    return None


def _project_pca(X, s: ProjectionSettings, seed: int) -> ProjectionResult:
    """Coordinates on the first principal components of X."""
    from sklearn.decomposition import PCA

    n, n_components = X.shape[0], s.n_components
    if n > MAX_PCA_FIT:  # fitted on a seeded sample, applied to every point
        pca = _sample_pca(X, n_components, seed)
        if isinstance(X, LazyLayer):  # one pass over the set's blocks (or one planned: plan_pca), no prepared matrix
            key = ("pca", n_components, seed)
            if X.ridden(key) is None:
                X.ride(key, pca.transform)
                X.map_blocks(_nothing)  # this pass computes the rider (unless one in flight took it)
            coords = X.ridden(key)
            if coords is None:
                coords = np.concatenate(X.map_blocks(pca.transform))
        else:
            coords = pca.transform(X)
        notice = (f"PCA was fitted on a random sample of {MAX_PCA_FIT:,} of the {n:,} occurrences (seed {seed}) and "
                  f"applied to all of them.")
    else:
        pca = PCA(n_components=n_components, random_state=seed)
        coords, notice = pca.fit_transform(X), None
    explained = [round(float(v), 6) for v in pca.explained_variance_ratio_]
    return ProjectionResult(coords.astype(np.float32), "pca", n_components, seed, min(n, MAX_PCA_FIT), notice,
                            {"explained_variance_ratio": explained})


def _project_umap(X, s: ProjectionSettings, seed: int) -> ProjectionResult:
    """UMAP (cosine) fitted on a sample of at most ``max_fit`` rows; the others are placed by UMAP's transform."""
    import warnings

    import umap  # slow first import (numba); only paid when UMAP is asked for

    n, n_components, n_neighbors, min_dist = X.shape[0], s.n_components, s.n_neighbors, s.min_dist
    fit_idx = _sample(n, s.max_fit, seed)
    reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                        random_state=seed, transform_seed=seed)
    with warnings.catch_warnings():
        # "n_jobs overridden to 1 by setting random_state": the price of reproducibility, said in the docs.
        warnings.simplefilter("ignore", UserWarning)
        coords_fit = reducer.fit_transform(X[fit_idx])
        coords = np.empty((n, n_components), dtype=np.float32)
        coords[fit_idx] = coords_fit
        notice = None
        if len(fit_idx) < n:
            rest = np.setdiff1d(np.arange(n), fit_idx)
            coords[rest] = reducer.transform(X[rest])
            notice = (f"UMAP was fitted on a random sample of {len(fit_idx):,} of the {n:,} occurrences (seed {seed}); "
                      f"the other {len(rest):,} were placed by UMAP's transform.")
    return ProjectionResult(coords, "umap", n_components, seed, len(fit_idx), notice,
                            {"n_neighbors": n_neighbors, "min_dist": min_dist, "metric": "cosine"})


def _project_tsne(X, s: ProjectionSettings, seed: int) -> ProjectionResult:
    """t-SNE (cosine, PCA start) fitted on a sample of at most ``max_fit`` rows; each other row goes to the mean
    position of its 5 nearest sampled rows (t-SNE has no transform)."""
    from sklearn.manifold import TSNE

    n, n_components, perplexity = X.shape[0], s.n_components, s.perplexity
    fit_idx = _sample(n, s.max_fit, seed)
    m = len(fit_idx)
    tsne = TSNE(n_components=n_components, perplexity=perplexity, metric="cosine", init="pca", random_state=seed,
                method="barnes_hut" if n_components <= 3 else "exact")
    coords = np.empty((n, n_components), dtype=np.float32)
    coords[fit_idx] = tsne.fit_transform(X[fit_idx])
    notice = None
    if m < n:
        # t-SNE has no transform: put each remaining point at the mean position of its 5 nearest sampled points.
        from sklearn.neighbors import NearestNeighbors

        rest = np.setdiff1d(np.arange(n), fit_idx)
        nn = NearestNeighbors(n_neighbors=5, metric="cosine").fit(X[fit_idx])
        _, idx = nn.kneighbors(X[rest])
        coords[rest] = coords[fit_idx][idx].mean(axis=1)
        notice = (f"t-SNE was fitted on a random sample of {m:,} of the {n:,} occurrences (seed {seed}); the other "
                  f"{len(rest):,} were placed at the mean position of their 5 nearest sampled neighbours.")
    return ProjectionResult(coords, "tsne", n_components, seed, m, notice, {"perplexity": perplexity, "metric": "cosine"})
