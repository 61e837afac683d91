"""Descriptions of clusters for naming them: context windows, distinctive words, typical occurrences."""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis._util import as_matrix, unit_rows
from analysis.errors import ConfigError


_WORD = re.compile(r"\w+(?:['’]\w+)?", re.UNICODE)


def context_windows(texts: Sequence[str], starts: Sequence[int], ends: Sequence[int], *, window: int = 10) -> list[str]:
    """The ``window`` words left and right of each occurrence, without the occurrence itself.

    Parameters
    ----------
    texts : sequence of str, length n
    starts, ends : sequences of int, length n
        Character span of each occurrence in its text.
    window : int
        Words taken on each side.
    """
    out = []
    for text, s, e in zip(texts, starts, ends):
        text = "" if text is None else str(text)
        left = _WORD.findall(text[: int(s)])[-window:] if window else []
        right = _WORD.findall(text[int(e):])[:window] if window else []
        out.append(" ".join(left + right))
    return out


def class_tfidf(docs: Sequence[str], labels, *, top_n: int = 10, stop_words="english", exclude: Iterable[str] = (),
                min_df: int = 1) -> pd.DataFrame:
    """The most distinctive words of each cluster by class-based TF-IDF (as in BERTopic's c-TF-IDF).

    All context windows of a cluster form one document; a word's score in cluster c is
    ``tf(word, c) * log(1 + A / f(word))`` with tf the word's share of the cluster's words, A the average number of
    words per cluster and f(word) its count over all clusters.

    Parameters
    ----------
    docs : sequence of str, length n
        Context window of each occurrence (see :func:`context_windows`).
    labels : array-like of shape (n,)
        Cluster of each occurrence.
    top_n : int
    stop_words : "english", list or None
        Stop words removed before counting (scikit-learn's English list by default).
    exclude : iterable of str
        Further words to drop, e.g. the target's forms.
    min_df : int
        Ignore words in fewer than this many windows.

    Returns
    -------
    DataFrame with columns cluster, rank, word, score, count (top_n rows per cluster at most).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    labels = np.asarray(labels)
    if len(docs) != len(labels):
        raise ConfigError(f"{len(docs)} context windows but {len(labels)} cluster labels.")
    stops = set(ENGLISH_STOP_WORDS) if stop_words == "english" else set(stop_words or ())
    stops |= {w.lower() for w in exclude}
    cols = ["cluster", "rank", "word", "score", "count"]
    vec = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b[^\W\d_][\w'’-]*\b", stop_words=sorted(stops) or None,
                          min_df=min_df)
    try:
        counts = vec.fit_transform([str(d) for d in docs])
    except ValueError:  # empty vocabulary: every window was stop words
        return pd.DataFrame(columns=cols)
    vocab = np.asarray(vec.get_feature_names_out())
    clusters = [c for c in pd.unique(labels)]
    clusters = sorted(clusters)
    per_class = np.vstack([np.asarray(counts[labels == c].sum(axis=0)).ravel() for c in clusters]).astype(float)
    words_per_class = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.maximum(words_per_class, 1)
    avg = words_per_class.mean()
    idf = np.log(1 + avg / np.maximum(per_class.sum(axis=0), 1))
    score = tf * idf
    rows = []
    for i, c in enumerate(clusters):
        order = np.argsort(-score[i], kind="stable")
        order = [j for j in order if per_class[i, j] > 0][:top_n]
        for r, j in enumerate(order, 1):
            rows.append((c, r, vocab[j], float(score[i, j]), int(per_class[i, j])))
    return pd.DataFrame(rows, columns=cols)


def nearest_to_centroids(X, labels, *, n: int = 5) -> pd.DataFrame:
    """The occurrences closest (cosine) to each cluster's centroid.

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
    labels : array-like of shape (n_occurrences,)
    n : int
        Occurrences per cluster.

    Returns
    -------
    DataFrame with columns cluster, rank, index (row in X), similarity.
    """
    X = unit_rows(as_matrix(X, dtype=np.float32), zero_ok=True, copy=False)  # only read below
    labels = np.asarray(labels)
    rows = []
    for c in sorted(pd.unique(labels)):
        idx = np.flatnonzero(labels == c)
        Xc = X[idx]
        cent = unit_rows(Xc.mean(axis=0, keepdims=True), zero_ok=True)[0]
        sims = Xc @ cent
        order = np.argsort(-sims, kind="stable")[:n]
        for r, j in enumerate(order, 1):
            rows.append((c, r, int(idx[j]), float(sims[j])))
    return pd.DataFrame(rows, columns=["cluster", "rank", "index", "similarity"])


def cluster_names(labels, names: dict | None = None) -> np.ndarray:
    """Display name of each occurrence's cluster: the user's name, else "cluster c" ("noise" for -1).

    Parameters
    ----------
    labels : array-like of shape (n,)
    names : dict {cluster id: name}, optional

    Returns
    -------
    ndarray of shape (n,), object (str)
    """
    names = {int(k): str(v) for k, v in (names or {}).items() if str(v).strip()}
    labels = np.asarray(labels)
    ids, inverse = np.unique(labels, return_inverse=True)  # one name per cluster, then taken for every row
    shown = np.array([names.get(int(c), "noise" if int(c) == -1 else f"cluster {int(c)}") for c in ids], dtype=object)
    return shown[inverse.reshape(-1)]


def describe_clusters(X, labels, docs: Sequence[str] | None = None, *, names: dict | None = None, top_n: int = 8,
                      exclude: Iterable[str] = (), gold=None) -> pd.DataFrame:
    """One row per cluster: size, share, the distinctive words and (with gold labels) the majority sense.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
    labels : array-like of shape (n,)
    docs : sequence of str, optional
        Context windows for the distinctive words.
    names : dict {cluster id: name}, optional
    top_n : int
    exclude : words left out of the distinctive words (the target's forms).
    gold : array-like of shape (n,), optional

    Returns
    -------
    DataFrame with columns cluster, name, size, share, words (comma-separated), and majority_label,
    majority_share when ``gold`` is given.
    """
    X = as_matrix(X, dtype=np.float32)
    labels = np.asarray(labels)
    clusters = sorted(pd.unique(labels))
    disp = cluster_names(clusters, names)
    words = {}
    if docs is not None:
        tf = class_tfidf(docs, labels, top_n=top_n, exclude=exclude)
        words = tf.groupby("cluster")["word"].apply(lambda s: ", ".join(s)).to_dict()
    rows = []
    for c, name in zip(clusters, disp):
        size = int((labels == c).sum())
        row = {"cluster": int(c), "name": name, "size": size, "share": size / len(labels), "words": words.get(c, "")}
        if gold is not None:
            g = pd.Series(np.asarray(pd.Series(gold, dtype="object"))[labels == c]).dropna().astype(str)
            if len(g):
                vc = g.value_counts()
                row["majority_label"], row["majority_share"] = vc.index[0], float(vc.iloc[0] / len(g))
            else:
                row["majority_label"], row["majority_share"] = None, float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
