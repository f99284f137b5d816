"""PHM 2018 style TTF baselines: interface, the NaN rule, and that they learn."""

from __future__ import annotations

import numpy as np
import pytest

from phm.errors import NotFittedError
from phm.metrics import phm2018_cell_scores
from phm.models.baselines import GbmTTF, NanTTF, SurvivalTTF, choose_policy


def synthetic(n_assets: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Assets with faults every ~3 h; a feature rises over the hour before each fault."""
    rng = np.random.default_rng(seed)
    X, y, rem, groups = [], [], [], []
    for a in range(n_assets):
        t = np.arange(0, 48 * 3600, 60.0)
        faults = np.cumsum(rng.uniform(2, 4, size=30) * 3600)
        faults = faults[faults < t[-1] - 3600]
        nxt = np.searchsorted(faults, t)
        ttf = np.where(nxt < faults.size, faults[np.minimum(nxt, faults.size - 1)] - t, np.nan)
        signal = np.where(np.nan_to_num(ttf, nan=1e9) < 3600, 1 - ttf / 3600, 0.0)
        X.append(np.column_stack([signal + rng.normal(0, 0.05, t.size), rng.normal(size=t.size)]))
        y.append(np.column_stack([ttf, np.full(t.size, np.nan)]))  # the second mode never occurs
        rem.append(t[-1] - t)
        groups.append(np.full(t.size, a))
    return np.concatenate(X), np.concatenate(y), np.concatenate(rem), np.concatenate(groups)


def s1(truth: np.ndarray, sub: np.ndarray) -> float:
    return float(phm2018_cell_scores(truth, sub).mean())


def test_nan_baseline_never_predicts() -> None:
    X, y, _, _ = synthetic(1, 0)
    model = NanTTF().fit(X, y)
    assert model is not None and model.n_modes_ == 2
    assert np.isnan(model.predict(X)).all()
    with pytest.raises(NotFittedError):
        NanTTF().predict(X)


@pytest.mark.parametrize("model", [GbmTTF(max_iter=60), SurvivalTTF(max_rows=5000)])
def test_baselines_beat_all_nan_on_held_out_assets(model: GbmTTF | SurvivalTTF) -> None:
    X, y, rem, groups = synthetic(6, 1)
    Xt, yt, _, _ = synthetic(2, 2)
    assert model.fit(X, y, remaining_s=rem, groups=groups) is model
    sub = model.predict(Xt)
    assert sub.shape == yt.shape
    assert np.isnan(sub[:, 1]).all()  # a mode never seen in training is never predicted
    assert s1(yt, sub) < 0.7 * s1(yt, np.full_like(yt, np.nan))
    _, alarm = model.predict_parts(Xt)
    soon = np.nan_to_num(yt[:, 0], nan=np.inf) < 1800
    assert alarm[soon, 0].mean() > alarm[~soon, 0].mean()


def test_choose_policy_prefers_nan_when_estimates_are_bad_and_numbers_when_good() -> None:
    truth = np.array([100.0, 500.0, np.nan, np.nan])
    alarm = np.array([0.9, 0.8, 0.1, 0.2])
    good = np.array([110.0, 480.0, 1000.0, 1000.0])
    level, _ = choose_policy(truth, good, alarm)
    assert 0.2 < level <= 0.8  # submit the two confident rows only
    bad = np.array([5000.0, 5000.0, 300.0, 300.0])
    assert choose_policy(truth, bad, alarm)[0] == np.inf


def test_choose_policy_caps_long_estimates() -> None:
    truth = np.array([100.0, 4000.0, np.nan])
    alarm = np.array([0.9, 0.9, 0.9])
    estimate = np.array([120.0, 9000.0, 700.0])  # the false alarm has a short estimate
    level, cap = choose_policy(truth, estimate, alarm)
    assert level <= 0.9 and cap == 300.0


def test_survival_median_recovers_weibull_truth_under_censoring() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=n)
    shape, scale = 2.0, np.exp(7.0 + 0.5 * x)  # seconds
    t = scale * rng.weibull(shape, size=n)
    censor = rng.uniform(0, 3000, size=n)
    observed = t <= censor
    ttf = np.where(observed, t, np.nan)
    model = SurvivalTTF(penalizer=0.0, max_rows=n, validation_fraction=0.0)
    model.fit(x[:, None], ttf, remaining_s=censor)
    grid = np.array([[-1.0], [0.0], [1.0]])
    est, _ = model.predict_parts(grid)
    true_median = np.exp(7.0 + 0.5 * grid[:, 0]) * np.log(2) ** (1 / shape)
    np.testing.assert_allclose(est[:, 0], true_median, rtol=0.08)
