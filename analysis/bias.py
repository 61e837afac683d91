"""Association tests for social bias: WEAT, SEAT and the contextual word level, across models and layers.

Why this module exists: Caliskan et al. (2017) measured bias with the Word Embedding Association Test on static
vectors; May et al. (2019, SEAT) put the words into "bleached" template sentences and used the sentence vector; Tan &
Celis (2019) took the vector of the word itself inside each sentence (the contextual word level), so each set holds
occurrences rather than word types. This module holds the pieces all three share:

* :class:`WeatQuery` — two target sets X, Y and two attribute sets A, B (frozen, validated up front);
* the statistics (pure numpy): the association s(w, A, B), the effect size d, a one-sided permutation p-value that is
  exact when the partitions can be enumerated and Monte Carlo with true, seeded permutations otherwise, a bootstrap
  interval for d and Holm's correction across a battery;
* :func:`run_bias` — encodes the inputs of a battery once per model (shared between tests) and returns typed
  :class:`BiasResult` records, one per test x level x model x layer.

Choices that are ours (also written into every result's ``notes`` and the export manifest):

* Target sets must have the same number of *words* (the WEAT design; a query with unequal sets is refused). The
  number of *items* may still differ once words a tokenizer or corpus cannot supply are left out (they are listed in
  ``missing``), so the permutation test re-partitions X∪Y into parts of the observed sizes |X| and |Y| and uses the
  difference of means, which for equal sizes orders partitions exactly as Caliskan's sum over X does.
* At the contextual level the permutation partitions the occurrence vectors (``unit="item"``, as Tan & Celis do).
  Occurrences of one word are not independent, which makes that p-value optimistic; ``unit="word"`` keeps each word's
  occurrences together (the partitions are of words, the statistic is still over occurrences).
* Ties count against the hypothesis (``>=``), as in the reference code; the observed partition is one of the
  enumerated ones, so an exact p is at least 1 / C(n, |X|).
* The bootstrap interval resamples target units (items, or words with ``unit="word"``) within X and within Y with
  replacement, the attribute sets held fixed; percentile interval.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from analysis.errors import ConfigError, SenseScopeError, TooFewPointsError

LEVELS = ("word", "sentence", "contextual")
SET_KEYS = ("X", "Y", "A", "B")
DEFAULT_PERMUTATIONS = 100_000
DEFAULT_BOOTSTRAP = 2_000


class BiasTestError(SenseScopeError):
    """A bias test definition or request cannot be used."""


# ----------------------------------------------------------------------------------------------------------------------
# Query types
# ----------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a word in a text: ``text[start:end]`` is the form, ``word`` the list entry it stands for."""

    word: str
    text: str
    start: int
    end: int

    @property
    def form(self) -> str:
        return self.text[self.start:self.end]


@dataclass(frozen=True)
class TermSet:
    """One of the four sets of a test.

    Attributes
    ----------
    name : category name ("MaleNames", "Career", ...)
    words : the word list (empty for sentence-only tests such as SEAT's religion or double-bind paragraphs)
    sentences : sentences for the sentence level (bundled SEAT sentences, or templates applied to the words)
    sentence_words : for each sentence the word it was built from or that was found in it ("" when unknown)
    contexts : occurrences for the contextual level (words located in the sentences, template slots, or corpus hits)
    missing : entries that could not be supplied when the set was built (a word absent from the corpus, a sentence in
        which no word of the list was found); they are reported with every result, never silently dropped
    """

    name: str
    words: tuple[str, ...] = ()
    sentences: tuple[str, ...] = ()
    sentence_words: tuple[str, ...] = ()
    contexts: tuple[Occurrence, ...] = ()
    missing: tuple[str, ...] = ()

    def __post_init__(self):
        if self.sentence_words and len(self.sentence_words) != len(self.sentences):
            raise BiasTestError(f"set {self.name!r}: sentence_words must have one entry per sentence")


def _check_template(template: str) -> None:
    if not isinstance(template, str) or not template.strip():
        raise BiasTestError("a template is empty; write a sentence with {} where the word goes, e.g. 'This is {}.'")
    n = template.count("{}")
    if n == 0:
        raise BiasTestError(f"template {template!r} has no {{}} where the word goes (e.g. 'This is {{}}.')")
    if n > 1:
        raise BiasTestError(f"template {template!r} has {n} {{}} slots; use exactly one")


def apply_templates(words: Sequence[str], templates: Sequence[str]) -> tuple[list[str], list[str], list[Occurrence]]:
    """Put every word into every template.

    Returns
    -------
    sentences : list of len(words) * len(templates) sentences (word-major order)
    sentence_words : the word of each sentence
    contexts : an :class:`Occurrence` per sentence, spanning the word inside it
    """
    sentences, owners, contexts = [], [], []
    for word in words:
        for template in templates:
            _check_template(template)
            start = template.index("{}")
            text = template[:start] + word + template[start + 2:]
            sentences.append(text)
            owners.append(word)
            contexts.append(Occurrence(word, text, start, start + len(word)))
    return sentences, owners, contexts


