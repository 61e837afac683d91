"""2-D/3-D projections of the occurrences for viewing (PCA, UMAP, t-SNE; seeded)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.errors import ConfigError, TooFewPointsError
from analysis.senses._base import (DEFAULT_PROJECTION, MAX_FIT_POINTS, PROJECTION_METHODS, _as_matrix, _sample,
                                   _seed_int, _threads)

# ----------------------------------------------------------------------------------------------------------------
# Projection
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectionResult:
    """A 2-D or 3-D view of the occurrences.

    Attributes
    ----------
    coords : ndarray of shape (n_occurrences, n_components)
    method : str
    n_components : int
    random_state : int
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
    random_state: int
    n_fit: int
    notice: str | None = None
    params: dict = field(default_factory=dict)


def project(X, *, method: str = DEFAULT_PROJECTION, n_components: int = 2, random_state=0, n_neighbors: int = 15,
            min_dist: float = 0.1, perplexity: float = 30.0, max_fit: int = MAX_FIT_POINTS) -> ProjectionResult:
    """Project vectors to 2-D or 3-D.

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
        Prepared vectors (see :func:`preprocess`).
    method : {"umap", "pca", "tsne"}
        UMAP uses the cosine metric; t-SNE uses cosine with PCA initialisation.
    n_components : {2, 3}
    random_state : int
        Seed; the same seed gives the same coordinates.
    n_neighbors, min_dist : UMAP parameters.
    perplexity : t-SNE parameter.
    max_fit : int
        UMAP and t-SNE are fitted on a seeded sample of at most this many points (see :data:`MAX_FIT_POINTS`).

    Returns
    -------
    ProjectionResult
    """
    X = _as_matrix(X)
    n = X.shape[0]
    method = check_projection(n, method=method, n_components=n_components, n_neighbors=n_neighbors,
                              perplexity=perplexity, max_fit=max_fit)
    seed = _seed_int(random_state)
    with _threads(n):
        if method == "pca":
            return _project_pca(X, n_components, seed)
        if method == "umap":
            return _project_umap(X, n_components, seed, n_neighbors, min_dist, max_fit)
        return _project_tsne(X, n_components, seed, perplexity, max_fit)


def check_projection(n: int, *, method: str = DEFAULT_PROJECTION, n_components: int = 2, n_neighbors: int = 15,
                     perplexity: float = 30.0, max_fit: int = MAX_FIT_POINTS) -> str:
    """Raise the error :func:`project` would raise for these settings and n points, without computing anything.

    Lets a caller (the page) report an impossible setting at once instead of from a background job. Returns the
    normalised method name.
    """
    method = str(method).lower().replace("-", "")
    if method not in PROJECTION_METHODS:
        raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTION_METHODS)}.")
    if n_components not in (2, 3):
        raise ConfigError("Projections have 2 or 3 dimensions.")
    if method == "pca" and n < n_components + 1:
        raise TooFewPointsError(f"A {n_components}-D PCA needs at least {n_components + 1} occurrences; there are {n}.")
    if method == "umap":
        if n_neighbors < 2:
            raise ConfigError("UMAP needs at least 2 neighbours.")
        # UMAP's spectral initialisation and neighbour graph need more points than neighbours.
        if n <= n_neighbors:
            raise TooFewPointsError(f"UMAP with {n_neighbors} neighbours needs at least {n_neighbors + 1} occurrences; "
                                    f"there are {n}. Use PCA or fewer neighbours.")
    if method == "tsne":
        m = min(n, max_fit)
        if m <= perplexity or m < 4:
            raise TooFewPointsError(f"t-SNE with perplexity {perplexity:g} needs more than {max(int(perplexity), 3)} "
                                    f"occurrences; there are {m}. Use PCA or a lower perplexity.")
    return method


def _project_pca(X, n_components, seed) -> ProjectionResult:
    from sklearn.decomposition import PCA

    n = X.shape[0]
    coords = PCA(n_components=n_components, random_state=seed).fit_transform(X)
    return ProjectionResult(coords.astype(np.float32), "pca", n_components, seed, n, None, {})


def _project_umap(X, n_components, seed, n_neighbors, min_dist, max_fit) -> ProjectionResult:
    n = X.shape[0]
    import warnings

    import umap  # slow first import (numba); only paid when UMAP is asked for

    fit_idx = _sample(n, max_fit, seed)
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


def _project_tsne(X, n_components, seed, perplexity, max_fit) -> ProjectionResult:
    from sklearn.manifold import TSNE

    n = X.shape[0]
    fit_idx = _sample(n, max_fit, seed)
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
