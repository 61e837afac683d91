"""Keyword-in-context lines that sort and filter, and the collocates of a term per group (cluster, period, selection).

KWIC lines
    :func:`kwic_lines` gives one row per occurrence: the left context, the match and the right context (as
    :func:`analysis.corpus.kwic` cuts them) plus the first two words on each side (``L1`` = the word just before
    the target, ``L2`` the one before it, ``R1``/``R2`` after it), lower-cased, and any metadata columns asked for.
    :func:`sort_lines` sorts by one of those words, as concordancers do: ``L1`` ties are broken by ``L2`` (the next
    word further out on the same side), then by the text order (``occurrence_id``); an occurrence with no word there
    (the target starts its text) sorts first. :func:`filter_lines` keeps the rows whose columns take given values.

Words
    A word is a run of letters/digits, with inner apostrophes kept (``sun's``), compared lower-cased.

Collocates
    The words within ``window`` words either side of each occurrence (the target itself not counted) are counted per
    group. A group's collocates are the words over-represented in its windows against the *reference*: the windows
    of the other groups (``reference="rest"``, the default when there are two groups or more), or, with a single
    group, the words of the same texts outside the windows (``"text"``). Per word the 2x2 table is ``a`` (in the
    group's windows), ``b`` (in the reference), ``c = N_group - a``, ``d = N_ref - b``; Dunning's log-likelihood is
    ``G2 = 2 * sum(O * ln(O / E))`` over the four cells (E from the margins), and PMI is
    ``log2(a * N / ((a + b) * N_group))`` with ``N = N_group + N_ref``. Only words with ``a`` above its expectation
    are listed (ranked by the chosen measure). :func:`distinctive_words` (a selection against the other occurrences)
    and :func:`compare_words` (selection A against selection B) use the same counts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.corpus import kwic
from analysis.errors import ConfigError

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SORT_KEYS = ("L2", "L1", "R1", "R2")
MEASURES = {"g2": "log-likelihood (G²)", "pmi": "PMI"}
DEFAULT_WINDOW = 5
#: The word columns compared after the sort key, nearest first (L1 is broken by L2, R1 by R2).
_TIE = {"L1": ["L1", "L2"], "L2": ["L2"], "R1": ["R1", "R2"], "R2": ["R2"]}


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (see the module notes)."""
    return [w.lower() for w in _WORD.findall(text or "")]


def side_words(text: str, start: int, end: int, window: int = DEFAULT_WINDOW) -> tuple[list[str], list[str]]:
    """(left words nearest first, right words nearest first), at most ``window`` each, around ``text[start:end]``."""
    left = words(text[:start])[::-1][:window]
    right = words(text[end:])[:window]
    return left, right


def kwic_lines(occ: pd.DataFrame, *, width: int = 60, columns: Sequence[str] = (),
               extra: dict | None = None) -> pd.DataFrame:
    """One KWIC row per occurrence: ``occurrence_id``, L2, L1, left, match, right, R1, R2, then ``columns`` of
    ``occ`` and ``extra`` ({name: values of length n}, e.g. cluster names)."""
    rows = []
    for t, s, e in zip(occ["text"], occ["start"], occ["end"]):
        s, e = int(s), int(e)
        left_w, right_w = side_words(t, s, e, 2)
        left, match, right = kwic(t, s, e, width)
        rows.append((left_w[1] if len(left_w) > 1 else "", left_w[0] if left_w else "", left, match, right,
                     right_w[0] if right_w else "", right_w[1] if len(right_w) > 1 else ""))
    out = pd.DataFrame(rows, columns=["L2", "L1", "left", "match", "right", "R1", "R2"])
    ids = occ["occurrence_id"].to_numpy() if "occurrence_id" in occ.columns else np.arange(len(occ))
    out.insert(0, "occurrence_id", ids)
    for c in columns:
        if c in occ.columns and c not in out.columns:
            out[c] = occ[c].to_numpy()
    for name, values in (extra or {}).items():
        values = np.asarray(values, dtype=object)
        if len(values) != len(out):
            raise ConfigError(f"{len(values)} values of {name!r} for {len(out)} KWIC lines")
        out[name] = values
    return out


def sort_lines(lines: pd.DataFrame, by: str | None = None, *, descending: bool = False) -> pd.DataFrame:
    """KWIC lines sorted by the word at ``by`` (L1, L2, R1, R2; None = text order), see the module notes."""
    if by is None:
        return lines.sort_values("occurrence_id", kind="stable").reset_index(drop=True)
    if by not in _TIE:
        raise ConfigError(f"cannot sort KWIC lines by {by!r}; choose one of {', '.join(SORT_KEYS)}")
    keys = _TIE[by] + ["occurrence_id"]
    asc = [not descending] * (len(keys) - 1) + [True]
    return lines.sort_values(keys, ascending=asc, kind="stable").reset_index(drop=True)