@dataclass(frozen=True)
class WeatQuery:
    """Two target sets X, Y and two attribute sets A, B, validated on construction.

    Build one from word lists with :meth:`from_words` (optionally with templates such as ``"This is {}."``), from a
    bundled or user JSON file with :mod:`analysis.bias_tests`, or from corpus occurrences with
    :func:`analysis.bias_tests.corpus_query`.

    Validation (each failure raises :class:`BiasTestError` with a message that names the test and the set):
    every set is non-empty and has at least two words (or two sentences for sentence-only tests); no word appears
    twice in a set; X and Y (and A and B) share no word; X and Y have the same number of words; every template has
    exactly one ``{}``.
    """

    name: str
    X: TermSet
    Y: TermSet
    A: TermSet
    B: TermSet
    templates: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self):
        if not str(self.name).strip():
            raise BiasTestError("a bias test needs a name")
        for t in self.templates:
            _check_template(t)
        for key, s in zip(SET_KEYS, self.sets()):
            what = "words" if s.words else "sentences"
            items = s.words if s.words else s.sentences
            if len(items) == 0:
                raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) is empty")
            if len(items) < 2:
                raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) has only one {what[:-1]} "
                                    f"({items[0]!r}); an association test needs at least two per set")
            seen = set()
            for w in items:
                if not isinstance(w, str) or not w.strip():
                    raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) has an empty entry")
                if w.strip().lower() in seen:
                    raise BiasTestError(f"test {self.name!r}: set {key} ({s.name}) lists {w!r} twice")
                seen.add(w.strip().lower())
        if len({bool(s.words) for s in self.sets()}) > 1:
            raise BiasTestError(f"test {self.name!r}: either all four sets have words or none has "
                                "(sentence-only tests give sentences for all four)")
        for (k1, s1), (k2, s2) in (((SET_KEYS[0], self.X), (SET_KEYS[1], self.Y)),
                                   ((SET_KEYS[2], self.A), (SET_KEYS[3], self.B))):
            both = {w.strip().lower() for w in s1.words} & {w.strip().lower() for w in s2.words}
            if both:
                raise BiasTestError(f"test {self.name!r}: {sorted(both)[0]!r} is in both {k1} ({s1.name}) and "
                                    f"{k2} ({s2.name}); the two sets must not share words")
        if self.X.words and len(self.X.words) != len(self.Y.words):
            raise BiasTestError(
                f"test {self.name!r}: the target sets have different sizes (X {self.X.name}: {len(self.X.words)} "
                f"words, Y {self.Y.name}: {len(self.Y.words)}); WEAT compares equal-size target sets, so add or remove "
                "words to make them equal")

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_words(cls, name: str, X: Sequence[str], Y: Sequence[str], A: Sequence[str], B: Sequence[str], *,
                   names: Sequence[str] = ("X", "Y", "A", "B"), templates: Sequence[str] = (),
                   source: str = "user") -> "WeatQuery":
        """A query from four word lists; ``templates`` (each with one ``{}``) give the sentence and contextual levels."""
        templates = tuple(templates)
        for t in templates:
            _check_template(t)
        sets = []
        for label, words in zip(names, (X, Y, A, B)):
            if isinstance(words, str):
                raise BiasTestError(f"set {label!r} must be a list of words, not one string")
            words = tuple(str(w).strip() for w in words)
            if templates:
                sents, owners, ctx = apply_templates(words, templates)
                sets.append(TermSet(label, words, tuple(sents), tuple(owners), tuple(ctx)))
            else:
                sets.append(TermSet(label, words))
        return cls(name, *sets, templates=templates, source=source)

    # -- inspection ---------------------------------------------------------------------------------------------
    def sets(self) -> tuple[TermSet, TermSet, TermSet, TermSet]:
        return (self.X, self.Y, self.A, self.B)

    def levels(self) -> tuple[str, ...]:
        """The levels this query has inputs for."""
        out = []
        if self.X.words:
            out.append("word")
        if all(s.sentences for s in self.sets()):
            out.append("sentence")
        if all(s.contexts for s in self.sets()):
            out.append("contextual")
        return tuple(out)

    def describe(self) -> dict:
        """Plain-JSON summary (for manifests)."""
        return {"name": self.name, "source": self.source, "templates": list(self.templates),
                "sets": {k: {"name": s.name, "n_words": len(s.words), "n_sentences": len(s.sentences),
                             "n_contexts": len(s.contexts), "missing": list(s.missing)}
                         for k, s in zip(SET_KEYS, self.sets())}}


# ----------------------------------------------------------------------------------------------------------------------
# Statistics (pure numpy)
# ----------------------------------------------------------------------------------------------------------------------

def _unit_rows(M: np.ndarray, what: str) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2:
        raise ConfigError(f"{what} must be a 2-d array (n_items, dim), not shape {M.shape}")
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise ConfigError(f"{what} contains a zero or non-finite vector; its cosine similarity is undefined")
    return M / norms


