"""Local intrinsic dimension (LID) of contextual token embeddings, across layers and checkpoints.

Why this module exists: Ruppik et al. 2025 ("Less is More: Local Intrinsic Dimensions of Contextual Language Models")
show that the LID of a model's token embeddings tracks training: fine-tuning lowers it on in-domain text, a fall in mean
LID comes before performance gains, a plateau says training is exhausted. This module estimates it the way their code
does (scikit-dimension ``TwoNN(discard_fraction=0.1).fit_pw(X, n_neighbors=L, smooth=False)`` on a fixed, seeded token
sample, exact duplicates removed first) and runs the same sample through every checkpoint and layer.

Pieces
------
* :func:`local_twonn` – pointwise TwoNN in given neighbourhoods, vectorised. It computes exactly what skdim's
  ``TwoNN(discard_fraction).fit_pw(X, precomputed_knn=knn)`` computes (the tests compare the two), ~10x faster because
  it fits all neighbourhoods at once instead of one ``LinearRegression`` per token; it also counts zero distances
  instead of only warning about them.
* :class:`LocalDimension` – estimator: deduplicate (and count), find each point's L nearest neighbours, estimate
  pointwise LID (TwoNN, or skdim's MLE / lPCA as alternatives) and the global TwoNN alongside.
* :func:`occurrence_dimension` – LID of a term's own occurrence vectors (an embedding set layer).
* :func:`find_checkpoints`, :func:`sample_tokens`, :func:`dimension_across_checkpoints` – the token sample through a
  series of checkpoints (or several models) at several layers, giving one record per checkpoint x layer.

Only the last group needs a model; it imports :mod:`analysis.encoder` lazily, so this module itself is numpy,
scikit-learn and scikit-dimension only.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analysis.errors import ConfigError, TooFewPointsError

ESTIMATORS = ("twonn", "mle", "lpca")
DEFAULT_NEIGHBORS = 128          # L of Ruppik et al.
DEFAULT_SAMPLE = 2000            # tokens; the paper used 150,000 (-> 60,000 after dedup) on a GPU
DISCARD_FRACTION = 0.1           # TwoNN's heuristic: drop the 10 % largest ratios r2/r1
RECORD_KEYS = ("checkpoint", "step", "layer", "mean", "median", "std", "global", "n_tokens", "n_duplicates", "loss")

ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------------------------------
# Pointwise TwoNN
# --------------------------------------------------------------------------------------------------------------------

def local_twonn(X, knn, *, discard_fraction: float = DISCARD_FRACTION, max_chunk_bytes: int = 64 << 20
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise TwoNN estimates, one per neighbourhood.

    For neighbourhood ``i`` (the points ``X[knn[i]]``), every member's distances r1, r2 to its first and second
    nearest neighbour *within the neighbourhood* give mu = r2 / r1; members with r1 = 0 (duplicates) are dropped and
    counted; the largest ``discard_fraction`` of the remaining N ratios are discarded; the estimate is the slope of the
    line through the origin fitted to (log mu, -log(1 - i/N)). This is skdim's ``TwoNN(method="linear")`` applied to
    each neighbourhood, i.e. ``fit_pw(X, precomputed_knn=knn)``.

    Parameters
    ----------
    X : array-like of shape (n_points, dim)
    knn : int array of shape (n_neighbourhoods, L)
        Row ``i`` lists the members of neighbourhood ``i`` (skdim's ``fit_pw`` uses each point's L nearest neighbours,
        the point itself excluded).
    discard_fraction : float in [0, 1)
    max_chunk_bytes : int
        Memory bound of the batched distance computation.

    Returns
    -------
    dimension : ndarray of shape (n_neighbourhoods,)
        NaN where fewer than two ratios are left.
    n_zero : ndarray of int of shape (n_neighbourhoods,)
        Members dropped because their nearest neighbour is at distance 0.
    """
    X = np.asarray(X, dtype=np.float64)
    knn = np.asarray(knn, dtype=np.intp)
    if knn.ndim != 2:
        raise ConfigError("neighbourhoods must be a 2-d array of point indices")
    n, L = knn.shape
    if L < 3:
        raise ConfigError(f"TwoNN needs neighbourhoods of at least 3 points, not {L}")
    if not 0 <= discard_fraction < 1:
        raise ConfigError(f"discard_fraction must be in [0, 1), not {discard_fraction}")
    dim = X.shape[1]
    out = np.full(n, np.nan)
    n_zero = np.zeros(n, dtype=np.int64)
    # The biggest temporaries are the (b, L, L) distance block and the (b, L, 2, dim) neighbour differences.
    chunk = max(1, int(max_chunk_bytes // (8 * L * max(L, 2 * dim))))
    rank = np.arange(1, L + 1, dtype=np.float64)
    rows = np.arange(L)
    # Each product is a tiny (L x dim) @ (dim x L): BLAS threads only add overhead (10x slower on a busy 2-core box).
    with threadpool_limits(limits=1, user_api="blas"):
        for s in range(0, n, chunk):
            P = X[knn[s:s + chunk]]                                   # (b, L, dim)
            b = P.shape[0]
            # Centre each neighbourhood so that the Gram-matrix shortcut keeps its precision.
            P = P - P.mean(axis=1, keepdims=True)
            sq = np.einsum("bld,bld->bl", P, P)
            D2 = sq[:, :, None] + sq[:, None, :] - 2.0 * np.matmul(P, np.ascontiguousarray(P.transpose(0, 2, 1)))
            D2[:, rows, rows] = np.inf                                # a point is not its own neighbour
            bi, li = np.arange(b)[:, None], rows[None, :]
            first = np.argmin(D2, axis=2)
            D2[bi, li, first] = np.inf
            second = np.argmin(D2, axis=2)
            # Recompute the two distances from coordinate differences: the shortcut could still turn a tiny distance
            # between distinct points into 0.
            d1 = np.sqrt(((P[bi, first] - P) ** 2).sum(axis=2))
            d2 = np.sqrt(((P[bi, second] - P) ** 2).sum(axis=2))
            r1, r2 = np.minimum(d1, d2), np.maximum(d1, d2)
            valid = r1 > 0
            n_zero[s:s + b] = (~valid).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                logmu = np.where(valid, np.log(r2) - np.log(r1), np.inf)
            logmu.sort(axis=1)                                        # invalid ones (inf) go last
            N = valid.sum(axis=1).astype(np.float64)                  # (b,)
            # skdim: n_keep = int(N * (1 - discard_fraction)) of the smallest ratios, F_emp = i / N for i = 1..n_keep
            n_keep = np.floor(N * (1 - discard_fraction)).astype(np.int64)
            keep = rank[None, :] <= n_keep[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                F = np.where(keep, rank[None, :] / N[:, None], 0.0)
                y = -np.log1p(-F)
                x = np.where(keep, logmu, 0.0)
                est = (x * y).sum(axis=1) / (x * x).sum(axis=1)
            est[n_keep < 2] = np.nan
            out[s:s + b] = est
    return out, n_zero


def nearest_neighbors(X, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each point's ``n_neighbors`` nearest neighbours, the point itself excluded.

    The same call as skdim's ``get_nn`` (scikit-learn ``NearestNeighbors(...).kneighbors()``), so neighbourhoods match
    what ``fit_pw`` would use. Returns two arrays of shape (n_points, n_neighbors).
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    return nn.kneighbors(return_distance=True)


# --------------------------------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------------------------------

def _check_matrix(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ConfigError(f"expected a 2-d array of vectors (n_points, dim), got shape {X.shape}")
    if X.shape[1] < 2:
        raise ConfigError("intrinsic dimension needs vectors with at least 2 coordinates")
    if not np.all(np.isfinite(X)):
        raise ConfigError("the vectors contain NaN or infinite values")
    return X


def deduplicate(X) -> tuple[np.ndarray, np.ndarray]:
    """Exact duplicate rows removed, first occurrences kept in their original order.

    Returns
    -------
    keep : ndarray of int of shape (n_unique,)
        Row index of each distinct vector's first occurrence.
    inverse : ndarray of int of shape (n_points,)
        For every row, its distinct vector's position in ``keep``.
    """
    X = np.ascontiguousarray(X)
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)                  # np.unique sorts rows lexicographically; restore the original order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[np.asarray(inverse).ravel()]


class LocalDimension:
    """Pointwise (local) intrinsic dimension of a point cloud.

    Parameters
    ----------
    n_neighbors : int, default 128
        L: each point's estimate comes from its L nearest neighbours (the point itself excluded, as in skdim).
    estimator : {"twonn", "mle", "lpca"}
        ``twonn``: TwoNN with ``discard_fraction`` in each neighbourhood (Ruppik et al.); ``mle``: skdim's
        Levina–Bickel/Haro maximum-likelihood estimate from the L neighbour distances; ``lpca``: skdim's local PCA
        (``ver="FO"``: eigenvalues above 5 % of the largest), integer-valued.
    discard_fraction : float, default 0.1
        TwoNN only (also used by the global TwoNN).
    global_estimate : bool, default True
        Also compute the global TwoNN of all distinct points (``global_dimension_``).

    Attributes
    ----------
    n_samples_ : int
        Rows of X.
    n_duplicates_ : int
        Rows that repeat an earlier row exactly and were removed before estimating.
    unique_index_ : ndarray of int of shape (n_unique,)
        Row of X of each distinct point.
    inverse_ : ndarray of int of shape (n_samples,)
        For each row, the position of its distinct point in ``unique_index_``.
    knn_ : ndarray of int of shape (n_unique, n_neighbors)
        Neighbourhoods, as indices into the distinct points.
    dimension_pw_ : ndarray of shape (n_unique,)
        Pointwise estimate of each distinct point.
    dimension_per_sample_ : ndarray of shape (n_samples,)
        The same, mapped back to every row: a duplicate gets its representative's value.
    n_zero_distances_ : int
        Neighbourhood members dropped by TwoNN because of a zero nearest-neighbour distance (0 after deduplication
        unless two distinct vectors are closer than floating point can tell).
    n_undefined_ : int
        Distinct points whose estimate is undefined (NaN); they are left out of the summary statistics.
    global_dimension_ : float
        Global TwoNN of the distinct points (NaN when ``global_estimate=False``).
    """

    def __init__(self, n_neighbors: int = DEFAULT_NEIGHBORS, estimator: str = "twonn",
                 discard_fraction: float = DISCARD_FRACTION, global_estimate: bool = True):
        self.n_neighbors = n_neighbors
        self.estimator = estimator
        self.discard_fraction = discard_fraction
        self.global_estimate = global_estimate

    def _check_params(self) -> int:
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {self.estimator!r}")
        try:
            L = int(self.n_neighbors)
        except (TypeError, ValueError):
            raise ConfigError(f"the number of neighbours L must be a whole number, not {self.n_neighbors!r}") from None
        if L < 3:
            raise ConfigError(f"the number of neighbours L must be at least 3, not {L}")
        return L

    def fit(self, X, y=None) -> "LocalDimension":
        """Estimate the pointwise dimension of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, dim)

        Raises
        ------
        TooFewPointsError
            When fewer than L + 1 distinct vectors remain after removing duplicates.
        """
        L = self._check_params()
        X = _check_matrix(X)
        keep, inverse = deduplicate(X)
        self.n_samples_ = int(X.shape[0])
        self.n_duplicates_ = int(X.shape[0] - len(keep))
        self.unique_index_, self.inverse_ = keep, inverse
        if len(keep) < L + 1:
            dup = f" after removing {self.n_duplicates_} exact duplicates" if self.n_duplicates_ else ""
            raise TooFewPointsError(
                f"local intrinsic dimension with L = {L} neighbours needs at least {L + 1} distinct vectors, but there "
                f"are only {len(keep)}{dup}; use a larger sample or a smaller L")
        Xu = np.asarray(X[keep], dtype=np.float64)
        dists, knn = nearest_neighbors(Xu, L)
        self.knn_ = knn
        self.n_zero_distances_ = 0
        if self.estimator == "twonn":
            pw, zeros = local_twonn(Xu, knn, discard_fraction=self.discard_fraction)
            self.n_zero_distances_ = int(zeros.sum())
        elif self.estimator == "mle":
            import skdim

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pw = skdim.id.MLE().fit(Xu, precomputed_knn_arrays=(dists, knn), n_neighbors=L).dimension_pw_
        else:
            import skdim

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pw = skdim.id.lPCA(verbose=False).fit_pw(Xu, precomputed_knn=knn, n_neighbors=L).dimension_pw_
        pw = np.asarray(pw, dtype=np.float64)
        pw[~np.isfinite(pw)] = np.nan
        self.dimension_pw_ = pw
        self.dimension_per_sample_ = pw[inverse]
        self.n_undefined_ = int(np.isnan(pw).sum())
        self.global_dimension_ = global_twonn(Xu, self.discard_fraction) if self.global_estimate else float("nan")
        return self

    def summary(self) -> dict:
        """Mean, median and standard deviation over the distinct points, the global TwoNN and the counts.

        Statistics are over distinct points (as in Ruppik et al., who deduplicate before estimating); undefined
        estimates are left out and counted in ``n_undefined``.
        """
        ok = self.dimension_pw_[np.isfinite(self.dimension_pw_)]
        if ok.size == 0:
            raise TooFewPointsError("no point got a defined local dimension estimate")
        return {"mean": float(ok.mean()), "median": float(np.median(ok)), "std": float(ok.std(ddof=1)) if ok.size > 1
                else 0.0, "global": _finite_or_none(self.global_dimension_), "n_tokens": self.n_samples_,
                "n_duplicates": self.n_duplicates_, "n_unique": int(len(self.unique_index_)),
                "n_zero_distances": self.n_zero_distances_, "n_undefined": self.n_undefined_}


def _finite_or_none(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def global_twonn(X, discard_fraction: float = DISCARD_FRACTION) -> float:
    """Global TwoNN (skdim) of distinct points X of shape (n, dim); NaN if it cannot be estimated."""
    import skdim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(skdim.id.TwoNN(discard_fraction=discard_fraction).fit(X).dimension_)
        except ValueError:
            return float("nan")


def occurrence_dimension(vectors, layer: int | None = None, *, n_neighbors: int = 20, estimator: str = "twonn"
                         ) -> LocalDimension:
    """LID of a term's own occurrence vectors (one layer of an embedding set).

    Parameters
    ----------
    vectors : EmbeddingSet, ndarray of shape (n_occurrences, n_layers, dim), or ndarray (n_occurrences, dim)
    layer : int, optional
        Hidden-state index for an EmbeddingSet (``es.layer(layer)``) or position along axis 1 of a 3-d array.
        Required unless ``vectors`` is already 2-d.
    n_neighbors : int, default 20
        L; a term rarely has hundreds of occurrences, so the default is smaller than the token-level 128.

    Returns
    -------
    LocalDimension, fitted; ``dimension_per_sample_`` holds one value per occurrence.
    """
    if hasattr(vectors, "layer") and callable(vectors.layer):
        if layer is None:
            raise ConfigError("choose a layer of the embedding set")
        X = vectors.layer(layer)
    else:
        X = np.asarray(vectors)
        if X.ndim == 3:
            if layer is None:
                raise ConfigError("choose a layer of the embedding set")
            X = X[:, layer]
    return LocalDimension(n_neighbors=n_neighbors, estimator=estimator).fit(np.asarray(X, dtype=np.float32))


# --------------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------------

_CKPT_RE = re.compile(r"^(?:checkpoint|step)[-_]?(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    """One model to run the token sample through.

    ``step`` is the training step (None for an arbitrary model); ``train_loss`` and ``eval_loss`` (held-out
    masked-LM loss) come from the checkpoint's ``trainer_state.json`` or the run's ``log.jsonl`` when present.
    """

    name: str
    path: str
    step: int | None = None
    train_loss: float | None = None
    eval_loss: float | None = None


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def read_losses(folder: str | Path, step: int | None = None) -> tuple[int | None, float | None, float | None]:
    """(step, train_loss, eval_loss) from ``folder/trainer_state.json``, else from the parent's ``log.jsonl``.

    Understands SenseScope's own ``{step, train_loss, eval_loss}`` and the Hugging Face Trainer's
    ``{global_step, log_history: [...]}``. Missing values are None.
    """
    folder = Path(folder)
    state = folder / "trainer_state.json"
    train = evl = None
    if state.is_file():
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            data = {}
        if "log_history" in data:  # Hugging Face Trainer
            step = data.get("global_step", step)
            for entry in data.get("log_history", []):
                if "loss" in entry:
                    train = _num(entry["loss"])
                if "eval_loss" in entry:
                    evl = _num(entry["eval_loss"])
        else:
            step = data.get("step", step)
            train, evl = _num(data.get("train_loss")), _num(data.get("eval_loss"))
        return (int(step) if step is not None else None), train, evl
    log = folder.parent / "log.jsonl"
    if step is not None and log.is_file():
        for line in log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("step") == step:
                train = _num(entry.get("train_loss")) if entry.get("train_loss") is not None else train
                evl = _num(entry.get("eval_loss")) if entry.get("eval_loss") is not None else evl
    return step, train, evl


def find_checkpoints(folder: str | Path) -> list[Checkpoint]:
    """The ``checkpoint-<step>`` (or ``step-<n>``) model folders inside ``folder``, by step.

    A folder that is itself a model (has ``config.json``) and holds no checkpoint folders counts as one checkpoint.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"checkpoint folder {str(folder)!r} does not exist")
    found = []
    for sub in root.iterdir():
        m = _CKPT_RE.match(sub.name)
        if m and sub.is_dir() and (sub / "config.json").is_file():
            step, train, evl = read_losses(sub, int(m.group(1)))
            found.append(Checkpoint(name=sub.name, path=str(sub), step=int(m.group(1)) if step is None else step,
                                    train_loss=train, eval_loss=evl))
    if not found:
        if (root / "config.json").is_file():
            step, train, evl = read_losses(root)
            return [Checkpoint(name=root.name, path=str(root), step=step, train_loss=train, eval_loss=evl)]
        raise ConfigError(f"no checkpoint-<step> model folders (with config.json) in {str(folder)!r}")
    return sorted(found, key=lambda c: (c.step, c.name))


def checkpoints_from_models(models: Sequence[str | None]) -> list[Checkpoint]:
    """Several models (hub ids, folders or None for the default), in the given order, as checkpoints without steps."""
    out = []
    for m in models:
        name = "all-MiniLM-L6-v2" if m in (None, "", "default") else str(m)
        step = train = evl = None
        if m and Path(str(m)).expanduser().is_dir():
            step, train, evl = read_losses(Path(str(m)).expanduser())
            name = Path(str(m)).name if _CKPT_RE.match(Path(str(m)).name) else name
        out.append(Checkpoint(name=name, path=str(m) if m else "default", step=step, train_loss=train, eval_loss=evl))
    if not out:
        raise ConfigError("choose at least one model")
    names = [c.name for c in out]
    if len(set(names)) != len(names):  # two checkpoint-100 folders from different runs: use their full paths
        out = [Checkpoint(name=c.path, path=c.path, step=c.step, train_loss=c.train_loss, eval_loss=c.eval_loss)
               for c in out]
    return out


# --------------------------------------------------------------------------------------------------------------------
# Token sample
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class TokenSample:
    """A fixed sample of token positions, defined by (text index, char span) so any checkpoint can embed it.

    Attributes
    ----------
    texts : the evaluation texts, each truncated at a word boundary so that it fits the model in one pass
    tokens : DataFrame with one row per sampled token: ``text_index``, ``start``, ``end``, ``token`` (the text
        ``texts[text_index][start:end]``), ``piece`` (the tokenizer's token string)
    n_candidates : number of eligible token positions the sample was drawn from
    """

    texts: list[str]
    tokens: pd.DataFrame
    n_candidates: int

    @property
    def spans(self) -> list[tuple[int, int, int]]:
        return list(zip(self.tokens["text_index"].astype(int), self.tokens["start"].astype(int),
                        self.tokens["end"].astype(int)))

    def contexts(self, width: int = 50) -> list[str]:
        """Each sampled token in its context (keyword in context), the token in [brackets]."""
        from analysis.corpus import kwic

        out = []
        for ti, s, e in self.spans:
            left, match, right = kwic(self.texts[ti], s, e, width)
            out.append(f"{left}[{match}]{right}")
        return out


def sample_tokens(tokenizer, texts: Sequence[str], n: int, *, max_tokens: int, random_state=0) -> TokenSample:
    """Draw ``n`` token positions uniformly without replacement from the texts.

    Only real text tokens count: no special tokens and no tokens with empty character offsets. Each text is first cut
    at the last word boundary that keeps it within ``max_tokens`` tokens (the model's length minus its special
    tokens), so every checkpoint sees each sampled token in the same, whole context.

    Parameters
    ----------
    tokenizer : a fast Hugging Face tokenizer (offset mapping and ``word_ids`` are needed)
    texts : sequence of str
    n : int
        Sample size; all eligible tokens when there are fewer.
    max_tokens : int
        Most text tokens per text (special tokens excluded).
    random_state : int or numpy Generator
    """
    if n < 1:
        raise ConfigError(f"the sample size must be at least 1, not {n}")
    texts = [str(t) for t in texts]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    special_ids = np.fromiter(special, dtype=np.int64) if special else np.zeros(0, dtype=np.int64)
    cut_texts, parts = [], []
    for ti, text in enumerate(texts):
        ids = np.asarray(enc["input_ids"][ti], dtype=np.int64)
        offs = np.asarray(enc["offset_mapping"][ti], dtype=np.int64).reshape(-1, 2)
        limit = len(ids)
        if len(ids) > max_tokens:
            words = enc.word_ids(ti)
            limit = max_tokens
            w = words[limit]
            # drop the pieces of the word that straddles the cut, so re-tokenising the prefix gives the same tokens
            while w is not None and limit > 0 and words[limit - 1] == w:
                limit -= 1
            if limit == 0:  # one "word" longer than the model takes: cut inside it after all
                limit = max_tokens
            text = text[: int(offs[limit][0])].rstrip()
        cut_texts.append(text)
        ids, offs = ids[:limit], offs[:limit]
        ok = (offs[:, 1] > offs[:, 0]) & ~np.isin(ids, special_ids) & (offs[:, 1] <= len(text))
        parts.append(np.column_stack([np.full(ok.sum(), ti), offs[ok], ids[ok]]))
    cand = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.int64)
    # byte-level tokenizers can split one character into several tokens with the same span: keep the first
    _, first = np.unique(cand[:, :3], axis=0, return_index=True)
    cand = cand[np.sort(first)]
    if len(cand) == 0:
        raise TooFewPointsError("the evaluation texts contain no tokens to sample")
    rng = np.random.default_rng(random_state)
    pick = cand[np.sort(rng.choice(len(cand), size=min(n, len(cand)), replace=False))]
    tokens = pd.DataFrame({"text_index": pick[:, 0], "start": pick[:, 1], "end": pick[:, 2]})
    tokens["token"] = [cut_texts[t][a:b] for t, a, b in pick[:, :3]]
    tokens["piece"] = tokenizer.convert_ids_to_tokens(pick[:, 3].tolist())
    table = cand
    return TokenSample(texts=cut_texts, tokens=tokens, n_candidates=len(table))


# --------------------------------------------------------------------------------------------------------------------
# Across checkpoints and layers
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class DimensionRun:
    """Result of :func:`dimension_across_checkpoints`.

    Attributes
    ----------
    records : DataFrame, one row per checkpoint x layer, columns ``RECORD_KEYS`` plus ``train_loss``, ``eval_loss``,
        ``n_unique``, ``n_zero_distances``, ``n_undefined``, ``estimator``, ``n_neighbors``, ``order`` (checkpoint
        position). ``loss`` is the held-out masked-LM loss (``eval_loss``).
    token_lid : DataFrame, one row per checkpoint x layer x sampled token: ``checkpoint``, ``step``, ``order``,
        ``layer``, ``token_index`` (row of ``sample.tokens``), ``lid`` (duplicates carry their representative's value)
    sample : the token sample
    params : the parameters, for manifests
    """

    records: pd.DataFrame
    token_lid: pd.DataFrame
    sample: TokenSample
    params: dict = field(default_factory=dict)

    def to_records(self) -> list[dict]:
        """``records`` as a list of JSON-ready dicts (NaN -> None), the content of ``dimension.json``."""
        out = []
        for rec in self.records.to_dict(orient="records"):
            clean = {}
            for k, v in rec.items():
                if isinstance(v, (float, np.floating)):
                    v = float(v) if np.isfinite(v) else None
                    if k in ("step", "layer", "order") and v is not None:
                        v = int(v)
                elif isinstance(v, np.integer):
                    v = int(v)
                elif v is pd.NA:
                    v = None
                clean[k] = v
            out.append(clean)
        return out

    def extremes(self, checkpoint: str, layer: int, n: int = 10, width: int = 50) -> pd.DataFrame:
        """The ``n`` tokens with the highest and the ``n`` with the lowest LID at one checkpoint and layer.

        Duplicates share their representative's value, so a token repeated many times appears once per position.
        """
        sel = self.token_lid[(self.token_lid.checkpoint == checkpoint) & (self.token_lid.layer == layer)]
        sel = sel.dropna(subset=["lid"]).sort_values("lid", kind="stable")
        ctx = self.sample.contexts(width)
        parts = []
        for which, rows in (("highest", sel.iloc[::-1][:n]), ("lowest", sel[:n])):
            t = self.sample.tokens.loc[rows.token_index.to_numpy()]
            parts.append(pd.DataFrame({"rank": which, "lid": rows.lid.to_numpy(), "token": t.token.to_numpy(),
                                       "context": [ctx[i] for i in rows.token_index], "text_index": t.text_index.to_numpy()}))
        return pd.concat(parts, ignore_index=True)


def dimension_across_checkpoints(checkpoints: Sequence[Checkpoint], texts: Sequence[str], *,
                                 layers: Sequence[int] | None = None, n_sample: int = DEFAULT_SAMPLE,
                                 n_neighbors: int = DEFAULT_NEIGHBORS, estimator: str = "twonn", random_state=0,
                                 batch_size: int = 64, progress: ProgressFn | None = None,
                                 load_model: Callable | None = None) -> DimensionRun:
    """Run one token sample through every checkpoint and layer and estimate its local dimension.

    The sample is drawn once, with the first checkpoint's tokenizer and the smallest maximum length among the
    checkpoints, and is defined by (text index, char span); every checkpoint embeds the same spans (pooling "first":
    for a span that is one token of the sampling tokenizer, that token's vector). Checkpoints of one fine-tuning run
    share the tokenizer, so they see exactly the same tokens.

    Parameters
    ----------
    checkpoints : from :func:`find_checkpoints` or :func:`checkpoints_from_models`
    texts : evaluation texts
    layers : hidden-state indices (0 = embeddings, negative from the top); None = all
    n_sample : tokens to sample
    n_neighbors : L
    estimator : "twonn", "mle" or "lpca"
    random_state : seed of the token sample
    progress : called as progress(fraction_done, message)
    load_model : the model loader (default :func:`analysis.encoder.load_model`); tests and the page may pass a cached one

    Raises
    ------
    TooFewPointsError
        When a layer has fewer than L + 1 distinct vectors; the message names the checkpoint and layer.
    """
    from analysis import encoder

    if not checkpoints:
        raise ConfigError("choose at least one checkpoint")
    LocalDimension(n_neighbors=n_neighbors, estimator=estimator)._check_params()
    load = load_model or encoder.load_model
    texts = [str(t) for t in texts if str(t).strip()]
    if not texts:
        raise TooFewPointsError("the evaluation corpus has no text")
    say = progress or (lambda f, m: None)
    for c in checkpoints:  # fail before the first long forward pass if a later checkpoint cannot be loaded
        encoder.model_info(None if c.path == "default" else c.path)
    records, token_frames = [], []
    sample = None
    n_ck = len(checkpoints)
    for ci, ck in enumerate(checkpoints):
        say(ci / n_ck, f"loading {ck.name} ({ci + 1}/{n_ck})")
        lm = load(None if ck.path == "default" else ck.path)
        if sample is None:
            # Texts are cut to what the first model takes in one pass; a later model with a shorter limit would see
            # windows instead (checkpoints of one run share the limit).
            max_tokens = int(lm.max_length) - int(lm.n_special)
            sample = sample_tokens(lm.tokenizer, texts, n_sample, max_tokens=max_tokens, random_state=random_state)
            if len(sample.tokens) < int(n_neighbors) + 1:
                # say which limit bites: the sample size the user chose, or the texts themselves
                if len(sample.tokens) >= int(n_sample):
                    raise TooFewPointsError(
                        f"a sample of {len(sample.tokens)} tokens is too small for L = {n_neighbors} neighbours, which "
                        f"needs at least {int(n_neighbors) + 1} tokens (sample more tokens or lower L)")
                raise TooFewPointsError(
                    f"the evaluation texts have only {len(sample.tokens)} tokens; L = {n_neighbors} neighbours needs "
                    f"at least {int(n_neighbors) + 1} (add text or lower L)")
        layer_idx = encoder.check_layers(lm, layers)
        say((ci + 0.2) / n_ck, f"embedding {len(sample.tokens)} tokens with {ck.name}")
        vecs = encoder.embed_spans(lm, sample.texts, sample.spans, layers=layer_idx, pooling="first",
                                   batch_size=batch_size)
        del lm
        for li, layer in enumerate(layer_idx):
            say((ci + 0.5 + 0.5 * li / len(layer_idx)) / n_ck, f"LID of {ck.name}, layer {layer}")
            try:
                est = LocalDimension(n_neighbors=n_neighbors, estimator=estimator).fit(vecs[:, li])
            except TooFewPointsError as exc:
                raise TooFewPointsError(f"{ck.name}, layer {layer}: {exc}") from None
            rec = {"checkpoint": ck.name, "step": ck.step, "layer": int(layer), **est.summary(),
                   "loss": ck.eval_loss, "train_loss": ck.train_loss, "eval_loss": ck.eval_loss,
                   "estimator": estimator, "n_neighbors": int(n_neighbors), "order": ci, "path": ck.path}
            records.append(rec)
            token_frames.append(pd.DataFrame({"checkpoint": ck.name, "step": ck.step, "order": ci, "layer": int(layer),
                                              "token_index": np.arange(len(sample.tokens)),
                                              "lid": est.dimension_per_sample_}))
    say(1.0, "done")
    cols = list(RECORD_KEYS) + ["train_loss", "eval_loss", "n_unique", "n_zero_distances", "n_undefined",
                                "estimator", "n_neighbors", "order", "path"]
    rec_df = pd.DataFrame(records)[cols]
    params = {"checkpoints": [c.path for c in checkpoints], "layers": None if layers is None else list(layers),
              "n_sample": int(n_sample), "n_tokens": len(sample.tokens), "n_candidates": sample.n_candidates,
              "n_texts": len(texts), "n_neighbors": int(n_neighbors), "estimator": estimator,
              "discard_fraction": DISCARD_FRACTION, "seed": random_state, "pooling": "first",
              "statistics": "over distinct vectors (exact duplicates removed and counted)"}
    return DimensionRun(records=rec_df, token_lid=pd.concat(token_frames, ignore_index=True), sample=sample,
                        params=params)

