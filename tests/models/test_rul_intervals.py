"""Residual conformal intervals for point RUL models."""

from __future__ import annotations

import numpy as np
import pytest

from phm.models.rul_intervals import ResidualIntervals, coverage


def _rows(rng: np.random.Generator, n_units: int, per_unit: int = 20):
    """Heteroscedastic toy data: error grows with the prediction, skewed upwards."""
    pred = rng.uniform(0, 125, size=(n_units, per_unit))
    noise = rng.normal(0, 1 + 0.1 * pred) + rng.exponential(0.1 * pred)
    units = np.repeat(np.arange(n_units), per_unit)
    return pred.ravel(), (pred + noise).ravel(), units


def test_intervals_cover_new_assets_at_the_nominal_level():
    rng = np.random.default_rng(0)
    pred, truth, units = _rows(rng, 200)
    iv = ResidualIntervals.fit(pred, truth, level=0.9, units=units)
    p2, t2, _ = _rows(rng, 400)
    lo, hi = iv.interval(p2)
    assert 0.87 <= coverage(lo, hi, t2) <= 0.95
    # wider where the model errs more (the healthy band), and skewed like the errors
    assert iv.above[-1] > 2 * iv.above[0]
    assert (iv.above > iv.below).all()


def test_lower_bound_is_never_negative_and_bands_follow_the_edges():
    rng = np.random.default_rng(1)
    pred, truth, units = _rows(rng, 50)
    iv = ResidualIntervals.fit(pred, truth, units=units, n_bands=3)
    assert iv.edges.shape == (2,) and iv.below.shape == (3,)
    lo, hi = iv.interval(np.array([0.0, 1.0, 124.0]))
    assert (lo >= 0).all() and (hi >= np.array([0.0, 1.0, 124.0])).all()
    json_ready = iv.as_dict()
    assert json_ready["level"] == 0.9 and len(json_ready["above"]) == 3


def test_few_assets_widen_the_interval_to_the_largest_residual():
    rng = np.random.default_rng(2)
    pred, truth, units = _rows(rng, 5, per_unit=100)
    iv = ResidualIntervals.fit(pred, truth, level=0.9, units=units, n_bands=1)
    # 5 assets: ceil(6 * 0.95) / 5 > 1, so the largest residual on each side
    assert iv.above[0] == pytest.approx(np.max(truth - pred))
    assert iv.below[0] == pytest.approx(max(np.max(pred - truth), 0.0))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="level"):
        ResidualIntervals.fit([1.0], [1.0], level=1.5)
    with pytest.raises(ValueError, match="equal-length"):
        ResidualIntervals.fit([1.0, 2.0], [1.0])


def test_interval_weights_count_each_asset_once_by_hand():
    """10 assets, asset k errs by k + 1 on every row; the last (error 10) has 91 rows, the
    others one. Level 0.5: the upper tail is the 0.75 quantile, corrected for 10 assets to
    ceil(11 * 0.75) / 10 = 0.9. Rows counted: 91 of 100 rows err by 10, so 10; each asset
    once (weights 1 / rows): the 0.9 quantile of 1..10 is 9."""
    units = np.array([*range(9), *[9] * 91])
    truth = (units + 1).astype(float)
    pred = np.zeros(truth.size)
    rows = ResidualIntervals.fit(pred, truth, level=0.5, n_bands=1, units=units)
    assert rows.above[0] == 10.0
    weights = 1.0 / np.bincount(units)[units]
    once = ResidualIntervals.fit(pred, truth, level=0.5, n_bands=1, units=units, weights=weights)
    assert once.above[0] == 9.0 and once.below[0] == 0.0
    # weighted band edges: the median prediction counts assets, not rows
    two = ResidualIntervals.fit(truth, truth, n_bands=2, units=units, weights=weights, min_rows=1)
    assert two.edges.tolist() == [5.0]
    assert ResidualIntervals.fit(truth, truth, n_bands=2).edges.tolist() == [10.0]


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="weights"):
        ResidualIntervals.fit([1.0, 2.0], [1.0, 2.0], weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="weights"):
        ResidualIntervals.fit([1.0, 2.0], [1.0, 2.0], weights=[1.0])
