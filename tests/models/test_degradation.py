"""DegradationRul: health indicator, trend recovery on a synthetic exponential HI, interval
coverage, errors."""

from __future__ import annotations

import numpy as np
import pytest

from phm.errors import NotFittedError
from phm.models.degradation import DegradationRul, History, health_indicator

STEP_S = 10.0
RATE = 2e-3  # HI growth per second after onset (ln units)
ONSET = 0.3  # HI at onset


def exponential_history(life_s: float, seed: int, noise: float = 0.01) -> History:
    """Two channels of ln RMS: flat until half the life, then the excess over the baseline
    grows as ONSET * exp(RATE (t - t_onset)) until the failure at `life_s`."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, life_s + STEP_S / 2, STEP_S)
    t_on = life_s / 2
    excess = np.where(times > t_on, ONSET * np.exp(RATE * (times - t_on)), 0.0)
    level = np.stack([excess, 0.5 * excess], axis=1) + rng.normal(0, noise, (len(times), 2))
    return History(times, level)


def flat_history(life_s: float, seed: int) -> History:
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, life_s + STEP_S / 2, STEP_S)
    return History(times, rng.normal(0, 0.02, (len(times), 2)))


def test_health_indicator_is_causal_monotone_and_zero_when_healthy() -> None:
    h = exponential_history(2000.0, seed=1)
    hi = health_indicator(h.level, 30, 6)
    assert np.all(np.diff(hi) >= 0) and hi[0] == 0.0
    for j in (5, 40, 150):  # a prefix's HI is the HI's prefix: nothing from later snapshots
        assert health_indicator(h.level[: j + 1], 30, 6) == pytest.approx(hi[: j + 1])
    flat = health_indicator(np.zeros((100, 2)), 30, 6)
    assert np.all(flat == 0.0)
    assert hi[-1] == pytest.approx(ONSET * np.exp(RATE * 1000.0), rel=0.1)


def test_trend_fit_recovers_the_rate_threshold_and_rul() -> None:
    lives = [1800.0, 2000.0, 2200.0, 2400.0, 2600.0]
    train = [exponential_history(life, seed=i) for i, life in enumerate(lives)]
    model = DegradationRul(
        onset_levels=(ONSET,), trend_windows=(0,), quantiles=(0.5,), random_state=0
    ).fit(train)
    assert model.trend_.slope_mean == pytest.approx(RATE, rel=0.15)
    # every training life ends at ONSET * exp(RATE * life / 2): their median
    assert model.failure_level_ == pytest.approx(ONSET * np.exp(RATE * 1100.0), rel=0.1)
    held = exponential_history(2200.0, seed=99)
    for elapsed in (1500.0, 1800.0, 2000.0):
        index = int(elapsed / STEP_S)
        dist = model.predict_distribution(held.prefix(index))
        truth = 2200.0 - elapsed
        assert dist.point == pytest.approx(truth, abs=60.0)
        assert dist.lower <= dist.point <= dist.upper


def test_without_a_trend_the_point_is_the_nested_quantile_of_the_scaled_prior() -> None:
    train = [flat_history(life, seed=i) for i, life in enumerate([900.0, 1500.0, 2400.0, 3000.0])]
    model = DegradationRul(onset_levels=(np.inf,)).fit(train)
    assert np.isinf(model.onset_level_) and model.quantile_ in model.quantiles
    a = model.predict_distribution(flat_history(1000.0, seed=7).prefix(50))
    b = model.predict_distribution(flat_history(1000.0, seed=8).prefix(100))
    # scale-free prior: the RUL at twice the elapsed time is twice as long
    assert b.point == pytest.approx(2 * a.point, rel=0.05)


def test_recalibrated_interval_covers_about_ninety_percent_of_new_cuts() -> None:
    rng = np.random.default_rng(0)

    def population(n: int, seed: int) -> list[History]:
        lives = np.round(np.exp(rng.normal(np.log(1500.0), 0.5, n)) / STEP_S) * STEP_S
        return [flat_history(float(life), seed=seed + i) for i, life in enumerate(lives)]

    model = DegradationRul(onset_levels=(np.inf,), n_draws=1000).fit(population(30, 0))
    hits = []
    for h in population(40, 1000):
        n = len(h.times)
        for f in model.validation_fractions:
            idx = min(int(np.ceil(f * n)) - 1, n - 2)
            dist = model.predict_distribution(h.prefix(idx))
            hits.append(dist.lower <= h.times[-1] - h.times[idx] <= dist.upper)
    assert 0.8 <= np.mean(hits) <= 1.0


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        DegradationRul().fit([flat_history(500.0, 0), flat_history(600.0, 1)])
    with pytest.raises(NotFittedError):
        DegradationRul().predict_distribution(flat_history(500.0, 0))
    with pytest.raises(ValueError, match=r"\(S, C\)"):
        History(np.arange(5.0), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="min_life_fraction"):
        DegradationRul(min_life_fraction=1.5).fit([flat_history(500.0, i) for i in range(3)])
