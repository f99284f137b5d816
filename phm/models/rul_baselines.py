"""Remaining-useful-life baselines on feature matrices: gradient boosting and a survival model.

Both follow the one estimator interface (`__init__` stores arguments, `fit(X, y) -> self`,
`predict(X)`, learned attributes end in `_`) and know nothing about a dataset: X is any
(N, F) feature matrix, y the remaining life of each row in any time unit (cycles, seconds), so
C-MAPSS and PRONOSTIA share them.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import validate_data

from phm.errors import NotFittedError
from phm.models.estimators import check_sklearn_fitted, hgb_params


class RulNotFittedError(NotFittedError, SklearnNotFittedError):
    """Raised by `predict` before `fit`; both phm's and scikit-learn's NotFittedError."""


class GbmRul(RegressorMixin, BaseEstimator):
    """RUL regression with scikit-learn's HistGradientBoostingRegressor (fixed iterations).

    No early stopping: its internal validation split is by rows, and rows of one run are
    near-duplicates, so it would stop on leaked information. Missing values (NaN) are allowed.
    Learned: `model_`, `n_iter_`, `n_features_in_`.
    """

    def __init__(
        self,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 50,
        l2_regularization: float = 1.0,
        loss: str = "squared_error",
        random_state: int | None = None,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.loss = loss
        self.random_state = random_state

    def fit(
        self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> GbmRul:
        """Fit on X (N, F) and remaining life y (N,)."""
        X, y = validate_data(self, X, y, y_numeric=True, ensure_all_finite="allow-nan")
        self.model_ = HistGradientBoostingRegressor(loss=self.loss, **hgb_params(self)).fit(
            X, y, sample_weight=sample_weight
        )
        self.n_iter_ = self.model_.n_iter_
        return self

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """(N,) predicted remaining life."""
        check_sklearn_fitted(self, RulNotFittedError)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.model_.predict(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class SurvivalRul(BaseEstimator):
    """RUL as the median of a fitted survival distribution of the remaining life (lifelines).

    Each row is a unit at risk at that moment with features X; its remaining life y is observed
    (`event` 1: the run ended in failure) or right-censored (`event` 0: the run stopped before
    failing, so the remaining life is at least y). `kind` is "weibull_aft" (Weibull accelerated
    failure time) or "cox" (Cox proportional hazards, Breslow baseline). Features are z-scored
    and constant ones dropped before fitting. Durations are y + duration_offset, so a row at the
    failure itself (y = 0) has a positive duration; predictions subtract it again.
    Learned: `fitter_`, `mean_`, `scale_`, `keep_`, `max_duration_`, `n_features_in_`.
    """

    def __init__(
        self,
        kind: Literal["weibull_aft", "cox"] = "weibull_aft",
        penalizer: float = 0.01,
        duration_offset: float = 1.0,
        max_prediction: float | None = None,
    ) -> None:
        self.kind = kind
        self.penalizer = penalizer
        self.duration_offset = duration_offset
        self.max_prediction = max_prediction

    def fit(
        self, X: npt.ArrayLike, y: npt.ArrayLike, event: npt.ArrayLike | None = None
    ) -> SurvivalRul:
        """Fit on X (N, F), remaining life y (N,) >= 0 and event (N,) (default: all observed)."""
        if self.kind not in ("weibull_aft", "cox"):
            raise ValueError(f"kind must be 'weibull_aft' or 'cox', got {self.kind!r}")
        X, y = validate_data(self, X, y, y_numeric=True)
        if np.any(y < 0):
            raise ValueError("remaining life y must be >= 0")
        observed = np.ones(len(y), dtype=bool) if event is None else np.asarray(event, bool)
        if observed.shape != y.shape:
            raise ValueError(f"event has shape {observed.shape} but y has shape {y.shape}")
        if not observed.any():
            raise ValueError("no observed failures: every run is censored")
        std = X.std(axis=0)
        self.keep_ = std > 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0))
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(self.keep_, std, 1.0)
        frame = self._frame(X)
        frame["duration"] = y + self.duration_offset
        frame["event"] = observed.astype(int)
        self.max_duration_ = float(frame["duration"].max())
        self.fitter_ = self._fitter().fit(frame, duration_col="duration", event_col="event")
        return self

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """(N,) median remaining life, clipped to [0, max_prediction]."""
        check_sklearn_fitted(self, RulNotFittedError)
        X = validate_data(self, X, reset=False)
        median = np.asarray(self.fitter_.predict_median(self._frame(X)), dtype=np.float64)
        median = median.reshape(-1)
        # Cox medians are inf where the survival curve never falls to 0.5 within the observed
        # durations: the best bound we have is the longest duration seen.
        median = np.where(np.isfinite(median), median, self.max_duration_)
        upper = np.inf if self.max_prediction is None else self.max_prediction
        return np.clip(median - self.duration_offset, 0.0, upper)

    def _frame(self, X: np.ndarray) -> pd.DataFrame:
        z = (X - self.mean_) / self.scale_
        z = z[:, self.keep_]
        return pd.DataFrame(z, columns=[f"x{j}" for j in np.flatnonzero(self.keep_)])

    def _fitter(self) -> Any:
        from lifelines import CoxPHFitter, WeibullAFTFitter

        if self.kind == "cox":
            return CoxPHFitter(penalizer=self.penalizer)
        return WeibullAFTFitter(penalizer=self.penalizer)
