"""`UncappedGbmRul` and `past_cap_blend`: RUL past the label cap, the capped model unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from phm.bench.cmapss_uncapped import uniform_cut_weights, weighted_rmse
from phm.models.rul_baselines import GbmRul, RulNotFittedError
from phm.models.uncapped_rul import UncappedGbmRul, past_cap_blend


def test_past_cap_blend_by_hand() -> None:
    capped = np.array([10.0, 65.0, 95.0, 125.0, 120.0])
    wide = np.array([300.0, 300.0, 185.0, 190.0, 50.0])
    got = past_cap_blend(capped, wide, cap=125.0, margin=60.0)
    # below cap - margin: capped; halfway: the mean; at the cap: wide; never below capped
    np.testing.assert_allclose(got, [10.0, 65.0, 140.0, 190.0, 120.0])
    with pytest.raises(ValueError, match="margin must be > 0"):
        past_cap_blend(capped, wide, 125.0, 0.0)


def long_lives(n_units: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, rul, units) of units living 150-300 cycles: features the cycle and a wear signal."""
    rng = np.random.default_rng(seed)
    rows, rul, units = [], [], []
    for u, life in enumerate(rng.integers(150, 300, size=n_units)):
        cycle = np.arange(1, life + 1)
        remaining = life - cycle
        wear = np.exp(-remaining / 60.0) + rng.normal(0, 0.02, life)
        rows.append(np.column_stack([cycle, wear]))
        rul.append(remaining.astype(float))
        units.append(np.full(life, f"u{u}"))
    return np.vstack(rows), np.concatenate(rul), np.concatenate(units)


def test_uncapped_gbm_exceeds_the_cap_and_keeps_the_capped_model() -> None:
    X, rul, _ = long_lives()
    model = UncappedGbmRul(max_iter=40, random_state=3).fit(X, rul)
    plain = GbmRul(max_iter=40, random_state=3).fit(X, np.minimum(rul, 125.0))
    capped = model.predict_capped(X)
    np.testing.assert_array_equal(capped, np.clip(plain.predict(X), 0, 125))
    pred = model.predict(X)
    assert capped.max() <= 125.0 and pred.max() > 150.0
    assert (pred >= capped - 1e-9).all()  # the extension only ever raises the capped one
    low = capped < 125.0 - model.margin
    np.testing.assert_array_equal(pred[low], capped[low])
    # against the uncapped truth, the extension is better where the truth is past the cap
    far = rul > 150
    assert np.abs(pred[far] - rul[far]).mean() < np.abs(capped[far] - rul[far]).mean()
    assert model.predict_wide(X).max() <= 200.0
    with pytest.raises(RulNotFittedError):
        UncappedGbmRul().predict(X)
    with pytest.raises(ValueError, match="wide_cap must exceed cap"):
        UncappedGbmRul(wide_cap=100.0).fit(X, rul)
    with pytest.raises(ValueError, match="must be >= 0"):
        UncappedGbmRul().fit(X, rul - 1000)


def test_uniform_cut_weights_count_each_unit_once() -> None:
    units = np.array(["a", "a", "b", "b", "b", "b"])
    np.testing.assert_allclose(uniform_cut_weights(units), [0.5, 0.5, 0.25, 0.25, 0.25, 0.25])
    truth, pred = np.zeros(6), np.array([2.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    # unit a: squared error 4 on every cut, unit b: 0 -> mean 2 over the two units
    assert weighted_rmse(truth, pred, uniform_cut_weights(units)) == pytest.approx(np.sqrt(2))
