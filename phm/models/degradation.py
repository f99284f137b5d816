"""Degradation-aware remaining life from a health-indicator history, with an RUL distribution.

A run-to-failure asset (a PRONOSTIA bearing) is watched through per-snapshot log amplitudes
(e.g. ln RMS per channel). From them:

1. Health indicator (HI, `health_indicator`): each channel minus its median over the record's
   first `baseline_snapshots` (the asset's own healthy baseline), smoothed by a causal EWMA,
   the largest channel, then its running maximum: monotone, 0 when healthy, in ln units.
2. Survival prior: without other knowledge, the elapsed time e is a fraction f of the life,
   f ~ Uniform(min_life_fraction, 1): RUL = e (1 - f) / f. Scale-free, so it needs no
   training lives of the same length (lives on PRONOSTIA span 1.4-7.8 h).
3. Degradation trend (Gebraeel-style): once the HI passes the onset level, ln HI is fitted
   as a + b (t - t_onset) by Bayesian linear regression, the prior on the slope b from the
   training assets' own post-onset fits; posterior draws extrapolate to the failure level (the
   median HI of the training assets at failure). A non-positive slope never fails by trend.
4. RUL draws = min(prior draw, trend draw) (competing risks). The point prediction is a
   quantile of the draws; the interval spans two quantiles of them (`interval_levels_`).

Nested validation: `fit` runs leave-one-asset-out over its own training assets, each cut at
`validation_fractions` of its life, to choose the trend variant (onset level, infinity = no
trend component; fit window, 0 = all snapshots since onset) by the one-standard-error rule
(the simplest variant within one standard error of the best inner PHM 2012 score), the
point quantile (maximising the inner score), and to recalibrate the
interval: its quantile levels are those of the inner cuts' PIT values (probability integral
transform) at (1 -/+ coverage) / 2. The held-out asset of an outer fold never takes part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from phm.errors import NotFittedError
from phm.metrics import phm2012_score


@dataclass(frozen=True)
class History:
    """One asset's record up to now: times (S,) s since its first snapshot, strictly rising;
    level (S, C) log amplitudes (e.g. ln RMS) per channel."""

    times: np.ndarray
    level: np.ndarray

    def __post_init__(self) -> None:
        if self.times.ndim != 1 or self.level.ndim != 2 or len(self.times) != len(self.level):
            raise ValueError(
                f"times must be (S,) and level (S, C); got {self.times.shape}, {self.level.shape}"
            )
        if len(self.times) < 2:
            raise ValueError("a history needs at least 2 snapshots")

    def prefix(self, index: int) -> History:
        """Snapshots 0..index."""
        return History(self.times[: index + 1], self.level[: index + 1])


@dataclass(frozen=True)
class RulDistribution:
    """Predicted remaining life (s): point, the interval bounds and the draws behind them."""

    point: float
    lower: float
    upper: float
    draws: np.ndarray


@dataclass(frozen=True)
class _Trend:
    failure_level: float  # HI at failure (ln units)
    slope_mean: float  # prior on b, per second
    slope_sd: float
    noise_sd: float  # residual sd of ln HI around the fitted line


def health_indicator(level: np.ndarray, baseline_snapshots: int, smooth_span: int) -> np.ndarray:
    """(S,) monotone HI from log amplitudes (S, C): row j uses snapshots 0..j only (the baseline
    is the first `baseline_snapshots`, fixed once the record is that long)."""
    s = level.shape[0]
    delta = np.empty_like(level, dtype=np.float64)
    for j in range(min(baseline_snapshots, s)):  # causal baseline while it is still forming
        delta[j] = level[j] - np.median(level[: j + 1], axis=0)
    if s > baseline_snapshots:
        delta[baseline_snapshots:] = level[baseline_snapshots:] - np.median(
            level[:baseline_snapshots], axis=0
        )
    a = 2.0 / (smooth_span + 1)
    smooth = lfilter([a], [1.0, a - 1.0], delta, axis=0, zi=(1 - a) * delta[:1])[0]
    return np.maximum.accumulate(np.maximum(smooth.max(axis=1), 0.0))


def _onset_index(hi: np.ndarray, onset_level: float) -> int | None:
    above = np.flatnonzero(hi > onset_level)
    return int(above[0]) if above.size else None


def _slope_fit(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """OLS slope of y on t and the residual sd."""
    tc = t - t.mean()
    slope = float(tc @ (y - y.mean()) / max(tc @ tc, 1e-12))
    resid = y - y.mean() - slope * tc
    return slope, float(resid.std())


class DegradationRul:
    """RUL distribution from an HI trend and a scale-free survival prior (module docstring).

    Learned: `failure_level_`, `onset_level_`, `quantile_`, `interval_levels_`, `trend_`,
    `validation_` (inner leave-one-out scores per onset level).
    """

    def __init__(
        self,
        baseline_snapshots: int = 30,
        smooth_span: int = 6,
        onset_levels: Sequence[float] = (0.4, 0.7, 1.0, np.inf),
        quantiles: Sequence[float] = tuple(np.round(np.arange(0.01, 0.61, 0.01), 2)),
        coverage: float = 0.9,
        validation_fractions: Sequence[float] = (0.6, 0.7, 0.8, 0.9),
        min_life_fraction: float = 0.05,
        intercept_sd: float = 0.5,
        trend_windows: Sequence[int] = (0, 30, 60, 120),
        n_draws: int = 4000,
        random_state: int = 0,
    ) -> None:
        self.baseline_snapshots = baseline_snapshots
        self.smooth_span = smooth_span
        self.onset_levels = onset_levels
        self.quantiles = quantiles
        self.coverage = coverage
        self.validation_fractions = validation_fractions
        self.min_life_fraction = min_life_fraction
        self.intercept_sd = intercept_sd
        self.trend_windows = trend_windows
        self.n_draws = n_draws
        self.random_state = random_state

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, histories: Sequence[History]) -> DegradationRul:
        """Fit on complete run-to-failure histories (the last snapshot is the failure)."""
        if len(histories) < 3:
            raise ValueError(f"need at least 3 run-to-failure histories, got {len(histories)}")
        if not 0.0 < self.min_life_fraction < 1.0:
            raise ValueError(f"min_life_fraction must be in (0, 1), got {self.min_life_fraction}")
        his = [self._hi(h) for h in histories]
        # Inner leave-one-out: draws at every inner cut for every onset level.
        variants = [(lv, w) for lv in self.onset_levels for w in self.trend_windows]
        variants = [(lv, w) for lv, w in variants if np.isfinite(lv) or w == 0]
        scores: dict[tuple[float, int], np.ndarray] = {}
        draws_at: dict[tuple[float, int], list[tuple[float, np.ndarray]]] = {}
        trends = {
            (i, lv): self._fit_trend(
                [h for j, h in enumerate(histories) if j != i],
                [x for j, x in enumerate(his) if j != i],
                lv,
            )
            for i in range(len(histories))
            for lv in self.onset_levels
        }
        for lv, w in variants:
            per_cut: list[tuple[float, np.ndarray]] = []
            for i, held in enumerate(histories):
                n = len(held.times)
                for f in self.validation_fractions:
                    idx = min(max(int(np.ceil(f * n)) - 1, 0), n - 2)
                    actual = float(held.times[-1] - held.times[idx])
                    rng = np.random.default_rng([self.random_state, i, idx])
                    d = self._draws(
                        held.times[: idx + 1], his[i][: idx + 1], trends[i, lv], lv, w, rng
                    )
                    per_cut.append((actual, d))
            draws_at[lv, w] = per_cut
            act = np.array([a for a, _ in per_cut])
            preds = np.array([np.quantile(d, self.quantiles) for _, d in per_cut])  # (K, Q)
            scores[lv, w] = np.array(
                [phm2012_score(act, preds[:, q]) for q in range(len(self.quantiles))]
            )
        # One-standard-error rule: the simplest variant (no trend, then the highest onset level,
        # then the whole history) within one standard error of the best inner score.
        top = max(variants, key=lambda v: scores[v].max())
        q_top = int(np.argmax(scores[top]))
        act = np.array([a for a, _ in draws_at[top]])
        pred = np.array([np.quantile(d, self.quantiles[q_top]) for _, d in draws_at[top]])
        per_cut_a = [phm2012_score([a], [p]) for a, p in zip(act, pred, strict=True)]
        se = float(np.std(per_cut_a, ddof=1) / np.sqrt(len(per_cut_a)))
        simplest_first = sorted(variants, key=lambda v: (-v[0], v[1]))
        best = next(v for v in simplest_first if scores[v].max() >= scores[top].max() - se)
        self.onset_level_, self.trend_window_ = float(best[0]), int(best[1])
        self.quantile_ = float(self.quantiles[int(np.argmax(scores[best]))])
        self.interval_levels_ = self._interval_levels(draws_at[best])
        self.validation_ = {
            f"onset {lv:g}, window {w}": float(s.max()) for (lv, w), s in scores.items()
        }
        self.trend_ = self._fit_trend(histories, his, self.onset_level_)
        self.failure_level_ = self.trend_.failure_level
        return self

    def _interval_levels(self, per_cut: list[tuple[float, np.ndarray]]) -> tuple[float, float]:
        """Quantile levels of the draws that bound the interval, recalibrated on the inner cuts:
        the (1 -/+ coverage)/2 quantiles of the inner PIT values (the share of draws below the
        actual RUL), rounded outwards, so the interval covers at least that share of inner cuts
        on each side."""
        pit = np.array([np.mean(d < a) for a, d in per_cut])
        tail = (1.0 - self.coverage) / 2
        # Conservative order statistics (split-conformal style): few inner cuts.
        lower = float(np.quantile(pit, tail, method="lower"))
        upper = float(np.quantile(pit, 1.0 - tail, method="higher"))
        return lower, upper

    def _hi(self, h: History) -> np.ndarray:
        return health_indicator(h.level, self.baseline_snapshots, self.smooth_span)

    def _fit_trend(
        self, histories: Sequence[History], his: Sequence[np.ndarray], onset_level: float
    ) -> _Trend:
        failure = float(np.median([hi[-1] for hi in his]))
        slopes, noise = [], []
        for h, hi in zip(histories, his, strict=True):
            k = _onset_index(hi, onset_level)
            if k is None or len(hi) - k < 3:
                continue
            t = h.times[k:] - h.times[k]
            b, sd = _slope_fit(t, np.log(hi[k:]))
            slopes.append(b)
            noise.append(sd)
        if not slopes:  # no training asset degraded past this level before failing
            return _Trend(max(failure, onset_level), 0.0, 0.0, 1.0)
        mean = float(np.mean(slopes))
        sd = float(np.std(slopes, ddof=1)) if len(slopes) > 1 else abs(mean)
        return _Trend(max(failure, onset_level), mean, max(sd, 1e-9), max(np.mean(noise), 0.05))

    # --- prediction ------------------------------------------------------------------------

    def _draws(
        self,
        times: np.ndarray,
        hi: np.ndarray,
        trend: _Trend,
        onset_level: float,
        window: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """(n_draws,) RUL draws (s) at the last of `times`."""
        elapsed = float(times[-1])
        # Stratified (evenly spaced, shuffled) draws: the prior's quantiles carry no Monte
        # Carlo noise, so the choices of the nested validation do not hang on the seed.
        u = rng.permutation((np.arange(self.n_draws) + 0.5) / self.n_draws)
        f = self.min_life_fraction + (1.0 - self.min_life_fraction) * u
        rul = elapsed * (1.0 - f) / f
        k = _onset_index(hi, onset_level)
        if k is None or trend.slope_sd == 0.0:
            return rul
        if window > 0:  # the current rate, not the whole history's
            k = max(k, len(hi) - window)
        t = times[k:] - times[k]
        y = np.log(np.maximum(hi[k:], 1e-9))
        # Conjugate normal posterior of (a, b) with known noise; prior a ~ N(ln onset, s_a),
        # b ~ N(slope_mean, slope_sd).
        design = np.stack([np.ones_like(t), t], axis=1)  # (n, 2)
        prior_mean = np.array([y[0], trend.slope_mean])
        prior_prec = np.diag([self.intercept_sd**-2, trend.slope_sd**-2])
        prec = prior_prec + design.T @ design / trend.noise_sd**2
        cov = np.linalg.inv(prec)
        mean = cov @ (prior_prec @ prior_mean + design.T @ y / trend.noise_sd**2)
        ab = rng.multivariate_normal(mean, (cov + cov.T) / 2, self.n_draws)  # (n_draws, 2)
        target = np.log(trend.failure_level)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_fail = np.where(ab[:, 1] > 0, (target - ab[:, 0]) / ab[:, 1], np.inf)
        trend_rul = np.maximum(t_fail - t[-1], 0.0)
        return np.minimum(rul, trend_rul)

    def predict_distribution(self, history: History) -> RulDistribution:
        """RUL (s) at the last snapshot of `history`, from its snapshots only."""
        if not hasattr(self, "trend_"):
            raise NotFittedError("DegradationRul.predict_distribution called before fit")
        rng = np.random.default_rng([self.random_state, len(history.times)])
        hi = self._hi(history)
        d = self._draws(history.times, hi, self.trend_, self.onset_level_, self.trend_window_, rng)
        lo, hi_q = self.interval_levels_
        return RulDistribution(
            float(np.quantile(d, self.quantile_)),
            float(np.quantile(d, lo)),
            float(np.quantile(d, hi_q)),
            d,
        )

    def predict(self, histories: Sequence[History]) -> np.ndarray:
        """(N,) point RUL (s) at the end of each history."""
        return np.array([self.predict_distribution(h).point for h in histories])