def filter_lines(lines: pd.DataFrame, filters: dict | None) -> pd.DataFrame:
    """Rows whose column takes one of the given values, for each {column: values} (an empty value list: no filter).

    Values are compared as text, so a year picked as ``"1836"`` matches the number 1836; missing values read
    ``(none)``."""
    mask = np.ones(len(lines), dtype=bool)
    for col, values in (filters or {}).items():
        if values is None or len(values) == 0:
            continue
        if col not in lines.columns:
            raise ConfigError(f"there is no column {col!r} to filter the KWIC lines by")
        shown = lines[col].astype("object").where(lines[col].notna(), "(none)").astype(str)
        mask &= shown.isin([str(v) for v in values]).to_numpy()
    return lines[mask].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------------ collocates
class WindowCounts:
    """Per occurrence, the counts of the words within the window of the target (``inside``) and of the rest of its
    text (``outside``): two sparse matrices (occurrences x vocabulary, CSR), so that a group's totals are one sum
    over its rows instead of merging a counter per occurrence."""

    def __init__(self, vocab: np.ndarray, inside, outside):
        self.vocab, self.inside, self.outside = vocab, inside, outside

    def total(self, mask, *, outside: bool = False) -> Counter:
        """The summed counts of the rows where ``mask`` is true, as a Counter {word: count}."""
        M = self.outside if outside else self.inside
        sums = np.asarray(M[np.flatnonzero(np.asarray(mask, dtype=bool))].sum(axis=0)).ravel()
        nz = np.flatnonzero(sums)
        return Counter(dict(zip(self.vocab[nz].tolist(), sums[nz].astype(np.int64).tolist())))