def association(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b) for every row w of W.

    Parameters
    ----------
    W : ndarray of shape (n_w, dim)
    A : ndarray of shape (n_a, dim)
    B : ndarray of shape (n_b, dim)

    Returns
    -------
    ndarray of shape (n_w,)
    """
    Wn, An, Bn = _unit_rows(W, "W"), _unit_rows(A, "A"), _unit_rows(B, "B")
    if not (Wn.shape[1] == An.shape[1] == Bn.shape[1]):
        raise ConfigError("W, A and B must have the same vector dimension")
    return (Wn @ An.T).mean(axis=1) - (Wn @ Bn.T).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """d = (mean_X s - mean_Y s) / std_{X∪Y} s with ddof = 1; NaN when every s is equal."""
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    sd = np.concatenate([s_x, s_y]).std(ddof=1)
    if not sd > 0:
        return float("nan")
    return float((s_x.mean() - s_y.mean()) / sd)


def _units(s_x: np.ndarray, s_y: np.ndarray, groups_x=None, groups_y=None):
    """Collapse items into permutation units.

    s_x, s_y : (n_x, L) and (n_y, L) association values (L = number of columns, e.g. layers).
    Returns sums (n_units, L), sumsq (n_units, L), counts (n_units,), k = number of X units. Without groups each item
    is its own unit. Groups are labels; X and Y units are kept apart even when a label occurs in both.
    """
    def collapse(s, groups):
        if groups is None:
            return s, s ** 2, np.ones(len(s))
        groups = np.asarray(groups)
        if len(groups) != len(s):
            raise ConfigError("groups must have one label per item")
        labels, inv = np.unique(groups, return_inverse=True)
        sums = np.zeros((len(labels), s.shape[1]))
        sq = np.zeros_like(sums)
        np.add.at(sums, inv, s)
        np.add.at(sq, inv, s ** 2)
        return sums, sq, np.bincount(inv, minlength=len(labels)).astype(float)

    sx, qx, cx = collapse(s_x, groups_x)
    sy, qy, cy = collapse(s_y, groups_y)
    return np.vstack([sx, sy]), np.vstack([qx, qy]), np.concatenate([cx, cy]), len(cx)


def _mean_diff(sums, counts, idx, total_s, total_c):
    """Difference of item means between the units in idx (each row: the k units of one X-part) and the rest.

    sums : (n_units, L); counts : (n_units,); idx : (m, k) unit indices. Returns (m, L)."""
    # One gather per column keeps memory at (m, k) instead of (m, k, L).
    SX = np.stack([col[idx].sum(axis=1) for col in sums.T], axis=1)
    if np.all(counts == 1):
        CX = float(idx.shape[1])
    else:
        CX = counts[idx].sum(axis=1)[:, None]
    return SX / CX - (total_s - SX) / (total_c - CX)


_PARTS_CACHE: dict[tuple, np.ndarray] = {}
_PARTS_LOCK = threading.Lock()
_PARTS_MAX_BYTES = 256 * 2 ** 20


def _seed_key(random_state):
    """A hashable identity of a reproducible seed (int or SeedSequence), or None when there is none."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return ("int", int(random_state))
    if isinstance(random_state, np.random.SeedSequence) and random_state.entropy is not None:
        return ("seq", str(random_state.entropy), tuple(random_state.spawn_key), random_state.pool_size)
    return None


