"""Classifiers that predict the known senses from the vectors (nearest sense centroid, logistic regression)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis._util import as_matrix, json_clean, unit_rows
from analysis.errors import ConfigError, TooFewPointsError
from analysis.senses._base import _seed_alias, _seed_int, _threads
from analysis.senses.metrics import _gold_mask, _split_values


class NearestCentroidClassifier:
    """Nearest sense centroid by cosine (the CoarseWSD-20 1-NN method).

    A sense's centroid is the mean of its training vectors; an occurrence takes the sense whose centroid has the
    highest cosine similarity.

    Attributes
    ----------
    classes_ : ndarray of shape (n_senses,)
    centroids_ : ndarray of shape (n_senses, dim), unit length
    """

    def fit(self, X, y) -> "NearestCentroidClassifier":
        """Learn one unit-length centroid per sense from X (n, dim) and its senses y (n,); returns self."""
        X = as_matrix(X, dtype=np.float32)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.centroids_ = unit_rows(np.stack([X[y == c].mean(axis=0) for c in self.classes_]), zero_ok=True)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Cosine similarity of each row of X (n, dim) to each centroid: (n, n_senses)."""
        return unit_rows(as_matrix(X, dtype=np.float32), zero_ok=True) @ self.centroids_.T

    def predict(self, X) -> np.ndarray:
        """The sense of the most similar centroid for each row of X."""
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def _logreg():
    """A fresh logistic-regression classifier on standardised vectors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardising first makes one regularisation strength (C=1) work for vectors of any scale.
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


@dataclass(frozen=True)
class ProbeResult:
    """How well the known meanings are predicted from the vectors.

    ``mode`` is "split" (fitted on train, scored on test) or "cv" (stratified k-fold, predictions pooled over folds).
    """

    centroid_accuracy: float
    centroid_macro_f1: float
    logreg_accuracy: float
    logreg_macro_f1: float
    mode: str
    n_train: int
    n_test: int
    n_splits: int | None = None
    labels: tuple = ()
    notice: str | None = None

    def to_dict(self) -> dict:
        """The scores and how they were obtained, JSON-safe (NaN -> None): the page's metrics row and the CLI's
        records both take them from here."""
        return json_clean({k: getattr(self, k) for k in ("centroid_accuracy", "centroid_macro_f1", "logreg_accuracy",
                                                         "logreg_macro_f1", "mode", "n_train", "n_test", "n_splits")})

    as_dict = to_dict  # the old name


def predict_senses(X, labels, *, split=None, n_splits: int = 5, seed=0, logreg: bool = True,
                   **aliases) -> ProbeResult:
    """Accuracy and macro-F1 of nearest-sense-centroid and logistic-regression classifiers.

    Parameters
    ----------
    X : ndarray of shape (n_occurrences, dim)
    labels : array-like of shape (n_occurrences,)
        Gold senses; occurrences without one are left out.
    split : array-like of shape (n_occurrences,), optional
        "train"/"test" per occurrence: fit on train, score on test. Without it, stratified k-fold
        cross-validation (seeded shuffle), with predictions pooled over the folds.
    n_splits : int
        Folds for cross-validation (fewer when even the largest sense has fewer members). Senses with a single
        labelled occurrence are left out of cross-validation, with a notice.
    seed : int, ``np.random.SeedSequence`` or ``np.random.Generator``
        Shuffles the folds (``random_state`` is accepted as its old name).
    logreg : bool
        Also fit logistic regression (NaN scores when False).
    """
    seed = _seed_int(_seed_alias(seed, aliases, "predict_senses"))
    X = as_matrix(X, dtype=np.float32)
    y = np.asarray(pd.Series(labels, dtype="object"))
    if len(y) != X.shape[0]:
        raise ConfigError(f"{X.shape[0]} vectors but {len(y)} labels.")
    with _threads(X.shape[0]):
        if split is not None:
            return _probe_split(X, y, _split_values(split, X.shape[0]), logreg)
        return _probe_cv(X, y, n_splits, seed, logreg)


def _scores(y_true, pred_c, pred_l) -> tuple[float, float, float, float]:
    """Accuracy and macro-F1 of the centroid predictions, then of the logistic ones (NaN when there are none)."""
    from sklearn.metrics import accuracy_score, f1_score

    nan = float("nan")
    return (float(accuracy_score(y_true, pred_c)), float(f1_score(y_true, pred_c, average="macro")),
            float(accuracy_score(y_true, pred_l)) if pred_l is not None else nan,
            float(f1_score(y_true, pred_l, average="macro")) if pred_l is not None else nan)


def _probe_split(X, y, sp, logreg) -> ProbeResult:
    """Classifiers fitted on the labelled "train" rows and scored on the labelled "test" rows."""
    mask = _gold_mask(y)
    train = mask & (sp == "train")
    test = mask & (sp == "test")
    if not train.any() or not test.any():
        raise ConfigError("The split column must mark labelled occurrences as 'train' and as 'test'.")
    ytr, yte = y[train].astype(str), y[test].astype(str)
    if len(np.unique(ytr)) < 2:
        raise TooFewPointsError("The training occurrences have only one gold sense; classifiers need two.")
    pc = NearestCentroidClassifier().fit(X[train], ytr).predict(X[test])
    pl = _logreg().fit(X[train], ytr).predict(X[test]) if logreg else None
    unseen = sorted(set(yte) - set(ytr))
    notice = (f"{int(np.isin(yte, unseen).sum())} test occurrences have senses absent from train "
              f"({', '.join(map(repr, unseen[:5]))}); they count as errors.") if unseen else None
    return ProbeResult(*_scores(yte, pc, pl), mode="split", n_train=int(train.sum()), n_test=int(test.sum()),
                       labels=tuple(map(str, np.unique(ytr))), notice=notice)


def _probe_cv(X, y, n_splits, seed: int, logreg) -> ProbeResult:
    """Stratified k-fold cross-validation over the labelled rows, predictions pooled over the folds."""
    from sklearn.model_selection import StratifiedKFold

    mask = _gold_mask(y)
    Xm, ym, kept, notice = _cv_rows(X[mask], y[mask].astype(str))
    counts = np.unique(ym, return_counts=True)[1]
    # Stratified folds need no more folds than the largest sense has members; smaller senses then miss some test
    # folds, which StratifiedKFold handles (with a warning we silence).
    folds = max(2, min(int(n_splits), int(counts.max())))
    pc = np.empty(len(ym), dtype=object)
    pl = np.empty(len(ym), dtype=object) if logreg else None
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(Xm, ym):
            pc[te] = NearestCentroidClassifier().fit(Xm[tr], ym[tr]).predict(Xm[te])
            if logreg:
                pl[te] = _logreg().fit(Xm[tr], ym[tr]).predict(Xm[te])
    return ProbeResult(*_scores(ym, pc.astype(str), pl.astype(str) if logreg else None), mode="cv",
                       n_train=int(len(ym)), n_test=int(len(ym)), n_splits=folds, labels=tuple(map(str, kept)),
                       notice=notice)


def _cv_rows(Xm, ym):
    """The labelled rows cross-validation can use, the senses kept and a notice about the senses left out.

    A sense seen once cannot be both trained on and tested: such senses are left out (and said so) rather than
    counted as an error no classifier could avoid, or the whole evaluation refused.
    """
    classes, counts = np.unique(ym, return_counts=True)
    rare = [(str(c), int(m)) for c, m in zip(classes, counts) if m < 2]
    kept = classes[counts >= 2]
    if len(kept) < 2:
        if len(classes) < 2:
            raise TooFewPointsError("Predicting known meanings needs at least two gold senses; "
                                    f"{'only ' + repr(str(classes[0])) + ' occurs' if len(classes) else 'none is given'}.")
        raise TooFewPointsError("Cross-validation needs at least two gold senses with 2 or more labelled occurrences "
                                f"each; there are {len(kept)}.")
    notice = None
    if rare:
        Xm, ym = Xm[np.isin(ym, kept)], ym[np.isin(ym, kept)]
        notice = (f"Left out of the classifiers: {len(rare)} sense{'s' if len(rare) > 1 else ''} with a single "
                  f"labelled occurrence ({', '.join(repr(c) for c, _ in rare[:5])}{', …' if len(rare) > 5 else ''}).")
    return Xm, ym, kept, notice
