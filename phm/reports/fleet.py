"""Fleet reliability from a failure history with right-censoring: Weibull fit and Kaplan-Meier.

The history holds one life per unit: its duration (in the model's unit: cycles, hours) and
whether it ended in a failure (event) or is still running / was removed (censored). The
Weibull fit (lifelines `WeibullFitter`, S(t) = exp(-(t / scale) ** shape)) gives shape, scale,
B10 life (10% of units have failed) and MTBF = scale * Gamma(1 + 1/shape), each with a Wald
interval computed on the log scale (delta method on lifelines' covariance), so bounds stay
positive. Kaplan-Meier is the nonparametric check drawn beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma
from scipy.stats import norm

from phm.errors import PhmError

MIN_FAILURES = 2  # fewer failures than this: no Weibull fit (shape is not identifiable)


class FleetHistoryError(PhmError, ValueError):
    """A failure history that cannot be analysed (no units, negative lives, too few failures)."""


@dataclass
class FailureHistory:
    """Lives of a fleet: unit ids, durations (>= 0, in `unit`), event flags (True = failed)."""

    units: list[str]
    durations: np.ndarray
    events: np.ndarray
    unit: str
    source: str  # where the history came from, for the report

    def __post_init__(self) -> None:
        self.durations = np.asarray(self.durations, dtype=np.float64)
        self.events = np.asarray(self.events, dtype=bool)
        if not (len(self.units) == len(self.durations) == len(self.events)):
            raise FleetHistoryError(
                f"{self.source}: units, durations and events differ in length "
                f"({len(self.units)}, {len(self.durations)}, {len(self.events)})"
            )
        bad = ~np.isfinite(self.durations) | (self.durations < 0)
        if bad.any():
            unit = self.units[int(np.argmax(bad))]
            raise FleetHistoryError(
                f"{self.source}: unit {unit!r} has duration {self.durations[bad][0]}; "
                "expected a finite number >= 0"
            )

    @property
    def n_failures(self) -> int:
        return int(self.events.sum())


@dataclass
class Estimate:
    """A value with its confidence interval at `level`."""

    value: float
    lower: float
    upper: float


@dataclass
class WeibullSummary:
    """Fitted Weibull parameters and life figures with intervals (all times in `unit`)."""

    shape: Estimate
    scale: Estimate
    b10: Estimate
    mtbf: Estimate
    level: float
    n_units: int
    n_failures: int
    unit: str
    log_likelihood: float
    aic: float

    def rows(self) -> list[dict[str, float | str]]:
        """One row per quantity: name, value, lower, upper (for tables and CSV)."""
        return [
            {"quantity": name, "value": e.value, "lower": e.lower, "upper": e.upper}
            for name, e in (
                ("shape", self.shape),
                ("scale", self.scale),
                ("b10_life", self.b10),
                ("mtbf", self.mtbf),
            )
        ]


@dataclass
class KaplanMeier:
    """Kaplan-Meier survival S(t) at the event times with its pointwise interval."""

    time: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    median: float  # inf when survival never falls to 0.5
    level: float


@dataclass
class FleetAnalysis:
    """The fleet part of a report: the history, its Weibull fit (None with a reason) and KM."""

    history: FailureHistory
    weibull: WeibullSummary | None
    kaplan_meier: KaplanMeier | None
    notes: list[str] = field(default_factory=list)


def fit_weibull(history: FailureHistory, level: float = 0.9) -> WeibullSummary:
    """Maximum-likelihood Weibull fit with right-censoring; intervals at `level`."""
    from lifelines import WeibullFitter

    if history.n_failures < MIN_FAILURES:
        raise FleetHistoryError(
            f"{history.source}: {history.n_failures} failure(s) among {len(history.units)} "
            f"units; a Weibull fit needs at least {MIN_FAILURES}"
        )
    # lifelines needs strictly positive durations; a life of 0 is floored to a tiny fraction
    t = np.maximum(history.durations, 1e-6 * max(float(history.durations.max()), 1.0))
    fitter = WeibullFitter(alpha=1.0 - level).fit(t, history.events.astype(int))
    lam, rho = float(fitter.lambda_), float(fitter.rho_)
    cov = fitter.variance_matrix_.loc[["lambda_", "rho_"], ["lambda_", "rho_"]].to_numpy()
    z = float(norm.ppf(0.5 + level / 2.0))

    def log_interval(log_value: float, grad: np.ndarray) -> Estimate:
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        return Estimate(
            math.exp(log_value), math.exp(log_value - z * se), math.exp(log_value + z * se)
        )

    c10 = math.log(-math.log(0.9))  # log of the B10 Weibull constant
    return WeibullSummary(
        shape=log_interval(math.log(rho), np.array([0.0, 1.0 / rho])),
        scale=log_interval(math.log(lam), np.array([1.0 / lam, 0.0])),
        b10=log_interval(math.log(lam) + c10 / rho, np.array([1.0 / lam, -c10 / rho**2])),
        mtbf=log_interval(
            math.log(lam) + math.lgamma(1.0 + 1.0 / rho),
            np.array([1.0 / lam, -float(digamma(1.0 + 1.0 / rho)) / rho**2]),
        ),
        level=level,
        n_units=len(history.units),
        n_failures=history.n_failures,
        unit=history.unit,
        log_likelihood=float(fitter.log_likelihood_),
        aic=float(fitter.AIC_),
    )


def kaplan_meier(history: FailureHistory, level: float = 0.9) -> KaplanMeier:
    """Kaplan-Meier estimate of the fleet's survival with its interval at `level`."""
    from lifelines import KaplanMeierFitter

    if not history.units:
        raise FleetHistoryError(f"{history.source}: no units in the failure history")
    km = KaplanMeierFitter(alpha=1.0 - level).fit(history.durations, history.events.astype(int))
    ci = km.confidence_interval_.to_numpy()
    return KaplanMeier(
        time=km.survival_function_.index.to_numpy(dtype=np.float64),
        survival=km.survival_function_.to_numpy()[:, 0].astype(np.float64),
        lower=ci[:, 0].astype(np.float64),
        upper=ci[:, 1].astype(np.float64),
        median=float(km.median_survival_time_),
        level=level,
    )


def analyse_fleet(history: FailureHistory, level: float = 0.9) -> FleetAnalysis:
    """Weibull and Kaplan-Meier of a history; a fit that cannot be made becomes a note."""
    notes = []
    weibull = km = None
    try:
        weibull = fit_weibull(history, level)
    except FleetHistoryError as exc:
        notes.append(f"No Weibull fit: {exc}")
    except Exception as exc:  # lifelines convergence failures: report, don't fail the report
        notes.append(f"No Weibull fit: lifelines did not converge ({exc})")
    if history.units:
        km = kaplan_meier(history, level)
    else:
        notes.append("No Kaplan-Meier curve: the failure history is empty")
    return FleetAnalysis(history, weibull, km, notes)


def weibull_survival(summary: WeibullSummary, t: np.ndarray) -> np.ndarray:
    """S(t) of the fitted Weibull at times t."""
    return np.exp(-((np.asarray(t, dtype=np.float64) / summary.scale.value) ** summary.shape.value))