def _random_parts(n: int, k: int, permutations: int, random_state, chunk: int) -> np.ndarray:
    """The X-parts (first k entries) of ``permutations`` random permutations of range(n): ndarray (permutations, k).

    Drawn in chunks with ``rng.permuted`` (true permutations, without replacement) from
    ``np.random.default_rng(random_state)``. The last draw is kept when the seed is reproducible, so that the tests of
    a battery with the same sizes and seed reuse it: the numbers are exactly those of a fresh draw, only faster.
    """
    key = _seed_key(random_state)
    key = None if key is None else (key, n, k, permutations, chunk)
    if key is not None:
        with _PARTS_LOCK:
            hit = _PARTS_CACHE.get(key)
        if hit is not None:
            return hit
    rng = np.random.default_rng(random_state)
    # int16 indices shuffle ~40 % faster than int32 (less memory traffic); both give exact permutations.
    base = np.arange(n, dtype=np.int16 if n < 2 ** 15 else np.int32)
    step = max(1, min(chunk, 4_000_000 // n))
    out = np.empty((permutations, k), dtype=base.dtype)
    for lo in range(0, permutations, step):
        m = min(step, permutations - lo)
        # rng.permuted shuffles each row independently.
        out[lo:lo + m] = rng.permuted(np.broadcast_to(base, (m, n)), axis=1)[:, :k]
    if key is not None and out.nbytes <= _PARTS_MAX_BYTES:
        with _PARTS_LOCK:
            _PARTS_CACHE.clear()  # one entry: batteries are run in order of size, so the last one is the useful one
            _PARTS_CACHE[key] = out
    return out


def n_partitions(n: int, k: int) -> int:
    """Number of ways to choose the k X-units out of n."""
    return math.comb(int(n), int(k))


def permutation_pvalue(s_x, s_y, *, groups_x=None, groups_y=None, permutations: int = DEFAULT_PERMUTATIONS,
                       random_state=None, chunk: int = 10_000) -> tuple[np.ndarray | float, int, bool]:
    """One-sided permutation p-value of mean_X s - mean_Y s being this large under random re-partitions of X∪Y.

    The units (items, or groups of items when ``groups_*`` are given) of X∪Y are split into parts of the observed
    sizes in every possible way when there are at most ``permutations`` such partitions (exact test; p = share of
    partitions whose statistic is >= the observed one, the observed partition included), otherwise in
    ``permutations`` random ways drawn as true permutations from ``np.random.default_rng(random_state)`` and
    p = (count + 1) / (permutations + 1).

    Parameters
    ----------
    s_x : ndarray of shape (n_x,) or (n_x, L) — s(w, A, B) of the X items, one column per layer
    s_y : ndarray of shape (n_y,) or (n_y, L)
    groups_x, groups_y : optional labels of shape (n_x,), (n_y,) — items with one label move together
    permutations : the budget: exact enumeration up to this many partitions, else this many random permutations

    Returns
    -------
    p : float, or ndarray of shape (L,) when 2-d input was given (the same partitions serve every column)
    n : number of partitions enumerated (exact) or random permutations drawn
    exact : whether the enumeration was complete
    """
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    one_d = s_x.ndim == 1
    if one_d:
        s_x, s_y = s_x[:, None], s_y[:, None]
    permutations = int(permutations)
    if permutations < 1:
        raise ConfigError("the number of permutations must be at least 1")
    sums, _, counts, k = _units(s_x, s_y, groups_x, groups_y)
    n = len(counts)
    if k < 1 or n - k < 1:
        raise TooFewPointsError("both target sets need at least one item for a permutation test")
    total_s, total_c = sums.sum(axis=0), counts.sum()
    observed = _mean_diff(sums, counts, np.arange(k)[None, :], total_s, total_c)[0]
    tol = 1e-12 * (1.0 + np.abs(observed))
    hits = np.zeros(s_x.shape[1], dtype=np.int64)
    n_total = n_partitions(n, k)
    if n_total <= permutations:
        combos = itertools.combinations(range(n), k)
        chunk = max(1, min(chunk, 2_000_000 // max(1, k)))
        done = 0
        while done < n_total:
            m = min(chunk, n_total - done)
            idx = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, m)), dtype=np.int64,
                              count=m * k).reshape(m, k)
            hits += (_mean_diff(sums, counts, idx, total_s, total_c) >= observed - tol).sum(axis=0)
            done += m
        p = hits / n_total
        n_used, exact = n_total, True
    else:
        parts = _random_parts(n, k, permutations, random_state, chunk)
        for lo in range(0, permutations, chunk):
            hits += (_mean_diff(sums, counts, parts[lo:lo + chunk], total_s, total_c) >= observed - tol).sum(axis=0)
        p = (hits + 1) / (permutations + 1)
        n_used, exact = permutations, False
    return (float(p[0]) if one_d else p), n_used, exact


def _d_from_units(SX, CX, QX, SY, CY, QY):
    """Effect size from per-sample unit aggregates (arrays broadcast over bootstrap draws and columns)."""
    S, C, Q = SX + SY, CX + CY, QX + QY
    var = (Q - S ** 2 / C) / (C - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (SX / CX - SY / CY) / np.sqrt(var)
    return np.where(var > 1e-24, d, np.nan)


def bootstrap_ci(s_x, s_y, *, groups_x=None, groups_y=None, n_bootstrap: int = DEFAULT_BOOTSTRAP,
                 confidence: float = 0.95, random_state=None) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile bootstrap interval for d, resampling units within X and within Y with replacement.

    Shapes as in :func:`permutation_pvalue`. Returns (low, high), floats or arrays of shape (L,); NaN when
    ``n_bootstrap`` is 0.
    """
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    one_d = s_x.ndim == 1
    if one_d:
        s_x, s_y = s_x[:, None], s_y[:, None]
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie between 0 and 1, not {confidence}")
    if n_bootstrap <= 0:
        nan = np.full(s_x.shape[1], np.nan)
        return (float("nan"), float("nan")) if one_d else (nan, nan)
    sums, sq, counts, k = _units(s_x, s_y, groups_x, groups_y)
    n = len(counts)
    rng = np.random.default_rng(random_state)
    ix = rng.integers(0, k, size=(n_bootstrap, k))
    iy = k + rng.integers(0, n - k, size=(n_bootstrap, n - k))
    d = _d_from_units(sums[ix].sum(1), counts[ix].sum(1)[:, None], sq[ix].sum(1),
                      sums[iy].sum(1), counts[iy].sum(1)[:, None], sq[iy].sum(1))
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():  # an all-NaN column (constant s) gives NaN bounds, which is the answer
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(d, [alpha, 1 - alpha], axis=0)
    return (float(lo[0]), float(hi[0])) if one_d else (lo, hi)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order; NaNs are left out and kept."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


@dataclass(frozen=True, eq=False)
class WeatStatistics:
    """The statistics of one test on one set of vectors (arrays have one entry per column, e.g. per layer)."""

    effect_size: np.ndarray      # (L,)
    p_value: np.ndarray          # (L,)
    ci_low: np.ndarray           # (L,)
    ci_high: np.ndarray          # (L,)
    n_permutations: int
    exact: bool
    s_x: np.ndarray              # (n_x, L) s(w, A, B) of the X items
    s_y: np.ndarray              # (n_y, L)


def weat_from_associations(s_x, s_y, *, groups_x=None, groups_y=None, permutations: int = DEFAULT_PERMUTATIONS,
                           n_bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95,
                           random_state=None) -> WeatStatistics:
    """Effect size, p-value and interval from s(w, A, B) values of shape (n_x, L) and (n_y, L) (or 1-d)."""
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    if s_x.ndim == 1:
        s_x, s_y = s_x[:, None], s_y[:, None]
    if len(s_x) < 1 or len(s_y) < 1 or len(s_x) + len(s_y) < 3:
        raise TooFewPointsError("an association test needs at least one item in each target set and three in all")
    # d is over items whatever the permutation unit; computed directly (two-pass std) for accuracy.
    d = np.array([effect_size(s_x[:, j], s_y[:, j]) for j in range(s_x.shape[1])])
    # The same seed drives the permutations and (from a child stream) the bootstrap, so results are reproducible and
    # a test gives the same numbers whether it runs alone or inside a battery.
    seq = np.random.SeedSequence(random_state)
    perm_seed, boot_seed = seq.spawn(2)
    p, n_used, exact = permutation_pvalue(s_x, s_y, groups_x=groups_x, groups_y=groups_y, permutations=permutations,
                                          random_state=perm_seed)
    lo, hi = bootstrap_ci(s_x, s_y, groups_x=groups_x, groups_y=groups_y, n_bootstrap=n_bootstrap,
                          confidence=confidence, random_state=np.random.default_rng(boot_seed))
    return WeatStatistics(np.atleast_1d(d), np.atleast_1d(p), np.atleast_1d(lo), np.atleast_1d(hi), n_used, exact,
                          s_x, s_y)


def weat(X, Y, A, B, *, groups_x=None, groups_y=None, permutations: int = DEFAULT_PERMUTATIONS,
         n_bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95, random_state=None) -> WeatStatistics:
    """WEAT on vectors.

    Parameters
    ----------
    X, Y : ndarray of shape (n_x, dim), (n_y, dim) — target items (words, sentences or occurrences)
    A, B : ndarray of shape (n_a, dim), (n_b, dim) — attribute items
    groups_x, groups_y : optional word labels of the items; given, whole words are re-partitioned (see module doc)
    permutations : exact enumeration up to this many partitions, else this many Monte Carlo permutations
    n_bootstrap : bootstrap draws for the interval (0 = none)
    random_state : seed (int, SeedSequence or None)
    """
    return weat_from_associations(association(X, A, B), association(Y, A, B), groups_x=groups_x, groups_y=groups_y,
                                  permutations=permutations, n_bootstrap=n_bootstrap, confidence=confidence,
                                  random_state=random_state)


# ----------------------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------------------

RECORD_KEYS = ("test", "level", "model", "layer", "effect_size", "p_value", "ci_low", "ci_high", "n_permutations",
               "missing")


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class BiasResult:
    """One test at one level, model and layer.

    ``items`` holds (set, word, text, s(w, A, B)) for every target item, so a chart can show which words drive the
    effect; ``missing`` lists what a tokenizer, a corpus or the sentence matching could not supply.
    """

    test: str
    level: str
    model: str
    layer: int
    effect_size: float
    p_value: float
    ci_low: float
    ci_high: float
    n_permutations: int
    exact: bool
    missing: tuple[str, ...]
    n_x: int
    n_y: int
    n_a: int
    n_b: int
    set_names: tuple[str, str, str, str] = ("X", "Y", "A", "B")
    unit: str = "item"
    pooling: str = ""
    p_holm: float = float("nan")
    seconds: float = 0.0
    items: tuple[tuple[str, str, str, float], ...] = field(default=(), repr=False)

    def record(self) -> dict:
        """Plain-JSON record (``bias.json``): the issue's keys first, then the details. NaN becomes null."""
        return {"test": self.test, "level": self.level, "model": self.model, "layer": int(self.layer),
                "effect_size": _num(self.effect_size), "p_value": _num(self.p_value), "ci_low": _num(self.ci_low),
                "ci_high": _num(self.ci_high), "n_permutations": int(self.n_permutations),
                "missing": list(self.missing), "exact": bool(self.exact), "p_holm": _num(self.p_holm),
                "n_x": self.n_x, "n_y": self.n_y, "n_a": self.n_a, "n_b": self.n_b,
                "X": self.set_names[0], "Y": self.set_names[1], "A": self.set_names[2], "B": self.set_names[3],
                "unit": self.unit, "pooling": self.pooling}


def results_frame(results: Sequence[BiasResult]):
    """One row per result (the record keys; ``missing`` as a count plus a joined string)."""
    import pandas as pd

    rows = []
    for r in results:
        rec = r.record()
        rec["n_missing"] = len(r.missing)
        rec["missing"] = "; ".join(r.missing)
        rows.append(rec)
    cols = list(RECORD_KEYS) + ["n_missing", "exact", "p_holm", "n_x", "n_y", "n_a", "n_b", "X", "Y", "A", "B",
                                "unit", "pooling"]
    return pd.DataFrame(rows, columns=cols)


def items_frame(results: Sequence[BiasResult]):
    """One row per target item and result: test, level, model, layer, set (X/Y), set_name, word, text, s."""
    import pandas as pd

    rows = []
    for r in results:
        for set_key, word, text, s in r.items:
            rows.append((r.test, r.level, r.model, r.layer, set_key, r.set_names[0 if set_key == "X" else 1], word,
                         text, s))
    return pd.DataFrame(rows, columns=["test", "level", "model", "layer", "set", "set_name", "word", "text", "s"])


# ----------------------------------------------------------------------------------------------------------------------
# Encoding (shared between the tests of a battery)
# ----------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Item:
    key: tuple          # what is encoded: ("word", w) / ("sentence", s) / ("span", text, start, end)
    word: str           # the word the item stands for ("" if unknown)
    text: str           # what a person reads (the word, the sentence)


def _level_items(query: WeatQuery, level: str) -> list[list[_Item]]:
    """The items of each of the four sets at ``level``."""
    out = []
    for s in query.sets():
        if level == "word":
            out.append([_Item(("word", w), w, w) for w in s.words])
        elif level == "sentence":
            owners = s.sentence_words or ("",) * len(s.sentences)
            out.append([_Item(("sentence", t), o, t) for t, o in zip(s.sentences, owners)])
        else:
            out.append([_Item(("span", c.text, c.start, c.end), c.word, c.text) for c in s.contexts])
    return out


class EncodingCache:
    """Vectors already computed, per model, level and pooling, so a battery encodes each distinct input once.

    Keys are (model name, weights fingerprint, level, pooling, layer, item key); values are float32 vectors (dim,).
    One instance can be kept for a whole session (the page) or a CLI run.
    """

    def __init__(self):
        self._store: dict[tuple, np.ndarray] = {}
        self._unk: dict[tuple, bool] = {}
        self.encoded = 0       # how many inputs were sent to the model (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def _model_id(lm) -> tuple:
        return (lm.name, getattr(lm, "fingerprint", ""))

    def unknown(self, lm, strings: Sequence[str]) -> set[str]:
        """Strings the tokenizer can only spell with its unknown token (so they carry no information of their own)."""
        tok = lm.tokenizer
        unk = getattr(tok, "unk_token_id", None)
        todo = [s for s in dict.fromkeys(strings) if (self._model_id(lm), s) not in self._unk]
        if todo:
            ids = tok(list(todo), add_special_tokens=False)["input_ids"]
            for s, seq in zip(todo, ids):
                self._unk[(self._model_id(lm), s)] = (not seq) or (unk is not None and all(i == unk for i in seq))
        return {s for s in strings if self._unk[(self._model_id(lm), s)]}

    def vectors(self, lm, level: str, pooling: str, items: Sequence[_Item], layers: Sequence[int],
                batch_size: int = 64) -> np.ndarray:
        """Vectors of ``items`` at ``layers``: ndarray (n_items, n_layers, dim), encoding only what is not cached."""
        from analysis import encoder

        mid = self._model_id(lm)
        keys = list(dict.fromkeys(it.key for it in items))
        todo = [k for k in keys if any((mid, level, pooling, l, k) not in self._store for l in layers)]
        if todo:
            if level == "word":
                texts = [k[1] for k in todo]
                arr = encoder.embed_spans(lm, texts, [(i, 0, len(t)) for i, t in enumerate(texts)], layers=layers,
                                          pooling=pooling, batch_size=batch_size)
            elif level == "sentence":
                arr = encoder.embed_sentences(lm, [k[1] for k in todo], layers=layers, pooling=pooling,
                                              batch_size=batch_size)
            else:
                index: dict[str, int] = {}
                spans = [(index.setdefault(k[1], len(index)), k[2], k[3]) for k in todo]
                arr = encoder.embed_spans(lm, list(index), spans, layers=layers, pooling=pooling,
                                          batch_size=batch_size)
            self.encoded += len(todo)
            for row, k in enumerate(todo):
                for j, l in enumerate(layers):
                    self._store[(mid, level, pooling, l, k)] = arr[row, j]
        out = np.empty((len(items), len(layers), lm.dim), dtype=np.float32)
        for i, it in enumerate(items):
            for j, l in enumerate(layers):
                out[i, j] = self._store[(mid, level, pooling, l, it.key)]
        return out


# ----------------------------------------------------------------------------------------------------------------------
# Runner
# ----------------------------------------------------------------------------------------------------------------------

DEFAULT_POOLING = {"word": "mean", "sentence": "cls", "contextual": "first"}
ProgressFn = Callable[[float, str], None]


def resolve_layers(lm, layers) -> list[int]:
    """None -> the last layer; "all" -> every hidden state (0 = embedding layer); ints may be negative."""
    from analysis.encoder import check_layers

    if layers is None:
        return [lm.n_layers - 1]
    if isinstance(layers, str):
        if layers.strip().lower() != "all":
            raise ConfigError(f"layers must be a list of integers or 'all', not {layers!r}")
        return list(range(lm.n_layers))
    if isinstance(layers, (int, np.integer)):
        layers = [int(layers)]
    return sorted(set(check_layers(lm, list(layers))))


def _present(items: list[_Item], lm, cache: EncodingCache, level: str, label: str) -> tuple[list[_Item], list[str]]:
    """Drop items the tokenizer cannot supply, listing them."""
    probe = [_probe(it, level) for it in items]
    bad = cache.unknown(lm, probe)
    kept, missing = [], []
    for it, p in zip(items, probe):
        if p in bad:
            missing.append(f"{it.word or p} ({label}: the tokenizer of {lm.name} has no pieces for it)")
        else:
            kept.append(it)
    return kept, missing


def require_level(query: WeatQuery, level: str) -> None:
    """Raise a clear error unless ``query`` has inputs for ``level``."""
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if level not in query.levels():
        how = {"word": "word lists", "sentence": "sentences (a sent- file or templates)",
               "contextual": "words located in sentences, templates or corpus occurrences"}[level]
        raise BiasTestError(f"test {query.name!r} has no {how}, so it cannot run at the {level} level "
                            f"(it can run at: {', '.join(query.levels()) or 'no level'})")


def run_query(query: WeatQuery, lm, level: str, *, layers=None, pooling: str | None = None, unit: str = "item",
              permutations: int = DEFAULT_PERMUTATIONS, n_bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95,
              seed: int | None = 0, cache: EncodingCache | None = None, batch_size: int = 64) -> list[BiasResult]:
    """Run one test at one level with one loaded model; one :class:`BiasResult` per layer."""
    require_level(query, level)
    if unit not in {"item", "word"}:
        raise ConfigError(f"unit must be 'item' or 'word', not {unit!r}")
    pooling = pooling or DEFAULT_POOLING[level]
    cache = cache if cache is not None else EncodingCache()
    layer_idx = resolve_layers(lm, layers)
    t0 = time.perf_counter()
    per_set = _level_items(query, level)
    missing = [m for s in query.sets() for m in s.missing]
    kept = []
    for key, s, items in zip(SET_KEYS, query.sets(), per_set):
        ok, miss = _present(items, lm, cache, level, f"{key} {s.name}")
        missing += miss
        if len(ok) < 2:
            raise TooFewPointsError(f"test {query.name!r} at the {level} level: set {key} ({s.name}) has "
                                    f"{len(ok)} usable item(s) after leaving out what {lm.name} cannot supply; "
                                    "at least two are needed")
        kept.append(ok)
    groups = [None, None]
    if unit == "word" and level != "word":
        for j in (0, 1):
            words = [it.word for it in kept[j]]
            if not all(words):
                raise ConfigError(f"unit='word' needs the word of every item; the {level} items of test "
                                  f"{query.name!r} are not all tied to a word of its lists")
            groups[j] = words
            if len(set(words)) < 2:
                raise TooFewPointsError(f"test {query.name!r}: set {SET_KEYS[j]} has fewer than two words")
    vecs = [cache.vectors(lm, level, pooling, items, layer_idx, batch_size=batch_size) for items in kept]
    s_x = np.stack([association(vecs[0][:, j], vecs[2][:, j], vecs[3][:, j]) for j in range(len(layer_idx))], axis=1)
    s_y = np.stack([association(vecs[1][:, j], vecs[2][:, j], vecs[3][:, j]) for j in range(len(layer_idx))], axis=1)
    st = weat_from_associations(s_x, s_y, groups_x=groups[0], groups_y=groups[1], permutations=permutations,
                                n_bootstrap=n_bootstrap, confidence=confidence, random_state=seed)
    seconds = (time.perf_counter() - t0) / len(layer_idx)
    names = tuple(s.name for s in query.sets())
    results = []
    for j, layer in enumerate(layer_idx):
        items = tuple(("X", it.word, it.text, float(v)) for it, v in zip(kept[0], s_x[:, j])) + \
            tuple(("Y", it.word, it.text, float(v)) for it, v in zip(kept[1], s_y[:, j]))
        results.append(BiasResult(
            test=query.name, level=level, model=lm.name, layer=int(layer), effect_size=float(st.effect_size[j]),
            p_value=float(st.p_value[j]), ci_low=float(st.ci_low[j]), ci_high=float(st.ci_high[j]),
            n_permutations=st.n_permutations, exact=st.exact, missing=tuple(missing), n_x=len(kept[0]),
            n_y=len(kept[1]), n_a=len(kept[2]), n_b=len(kept[3]), set_names=names, unit=unit, pooling=pooling,
            seconds=seconds, items=items))
    return results


def apply_holm(results: Sequence[BiasResult]) -> list[BiasResult]:
    """Holm-adjusted p-values within each battery: the tests that share a level, model and layer."""
    results = list(results)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault((r.level, r.model, r.layer), []).append(i)
    for idx in groups.values():
        adj = holm([results[i].p_value for i in idx])
        for i, a in zip(idx, adj):
            results[i] = replace(results[i], p_holm=float(a))
    return results


def run_bias(queries: Sequence[WeatQuery], models: Sequence, *, levels: Sequence[str] = ("word",), layers=None,
             pooling: Mapping[str, str] | None = None, unit: str = "item", permutations: int = DEFAULT_PERMUTATIONS,
             n_bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95, seed: int | None = 0,
             skip_unavailable: bool = False, cache: EncodingCache | None = None, progress: ProgressFn | None = None,
             batch_size: int = 64) -> tuple[list[BiasResult], list[str]]:
    """Run a battery: every query at every level with every model, at the chosen layers.

    Parameters
    ----------
    queries : the tests
    models : loaded models (:class:`analysis.encoder.LoadedModel`) or names (loaded here, once each)
    levels : any of "word", "sentence", "contextual"
    layers : None (last layer), "all", or hidden-state indices (negative count from the top)
    pooling : per level, e.g. {"word": "mean", "sentence": "cls", "contextual": "first"} (these are the defaults)
    unit : "item" re-partitions items (occurrences at the contextual level, as Tan & Celis); "word" whole words
    permutations : exact test up to this many partitions, else this many Monte Carlo permutations
    seed : the same seed is used for every test, so a test's numbers do not depend on the battery around it
    skip_unavailable : leave out (and report) query x level pairs without inputs, instead of raising

    Returns
    -------
    results : list of :class:`BiasResult` (with Holm-adjusted p within each level x model x layer)
    skipped : one line per query x level that was left out
    """
    from analysis.encoder import load_model

    pooling = {**DEFAULT_POOLING, **(pooling or {})}
    for level in levels:
        if level not in LEVELS:
            raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    cache = cache if cache is not None else EncodingCache()
    names = [q.name for q in queries]
    if len(set(names)) != len(names):
        raise BiasTestError(f"two tests share the name {next(n for n in names if names.count(n) > 1)!r}")
    results, skipped = [], []
    plan = []
    for level in levels:
        for q in queries:
            if level in q.levels():
                plan.append((level, q))
            elif skip_unavailable:
                skipped.append(f"{q.name} @ {level}: no inputs for this level (has: {', '.join(q.levels())})")
            else:
                require_level(q, level)
    total = max(1, len(plan) * len(models))
    done = 0
    for m in models:
        lm = load_model(m) if (m is None or isinstance(m, str)) else m
        for level in levels:
            todo = [q for lv, q in plan if lv == level]
            if not todo:
                continue
            # Encode every distinct input of this level once, before the tests, so batches are full and shared.
            items = [it for q in todo for s in _level_items(q, level) for it in s]
            if progress:
                progress(done / total, f"{lm.name}: encoding {len(set(i.key for i in items))} {level} inputs")
            kept = [it for it in items if not cache.unknown(lm, [_probe(it, level)])]
            cache.vectors(lm, level, pooling[level], kept, resolve_layers(lm, layers), batch_size=batch_size)
            # Tests of equal sizes share their random permutations (same seed, same sizes: the same draw), so they
            # run in order of size; the results keep the order of the queries.
            sizes = {q.name: tuple(len(s) for s in _level_items(q, level)[:2]) for q in todo}
            out: dict[str, list[BiasResult]] = {}
            for q in sorted(todo, key=lambda q: sizes[q.name]):
                if progress:
                    progress(done / total, f"{lm.name}: {q.name} ({level})")
                out[q.name] = run_query(q, lm, level, layers=layers, pooling=pooling[level], unit=unit,
                                        permutations=permutations, n_bootstrap=n_bootstrap, confidence=confidence,
                                        seed=seed, cache=cache, batch_size=batch_size)
                done += 1
            for q in todo:
                results.extend(out[q.name])
    if progress:
        progress(1.0, "done")
    return apply_holm(results), skipped


def _probe(it: _Item, level: str) -> str:
    return it.key[1][it.key[2]:it.key[3]] if level == "contextual" else it.text