def window_counts(occ: pd.DataFrame, *, window: int = DEFAULT_WINDOW, exclude: Iterable[str] = ()) -> WindowCounts:
    """Per occurrence: the word counts within ``window`` words of the target and the counts of the rest of its text
    (see :class:`WindowCounts`)."""
    from scipy import sparse

    if int(window) < 1:
        raise ConfigError(f"the collocate window must be at least 1 word, not {window}")
    window = int(window)
    drop = {w.lower() for w in exclude}
    ids: dict[str, int] = {}
    near_rows, near_cols, far_rows, far_cols = [], [], [], []
    for i, (t, s, e) in enumerate(zip(occ["text"], occ["start"], occ["end"])):
        left, right = words(t[: int(s)])[::-1], words(t[int(e):])
        near = [ids.setdefault(w, len(ids)) for w in left[:window] + right[:window] if w not in drop]
        far = [ids.setdefault(w, len(ids)) for w in left[window:] + right[window:] if w not in drop]
        near_cols += near
        near_rows += [i] * len(near)
        far_cols += far
        far_rows += [i] * len(far)
    shape = (len(occ), len(ids))

    def matrix(rows, cols):  # duplicates (a word twice in one window) are summed by the conversion
        data = np.ones(len(rows), dtype=np.int32)
        return sparse.coo_matrix((data, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                                 shape=shape).tocsr()

    vocab = np.array(list(ids), dtype=object)
    return WindowCounts(vocab, matrix(near_rows, near_cols), matrix(far_rows, far_cols))


def _g2(a: float, b: float, n1: float, n2: float) -> float:
    """Dunning's log-likelihood of the 2x2 table (a, b / n1 - a, n2 - b)."""
    n = n1 + n2
    total = a + b
    g = 0.0
    for obs, row, col in ((a, n1, total), (b, n2, total), (n1 - a, n1, n - total), (n2 - b, n2, n - total)):
        expected = row * col / n
        if obs > 0 and expected > 0:
            g += obs * math.log(obs / expected)
    return 2.0 * g


def keyness(target: Counter, reference: Counter, *, min_count: int = 2, top_n: int | None = 20,
            measure: str = "g2") -> pd.DataFrame:
    """Words over-represented in ``target`` against ``reference`` (counts), with G2 and PMI; ranked by ``measure``.

    Columns: word, count, count_ref, expected, g2, pmi. Words seen fewer than ``min_count`` times in ``target`` are
    left out (PMI in particular inflates rare words)."""
    if measure not in MEASURES:
        raise ConfigError(f"unknown collocate measure {measure!r}; use {' or '.join(MEASURES)}")
    n1, n2 = float(sum(target.values())), float(sum(reference.values()))
    rows = []
    if n1 > 0:
        for w, a in target.items():
            b = reference.get(w, 0)
            expected = n1 * (a + b) / (n1 + n2)
            if a < min_count or a <= expected:
                continue
            pmi = math.log2(a * (n1 + n2) / ((a + b) * n1))
            rows.append((w, int(a), int(b), expected, _g2(a, b, n1, n2), pmi))
    df = pd.DataFrame(rows, columns=["word", "count", "count_ref", "expected", "g2", "pmi"])
    df = df.sort_values([measure, "count", "word"], ascending=[False, False, True], kind="stable")
    df = df.reset_index(drop=True)
    return df if top_n is None else df.head(int(top_n))


def collocates(occ: pd.DataFrame, groups, *, window: int = DEFAULT_WINDOW, measure: str = "g2",
               reference: str = "auto", min_count: int = 2, top_n: int | None = 20, exclude: Iterable[str] = (),
               counts: WindowCounts | None = None) -> pd.DataFrame:
    """Collocates per group (``groups``: one value per occurrence; missing values are left out), one table.

    Columns: group, rank, word, count, count_ref, expected, g2, pmi. ``reference``: "rest", "text" or "auto"
    ("rest" with two groups or more, else "text"); see the module notes. ``counts`` (from :func:`window_counts`)
    saves counting again."""
    g = pd.Series(np.asarray(groups, dtype=object))
    if len(g) != len(occ):
        raise ConfigError(f"{len(g)} group values for {len(occ)} occurrences")
    wc = counts if counts is not None else window_counts(occ, window=window, exclude=exclude)
    present = g.notna().to_numpy()
    names = list(dict.fromkeys(str(v) for v in g[present]))
    how = reference if reference != "auto" else ("rest" if len(names) >= 2 else "text")
    if how not in ("rest", "text"):
        raise ConfigError(f"unknown collocate reference {reference!r}; use rest, text or auto")
    if how == "rest" and len(names) < 2:
        raise ConfigError("comparing a group with the rest needs at least two groups")
    label = g.where(g.notna(), None).map(lambda v: None if v is None else str(v)).to_numpy()
    frames = []
    for name in names:
        member = label == name
        own = wc.total(member)
        ref = wc.total(present & ~member) if how == "rest" else wc.total(member, outside=True)
        table = keyness(own, ref, min_count=min_count, top_n=top_n, measure=measure)
        table.insert(0, "rank", np.arange(1, len(table) + 1))
        table.insert(0, "group", name)
        frames.append(table)
    cols = ["group", "rank", "word", "count", "count_ref", "expected", "g2", "pmi"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def distinctive_words(occ: pd.DataFrame, mask, *, window: int = DEFAULT_WINDOW, measure: str = "g2",
                      min_count: int = 2, top_n: int | None = 20, exclude: Iterable[str] = (),
                      counts=None) -> pd.DataFrame:
    """Words near the target over-represented in the selected occurrences (``mask``) against all the others."""
    mask = np.asarray(mask, dtype=bool)
    if len(mask) != len(occ):
        raise ConfigError(f"a selection of {len(mask)} rows for {len(occ)} occurrences")
    if not mask.any():
        raise ConfigError("the selection is empty: select occurrences first")
    if mask.all():
        raise ConfigError("the selection holds every occurrence, so there is nothing to compare it with")
    wc = counts if counts is not None else window_counts(occ, window=window, exclude=exclude)
    own, ref = wc.total(mask), wc.total(~mask)
    return keyness(own, ref, min_count=min_count, top_n=top_n, measure=measure)


def compare_words(occ: pd.DataFrame, mask_a, mask_b, *, window: int = DEFAULT_WINDOW, measure: str = "g2",
                  min_count: int = 2, top_n: int | None = 20, exclude: Iterable[str] = (),
                  counts=None) -> pd.DataFrame:
    """Distinctive words of selection A against selection B and of B against A, one table (column ``side``).

    An occurrence in both selections counts on both sides."""
    a, b = np.asarray(mask_a, dtype=bool), np.asarray(mask_b, dtype=bool)
    if len(a) != len(occ) or len(b) != len(occ):
        raise ConfigError("both selections must have one value per occurrence")
    if not a.any() or not b.any():
        raise ConfigError("both selections must hold at least one occurrence")
    wc = counts if counts is not None else window_counts(occ, window=window, exclude=exclude)
    ca, cb = wc.total(a), wc.total(b)
    left = keyness(ca, cb, min_count=min_count, top_n=top_n, measure=measure).assign(side="A")
    right = keyness(cb, ca, min_count=min_count, top_n=top_n, measure=measure).assign(side="B")
    out = pd.concat([left, right], ignore_index=True)
    return out[["side"] + [c for c in out.columns if c != "side"]]
