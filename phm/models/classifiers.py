"""Fault classifiers on window features (e.g. `phm.features.spectral.spectral_features`).

`GbmFaultClassifier`: scikit-learn histogram gradient boosting with balanced class weights.
A scikit-learn estimator (checked with `parametrize_with_checks`), so it works in pipelines
and cross-validation; it follows the project's interface (`fit` returns self, learned
attributes end in `_`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from phm.errors import NotFittedError
from phm.models.estimators import check_sklearn_fitted, hgb_params


class ClassifierNotFittedError(NotFittedError, SklearnNotFittedError):
    """Raised before `fit`; both phm's and scikit-learn's NotFittedError."""


class GbmFaultClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees over window features; one label per window.

    max_iter: boosting rounds; learning_rate, max_leaf_nodes, min_samples_leaf,
    l2_regularization: as in HistGradientBoostingClassifier. class_weight "balanced" weighs
    each class equally whatever its number of windows (CWRU's normal record is twice as
    long as the fault records). Fixed hyperparameters: nothing is tuned on test data.
    """

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 10,
        l2_regularization: float = 1.0,
        class_weight: str | dict | None = "balanced",
        random_state: int | None = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> GbmFaultClassifier:
        """Fit on features X (n, f) and labels y (n,) of any hashable type."""
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        self.model_ = HistGradientBoostingClassifier(
            class_weight=self.class_weight, **hgb_params(self)
        )
        if self.classes_.size == 1:  # a single class needs no trees
            self.n_iter_ = 0
            return self
        self.model_.fit(X, y)
        self.n_iter_ = self.model_.n_iter_
        return self

    def _features(self, X: Any) -> np.ndarray:
        check_sklearn_fitted(self, ClassifierNotFittedError, "model_")
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan")

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in `classes_` order."""
        X = self._features(X)
        if self.classes_.size == 1:
            return np.ones((X.shape[0], 1))
        return self.model_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predicted labels."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
