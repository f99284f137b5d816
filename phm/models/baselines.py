"""Honest baselines for time-to-failure per fault mode (PHM 2018 style), one interface.

Targets: `y` is (rows, modes) time to the next fault of each mode in seconds, NaN where no
further fault is recorded. `remaining_s` (rows,) is the time left until the record ends; a NaN
TTF with little record left is censored (we do not know whether a fault came soon after), so
such rows never teach a model "no fault". Predictions are (rows, modes) seconds with NaN for
"no fault predicted", as the official PHM 2018 submission format wants.

- `NanTTF`: the all-NaN submission, the challenge's real reference point.
- `GbmTTF`: scikit-learn gradient boosting on window features: per mode, a classifier of
  "a fault within the horizon" (the alarm) and a regressor of TTF given a fault comes; it can
  also submit the Bayes decision of least expected S1 (`phm.models.s1_decision`).
- `SurvivalTTF`: a lifelines Weibull AFT model per mode on the same features, right-censored
  at the record's end; estimate = predicted median TTF, alarm = P(fault within the horizon).

Both submit their TTF estimate only where the alarm reaches a per-mode level chosen to minimise
S1 on held-out training assets (never on test data), and NaN elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from phm.metrics import phm2018_cell_scores
from phm.models.estimators import check_fitted, hgb_params

DEFAULT_HORIZON_S = 2 * 3600.0
S1_DECAY_PER_S = 0.001  # the official score weighs an error at TTF t by exp(-0.001 t)


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


ESTIMATE_CAPS_S = (300.0, 600.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0, np.inf)


def choose_policy(
    ground_truth: np.ndarray,
    estimate: np.ndarray,
    alarm: np.ndarray,
    weight: np.ndarray | None = None,
    n_levels: int = 60,
) -> tuple[float, float]:
    """When to submit a TTF rather than NaN, chosen to minimise S1 on held-out rows of one mode.

    A row gets its estimate where alarm >= level and estimate <= cap, NaN elsewhere; long
    estimates are the unreliable ones. Levels are quantiles of the alarm scores, caps come from
    ESTIMATE_CAPS_S. All inputs (rows,). Returns (level, cap); level inf means always NaN.
    """
    finite = alarm[np.isfinite(alarm)]
    # alarms are rare: most of the grid sits in the top few percent of the scores
    grid = np.concatenate([np.linspace(0.5, 0.95, 10), np.linspace(0.95, 1.0, n_levels)])
    levels = np.unique(np.quantile(finite, grid)) if finite.size else []
    nan_cells = phm2018_cell_scores(ground_truth, np.full_like(estimate, np.nan))
    best, best_score = (np.inf, np.inf), np.average(nan_cells, weights=weight)
    for level in levels:
        for cap in ESTIMATE_CAPS_S:
            sub = np.where((alarm >= level) & (estimate <= cap), estimate, np.nan)
            score = np.average(phm2018_cell_scores(ground_truth, sub), weights=weight)
            if score < best_score - 1e-12:
                best, best_score = (float(level), float(cap)), score
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

    def predict_parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """No estimate and no alarm: NaN and zero everywhere."""
        check_fitted(self, "n_modes_")
        shape = (len(X), self.n_modes_)
        return np.full(shape, np.nan), np.zeros(shape)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_parts(X)[0]


class _ThresholdedTTF:
    """Shared logic: per mode, a TTF estimate and an alarm score; a TTF is submitted only where
    the alarm reaches a level (and the estimate stays under a cap) chosen on held-out assets,
    never on test data."""

    horizon_s: float
    validation_fraction: float
    random_state: int

    def _fit_mode(
        self, X: np.ndarray, ttf: np.ndarray, remaining: np.ndarray | None, weight: np.ndarray
    ) -> object:
        raise NotImplementedError

    def _parts_mode(self, model: object, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(estimate seconds, alarm score: higher = a fault within the horizon is likelier)."""
        raise NotImplementedError

    def _fit_decision_mode(
        self, m: int, ttf: np.ndarray, est: np.ndarray, alarm: np.ndarray, weight: np.ndarray
    ) -> None:
        """Fit what a subclass needs beyond the threshold policy on held-out rows of mode m."""

    def fit(
        self,
        X: np.ndarray | pd.DataFrame,
        y: np.ndarray,
        *,
        remaining_s: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> _ThresholdedTTF:
        """Fit one model per mode; choose each mode's alarm level on held-out groups."""
        Xa, ya = _as_features(X), _as_2d(y, "y")
        if Xa.shape[0] != ya.shape[0]:
            raise ValueError(f"X has {Xa.shape[0]} rows but y has {ya.shape[0]}")
        rem = None if remaining_s is None else np.asarray(remaining_s, dtype=np.float64)
        w = np.ones(len(Xa)) if sample_weight is None else np.asarray(sample_weight, float)
        split = _group_split(groups, len(Xa), self.validation_fraction, self.random_state)
        self.alarm_levels_ = np.full(ya.shape[1], -np.inf)
        self.estimate_caps_ = np.full(ya.shape[1], np.inf)
        if split is not None:
            f, v = split.fit, split.val
            for m in range(ya.shape[1]):
                model = self._fit_mode(Xa[f], ya[f, m], None if rem is None else rem[f], w[f])
                est, alarm = self._parts_mode(model, Xa[v])
                level, cap = choose_policy(ya[v, m], est, alarm, w[v])
                self.alarm_levels_[m], self.estimate_caps_[m] = level, cap
                self._fit_decision_mode(m, ya[v, m], est, alarm, w[v])
        self.models_ = [self._fit_mode(Xa, ya[:, m], rem, w) for m in range(ya.shape[1])]
        self.n_features_in_ = Xa.shape[1]
        return self

    def predict_parts(self, X: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(TTF estimates in seconds, alarm scores), each (rows, modes), before the NaN rule."""
        check_fitted(self, "models_")
        Xa = _as_features(X)
        parts = [self._parts_mode(m, Xa) for m in self.models_]
        return np.column_stack([p[0] for p in parts]), np.column_stack([p[1] for p in parts])

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Submission: TTF seconds per mode; NaN unless the alarm reaches the chosen level and
        the estimate is within the chosen cap."""
        est, alarm = self.predict_parts(X)
        submit = (alarm >= self.alarm_levels_[None, :]) & (est <= self.estimate_caps_[None, :])
        return np.where(submit, est, np.nan)

    predict_threshold = predict


class GbmTTF(_ThresholdedTTF):
    """Gradient boosting per mode: a classifier for "a fault within the horizon" (the alarm) and
    a regressor of TTF on the rows where a fault does come within the horizon.

    The regressor minimises the absolute error weighted by exp(-0.001 * TTF), which is exactly
    the official S1 cost of a submitted number when a fault comes.

    `submit="threshold"` (default): the alarm level and estimate cap of `choose_policy`.
    `submit="bayes"` (an ablation: it lost to the threshold rule on development fleet 101, see
    docs/i16/phm2018.md): the submission is the Bayes decision of least expected S1
    (`phm.models.s1_decision`) under a distribution built on held-out tools: P(fault within the
    horizon) = the alarm calibrated by isotonic regression, spread over the regressor's
    estimate times the held-out error ratios (RESIDUAL_QUANTILES quantiles of (TTF + 60) /
    (estimate + 60)); the rest is "far", NaN with the training share of NaN far truths.
    """

    RESIDUAL_QUANTILES = 16
    SUBMIT_RULES = ("bayes", "threshold")

    def __init__(
        self,
        horizon_s: float = DEFAULT_HORIZON_S,
        max_iter: int = 150,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        validation_fraction: float = 0.25,
        random_state: int = 0,
        submit: str = "threshold",
    ) -> None:
        self.horizon_s = horizon_s
        self.submit = submit
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _fit_mode(
        self, X: np.ndarray, ttf: np.ndarray, remaining: np.ndarray | None, weight: np.ndarray
    ) -> object:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        keep = _usable(ttf, remaining, self.horizon_s)
        soon = np.nan_to_num(ttf, nan=np.inf) <= self.horizon_s
        if not soon[keep].any() or soon[keep].all():
            return None  # nothing to tell apart in training: never alarm for this mode
        clf = HistGradientBoostingClassifier(**hgb_params(self))
        clf.fit(X[keep], soon[keep], sample_weight=weight[keep])
        reg = HistGradientBoostingRegressor(loss="absolute_error", **hgb_params(self))
        s1_weight = weight[soon] * np.exp(-S1_DECAY_PER_S * ttf[soon])
        reg.fit(X[soon], ttf[soon], sample_weight=s1_weight)
        return clf, reg

    def _parts_mode(self, model: object, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if model is None:
            return np.full(len(X), np.nan), np.zeros(len(X))
        clf, reg = model  # type: ignore[misc]
        alarm = clf.predict_proba(X)[:, 1]
        return np.clip(reg.predict(X), 0.0, self.horizon_s), alarm

    def fit(self, X, y, *, remaining_s=None, groups=None, sample_weight=None):  # type: ignore[no-untyped-def]
        """As the base class, plus the Bayes rule's calibration (held-out tools) and the NaN
        share of far truths (all training rows)."""
        from phm.models.s1_decision import far_nan_share

        if self.submit not in self.SUBMIT_RULES:
            raise ValueError(f"submit must be one of {self.SUBMIT_RULES}, got {self.submit!r}")
        n_modes = _as_2d(y, "y").shape[1]
        self.calibrators_: list[object | None] = [None] * n_modes
        self.ratio_quantiles_ = np.ones((n_modes, self.RESIDUAL_QUANTILES))
        super().fit(X, y, remaining_s=remaining_s, groups=groups, sample_weight=sample_weight)
        w = None if sample_weight is None else np.asarray(sample_weight, float)
        self.far_nan_share_ = far_nan_share(_as_2d(y, "y"), self.horizon_s, w)
        return self

    def _fit_decision_mode(
        self, m: int, ttf: np.ndarray, est: np.ndarray, alarm: np.ndarray, weight: np.ndarray
    ) -> None:
        from sklearn.isotonic import IsotonicRegression

        soon = np.nan_to_num(ttf, nan=np.inf) <= self.horizon_s
        if np.isnan(est).all() or not soon.any():
            return
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.calibrators_[m] = iso.fit(alarm, soon.astype(float), sample_weight=weight)
        ratio = (ttf[soon] + 60.0) / (est[soon] + 60.0)
        grid = (np.arange(self.RESIDUAL_QUANTILES) + 0.5) / self.RESIDUAL_QUANTILES
        self.ratio_quantiles_[m] = _weighted_quantiles(ratio, weight[soon], grid)

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Submission (rows, modes): TTF seconds or NaN, by the `submit` rule."""
        if self.submit == "threshold":
            return self.predict_threshold(X)
        return self.predict_bayes(X)

    def predict_bayes(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Submission (rows, modes) of the Bayes rule (least expected S1), NaN = no fault."""
        from phm.models.s1_decision import bayes_submission

        est, alarm = self.predict_parts(X)
        out = np.full(est.shape, np.nan)
        for m, iso in enumerate(self.calibrators_):
            if iso is None or np.isnan(est[:, m]).all():
                continue  # no held-out evidence for this mode: submit nothing
            p = iso.predict(alarm[:, m])  # type: ignore[attr-defined]
            support = (est[:, m, None] + 60.0) * self.ratio_quantiles_[m][None, :] - 60.0
            support = np.clip(support, 0.0, self.horizon_s)
            mass = np.repeat(p[:, None] / self.RESIDUAL_QUANTILES, self.RESIDUAL_QUANTILES, 1)
            q = float(self.far_nan_share_[m])
            out[:, m] = bayes_submission(support, mass, 1.0 - p, self.horizon_s, q)
        return out


def _weighted_quantiles(values: np.ndarray, weight: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles q (K,) of values weighted by weight (inverted weighted CDF)."""
    order = np.argsort(values)
    v, w = values[order], weight[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cdf, v)


class SurvivalTTF(_ThresholdedTTF):
    """Weibull accelerated-failure-time model per mode (lifelines), right-censored at record end.

    Each training row is a subject: its duration is the TTF where a fault follows, else the time
    left in the record (censored). The estimate is the predicted median (`quantile`) TTF, the
    alarm the predicted probability of a fault within the horizon. Features are standardised;
    missing values take the median. `max_rows` subsamples rows per mode to keep the fit fast.
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

    def fit(self, X, y, *, remaining_s=None, groups=None, sample_weight=None):  # type: ignore[no-untyped-def]
        Xa = _as_features(X)
        self.center_ = np.nan_to_num(np.nanmedian(Xa, axis=0))
        self.scale_ = np.where(np.isnan(Xa), self.center_, Xa).std(axis=0) + 1e-6
        return super().fit(
            X, y, remaining_s=remaining_s, groups=groups, sample_weight=sample_weight
        )

    def _design(self, X: np.ndarray) -> pd.DataFrame:
        z = (np.where(np.isnan(X), self.center_, X) - self.center_) / self.scale_
        return pd.DataFrame(np.clip(z, -10, 10), columns=[f"x{i}" for i in range(X.shape[1])])

    def _fit_mode(
        self, X: np.ndarray, ttf: np.ndarray, remaining: np.ndarray | None, weight: np.ndarray
    ) -> object:
        from lifelines import WeibullAFTFitter

        observed = ~np.isnan(ttf)
        if remaining is None:
            remaining = np.full(len(ttf), self.horizon_s * 10)
        duration = np.where(observed, ttf, remaining) + 1.0  # lifelines needs durations > 0
        rng = np.random.default_rng(self.random_state)
        idx = np.arange(len(ttf))
        if idx.size > self.max_rows:  # draw rows in proportion to their weight
            idx = np.sort(
                rng.choice(idx, size=self.max_rows, replace=False, p=weight / weight.sum())
            )
        df = self._design(X[idx])
        df["duration"], df["event"] = duration[idx], observed[idx].astype(int)
        if df["event"].sum() == 0:
            return None  # this mode never occurs in training: never alarm for it
        fitter = WeibullAFTFitter(penalizer=self.penalizer)
        fitter.fit(df, duration_col="duration", event_col="event")
        return fitter

    def _parts_mode(self, model: object, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if model is None:
            return np.full(len(X), np.nan), np.zeros(len(X))
        design = self._design(X)
        est = model.predict_percentile(design, p=1 - self.quantile)  # type: ignore[attr-defined]
        surv = model.predict_survival_function(design, times=[self.horizon_s + 1.0])  # type: ignore[attr-defined]
        alarm = 1.0 - np.asarray(surv, dtype=np.float64).ravel()
        return np.maximum(np.asarray(est, dtype=np.float64).ravel() - 1.0, 0.0), alarm
