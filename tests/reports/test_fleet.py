"""Fleet reliability: the Weibull fit recovers known parameters from censored data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phm.reports.fleet import (
    FailureHistory,
    FleetHistoryError,
    analyse_fleet,
    fit_weibull,
    kaplan_meier,
)

SHAPE, SCALE = 2.2, 150.0


def simulated(n: int, seed: int) -> FailureHistory:
    """Weibull(SHAPE, SCALE) lives, right-censored by uniform(0, 2 SCALE) removal times."""
    rng = np.random.default_rng(seed)
    life = SCALE * rng.weibull(SHAPE, n)
    removal = rng.uniform(0.0, 2.0 * SCALE, n)
    return FailureHistory(
        [f"u{i}" for i in range(n)], np.minimum(life, removal), life <= removal, "h", "sim"
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weibull_recovers_known_parameters_within_its_interval(seed: int) -> None:
    h = simulated(400, seed)
    assert 0.4 < h.events.mean() < 0.9  # really censored
    w = fit_weibull(h, level=0.95)
    b10 = SCALE * (-math.log(0.9)) ** (1.0 / SHAPE)
    mtbf = SCALE * math.gamma(1.0 + 1.0 / SHAPE)
    for est, truth in ((w.shape, SHAPE), (w.scale, SCALE), (w.b10, b10), (w.mtbf, mtbf)):
        assert est.lower < truth < est.upper, (est, truth)
        assert est.lower < est.value < est.upper
    assert abs(w.shape.value - SHAPE) < 0.4 and abs(w.scale.value - SCALE) < 15
    assert w.n_failures == h.n_failures and w.unit == "h"


def test_interval_narrows_with_more_data() -> None:
    small, large = fit_weibull(simulated(60, 5)), fit_weibull(simulated(1000, 5))
    width = lambda e: e.upper - e.lower  # noqa: E731
    assert width(large.shape) < width(small.shape) / 2
    assert width(large.b10) < width(small.b10) / 2


def test_kaplan_meier_follows_the_true_survival() -> None:
    km = kaplan_meier(simulated(1000, 3), level=0.95)
    for t in (50.0, 150.0, 250.0):
        i = np.searchsorted(km.time, t, side="right") - 1
        truth = math.exp(-((t / SCALE) ** SHAPE))
        assert km.lower[i] - 0.02 < truth < km.upper[i] + 0.02
    assert np.all(np.diff(km.survival) <= 0)


def test_too_few_failures_is_a_note_not_a_crash() -> None:
    h = FailureHistory(["a", "b", "c"], np.array([5.0, 6.0, 7.0]), np.array([1, 0, 0]), "h", "x")
    with pytest.raises(FleetHistoryError, match="1 failure"):
        fit_weibull(h)
    fleet = analyse_fleet(h)
    assert fleet.weibull is None and fleet.kaplan_meier is not None
    assert "needs at least 2" in fleet.notes[0]


def test_bad_history_names_the_unit() -> None:
    with pytest.raises(FleetHistoryError, match="unit 'b' has duration -1"):
        FailureHistory(["a", "b"], np.array([1.0, -1.0]), np.array([1, 1]), "h", "hist")
