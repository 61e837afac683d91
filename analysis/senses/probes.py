"""Classifiers that predict the known senses from the vectors (nearest sense centroid, logistic regression)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, TooFewPointsError
from analysis.senses._base import _as_matrix, _seed_int, _threads, _unit
from analysis.senses.metrics import _gold_mask

# ----------------------------------------------------------------------------------------------------------------
# Predicting known meanings
# ----------------------------------------------------------------------------------------------------------------

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
        X = _as_matrix(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.centroids_ = _unit(np.stack([X[y == c].mean(axis=0) for c in self.classes_]))
        return self

    def decision_function(self, X) -> np.ndarray:
        """Cosine similarity of each row of X (n, dim) to each centroid: (n, n_senses)."""
        return _unit(_as_matrix(X)) @ self.centroids_.T

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def _logreg():
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

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("centroid_accuracy", "centroid_macro_f1", "logreg_accuracy",
                                              "logreg_macro_f1", "mode", "n_train", "n_test", "n_splits")}


def predict_senses(X, labels, *, split=None, n_splits: int = 5, random_state=0, logreg: bool = True) -> ProbeResult:
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
    random_state : int
    logreg : bool
        Also fit logistic regression (NaN scores when False).
    """
    X = _as_matrix(X)
    with _threads(X.shape[0]):
        return _predict_senses(X, labels, split, n_splits, random_state, logreg)


def _predict_senses(X, labels, split, n_splits, random_state, logreg) -> ProbeResult:
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    X = _as_matrix(X)
    y = np.asarray(pd.Series(labels, dtype="object"))
    if len(y) != X.shape[0]:
        raise ConfigError(f"{X.shape[0]} vectors but {len(y)} labels.")
    mask = _gold_mask(y)
    seed = _seed_int(random_state)

    def scores(y_true, pred_c, pred_l):
        nan = float("nan")
        return (float(accuracy_score(y_true, pred_c)), float(f1_score(y_true, pred_c, average="macro")),
                float(accuracy_score(y_true, pred_l)) if pred_l is not None else nan,
                float(f1_score(y_true, pred_l, average="macro")) if pred_l is not None else nan)

    if split is not None:
        sp = np.asarray(pd.Series(split, dtype="object").astype(str).str.strip().str.lower())
        if len(sp) != X.shape[0]:
            raise ConfigError(f"{X.shape[0]} vectors but {len(sp)} split values.")
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
        return ProbeResult(*scores(yte, pc, pl), mode="split", n_train=int(train.sum()), n_test=int(test.sum()),
                           labels=tuple(map(str, np.unique(ytr))), notice=notice)

    Xm, ym = X[mask], y[mask].astype(str)
    classes, counts = np.unique(ym, return_counts=True)
    # A sense seen once cannot be both trained on and tested: leave such senses out (and say so) rather than count
    # an error no classifier could avoid, or refuse the whole evaluation.
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
    counts = counts[counts >= 2]
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
    return ProbeResult(*scores(ym, pc.astype(str), pl.astype(str) if logreg else None), mode="cv",
                       n_train=int(len(ym)), n_test=int(len(ym)), n_splits=folds, labels=tuple(map(str, kept)),
                       notice=notice)
