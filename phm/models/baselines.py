"""Honest baselines for time-to-failure per fault mode (PHM 2018 style), one interface.

Targets: `y` is (rows, modes) time to the next fault of each mode in seconds, NaN where no
further fault is recorded. `remaining_s` (rows,) is the time left until the record ends; a NaN
TTF with little record left is censored (we do not know whether a fault came soon after), so
such rows never teach a model "no fault". Predictions are (rows, modes) seconds with NaN for
"no fault predicted", as the official PHM 2018 submission format wants.

- `NanTTF`: the all-NaN submission, the challenge's real reference point.
- `GbmTTF`: scikit-learn gradient boosting on window features, one regressor per mode on
  log TTF capped at a horizon, plus a per-mode "no fault predicted" threshold chosen on
  held-out training assets (never on test data).
- `SurvivalTTF`: a lifelines Weibull AFT model per mode on the same features, right-censored
  at the record's end; predicts the median TTF (and any quantile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from phm.evaluation.metrics import phm2018_cell_scores
from phm.models.estimators import check_fitted

DEFAULT_HORIZON_S = 6 * 3600.0
THRESHOLD_GRID_S = np.concatenate([np.geomspace(120.0, DEFAULT_HORIZON_S, 40), [np.inf]])


def _as_2d(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"{name} must be (rows, modes), got shape {y.shape}")
    return y


def _as_features(X: np.ndarray | pd.DataFrame) -> np.ndarray:
    return np.asarray(X, dtype=np.float32)


def _usable(ttf: np.ndarray, remaining_s: np.ndarray | None, horizon_s: float) -> np.ndarray:
    """Rows whose label is known up to the horizon: a fault ahead, or no fault for >= horizon."""
    if remaining_s is None:
        return np.ones_like(ttf, dtype=bool)
    return ~np.isnan(ttf) | (remaining_s >= horizon_s)


def choose_threshold(
    ground_truth: np.ndarray, estimate: np.ndarray, grid: np.ndarray = THRESHOLD_GRID_S
) -> float:
    """The "no fault predicted" cut-off (seconds) minimising S1 on held-out rows of one mode.

    Estimates above the cut-off are submitted as NaN. Returns inf if never cutting is best.
    """
    best, best_score = float(grid[-1]), np.inf
    for t in grid:
        sub = np.where(estimate > t, np.nan, estimate)
        score = phm2018_cell_scores(ground_truth, sub).mean()
        if score < best_score - 1e-12:
            best, best_score = float(t), score
    return best


@dataclass(frozen=True)
class _Split:
    fit: np.ndarray
    val: np.ndarray


def _group_split(groups: np.ndarray | None, n: int, fraction: float, seed: int) -> _Split | None:
    """Hold out whole groups (assets) for threshold selection; None without enough groups."""
    if groups is None:
        return None
    uniq = np.unique(groups)
    if uniq.size < 2:
        return None
    rng = np.random.default_rng(seed)
    n_val = max(1, round(fraction * uniq.size))
    val_groups = rng.choice(uniq, size=n_val, replace=False)
    val = np.isin(groups, val_groups)
    return _Split(fit=np.flatnonzero(~val), val=np.flatnonzero(val))


class NanTTF:
    """The all-NaN submission: never predicts a fault."""

    def __init__(self, n_modes: int = 3) -> None:
        self.n_modes = n_modes

    def fit(self, X: np.ndarray, y: np.ndarray | None = None, **fit_params: object) -> NanTTF:
        self.n_modes_ = self.n_modes if y is None else _as_2d(y, "y").shape[1]
        return self

    def predict_ttf(self, X: np.ndarray) -> np.ndarray:
        """No estimate at all: NaN everywhere."""
        check_fitted(self, "n_modes_")
        return np.full((len(X), self.n_modes_), np.nan)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_ttf(X)


class _ThresholdedTTF:
    """Shared fit logic: per-mode point estimates, then a NaN cut-off chosen on held-out assets."""

    horizon_s: float
    validation_fraction: float
    random_state: int

    def _fit_mode(self, X: np.ndarray, ttf: np.ndarray, remaining: np.ndarray | None) -> object:
        raise NotImplementedError

    def _estimate_mode(self, model: object, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(
        self,
        X: np.ndarray | pd.DataFrame,
        y: np.ndarray,
        *,
        remaining_s: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> _ThresholdedTTF:
        """Fit one model per mode; choose each mode's NaN cut-off on held-out groups."""
        Xa, ya = _as_features(X), _as_2d(y, "y")
        if Xa.shape[0] != ya.shape[0]:
            raise ValueError(f"X has {Xa.shape[0]} rows but y has {ya.shape[0]}")
        rem = None if remaining_s is None else np.asarray(remaining_s, dtype=np.float64)
        split = _group_split(groups, len(Xa), self.validation_fraction, self.random_state)
        self.thresholds_ = np.full(ya.shape[1], np.inf)
        if split is not None:
            for m in range(ya.shape[1]):
                r_fit = None if rem is None else rem[split.fit]
                model = self._fit_mode(Xa[split.fit], ya[split.fit, m], r_fit)
                est = self._estimate_mode(model, Xa[split.val])
                self.thresholds_[m] = choose_threshold(ya[split.val, m], est)
        self.models_ = [self._fit_mode(Xa, ya[:, m], rem) for m in range(ya.shape[1])]
        self.n_features_in_ = Xa.shape[1]
        return self

    def predict_ttf(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Point estimates of TTF (seconds) per mode, before the NaN cut-off. (rows, modes)."""
        check_fitted(self, "models_")
        Xa = _as_features(X)
        return np.column_stack([self._estimate_mode(m, Xa) for m in self.models_])

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Submission: TTF seconds per mode, NaN where the estimate is beyond the cut-off."""
        est = self.predict_ttf(X)
        return np.where(est > self.thresholds_[None, :], np.nan, est)


class GbmTTF(_ThresholdedTTF):
    """Gradient-boosted TTF regressor per mode on log(1 + min(TTF, horizon))."""

    def __init__(
        self,
        horizon_s: float = DEFAULT_HORIZON_S,
        max_iter: int = 300,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 31,
        l2_regularization: float = 1.0,
        validation_fraction: float = 0.25,
        random_state: int = 0,
    ) -> None:
        self.horizon_s = horizon_s
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _fit_mode(self, X: np.ndarray, ttf: np.ndarray, remaining: np.ndarray | None) -> object:
        from sklearn.ensemble import HistGradientBoostingRegressor

        keep = _usable(ttf, remaining, self.horizon_s)
        target = np.log1p(np.minimum(np.nan_to_num(ttf, nan=self.horizon_s), self.horizon_s))
        model = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        return model.fit(X[keep], target[keep])

    def _estimate_mode(self, model: object, X: np.ndarray) -> np.ndarray:
        return np.expm1(model.predict(X))  # type: ignore[attr-defined]


class SurvivalTTF(_ThresholdedTTF):
    """Weibull accelerated-failure-time model per mode (lifelines), right-censored at record end.

    Each training row is a subject: its duration is the TTF where a fault follows, else the time
    left in the record (censored). Features are standardised; missing values take the median.
    `max_rows` subsamples rows per mode to keep the likelihood fit fast.
    """

    def __init__(
        self,
        horizon_s: float = DEFAULT_HORIZON_S,
        penalizer: float = 0.05,
        max_rows: int = 20000,
        quantile: float = 0.5,
        validation_fraction: float = 0.25,
        random_state: int = 0,
    ) -> None:
        self.horizon_s = horizon_s
        self.penalizer = penalizer
        self.max_rows = max_rows
        self.quantile = quantile
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y, *, remaining_s=None, groups=None):  # type: ignore[no-untyped-def]
        Xa = _as_features(X)
        self.center_ = np.nanmedian(Xa, axis=0)
        self.center_ = np.nan_to_num(self.center_)
        filled = np.where(np.isnan(Xa), self.center_, Xa)
        self.scale_ = filled.std(axis=0) + 1e-6
        return super().fit(X, y, remaining_s=remaining_s, groups=groups)

    def _design(self, X: np.ndarray) -> pd.DataFrame:
        z = (np.where(np.isnan(X), self.center_, X) - self.center_) / self.scale_
        z = np.clip(z, -10, 10)
        return pd.DataFrame(z, columns=[f"x{i}" for i in range(X.shape[1])])

    def _fit_mode(self, X: np.ndarray, ttf: np.ndarray, remaining: np.ndarray | None) -> object:
        from lifelines import WeibullAFTFitter

        observed = ~np.isnan(ttf)
        if remaining is None:
            remaining = np.full(len(ttf), self.horizon_s * 10)
        duration = np.where(observed, ttf, remaining) + 1.0  # lifelines needs durations > 0
        rng = np.random.default_rng(self.random_state)
        idx = np.arange(len(ttf))
        if idx.size > self.max_rows:
            idx = np.sort(rng.choice(idx, size=self.max_rows, replace=False))
        df = self._design(X[idx])
        df["duration"], df["event"] = duration[idx], observed[idx].astype(int)
        if df["event"].sum() == 0:
            return None  # this mode never occurs in training: never predict it
        fitter = WeibullAFTFitter(penalizer=self.penalizer)
        fitter.fit(df, duration_col="duration", event_col="event")
        return fitter

    def _estimate_mode(self, model: object, X: np.ndarray) -> np.ndarray:
        if model is None:
            return np.full(len(X), np.inf)
        est = model.predict_percentile(self._design(X), p=1 - self.quantile)  # type: ignore[attr-defined]
        return np.maximum(np.asarray(est, dtype=np.float64).ravel() - 1.0, 0.0)
