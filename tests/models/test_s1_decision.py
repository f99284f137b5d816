"""The PHM 2018 Bayes submission: least expected S1 under a predicted TTF distribution."""

from __future__ import annotations

import numpy as np
import pytest

from phm.metrics import phm2018_cell_scores
from phm.models.baselines import GbmTTF
from phm.models.s1_decision import (
    bayes_submission,
    candidates,
    far_nan_share,
    fit_hazard_calibration,
    hazard_distribution,
    on_grid,
    policy_stability,
    s1_cost,
)

H = 7200.0


def brute_expected(support, mass, far, q, sub) -> float:
    """Expected S1 of one submission by the official cell score, point by point."""
    inner = sum(
        w * phm2018_cell_scores(np.array([t]), np.array([sub]))[0]
        for t, w in zip(support, mass, strict=True)
    )
    far_nan = phm2018_cell_scores(np.array([np.nan]), np.array([sub]))[0]
    far_num = phm2018_cell_scores(np.array([H]), np.array([sub]))[0]
    return inner + far * (q * far_nan + (1 - q) * far_num)


def test_s1_cost_matches_official_cells() -> None:
    gt = np.array([100.0, np.nan, 500.0, np.nan, 3000.0])
    sub = np.array([400.0, 800.0, np.nan, np.nan, 2500.0])
    assert np.allclose(s1_cost(gt, sub), phm2018_cell_scores(gt, sub))
    assert s1_cost(100.0, 400.0) == pytest.approx(np.exp(-0.1) * 300)


def test_nan_when_a_fault_is_unlikely_and_a_time_when_one_is_near() -> None:
    support = np.array([600.0])
    unlikely = bayes_submission(support, np.array([[0.01]]), np.array([0.99]), H, 1.0)
    assert np.isnan(unlikely[0])
    near = bayes_submission(support, np.array([[0.98]]), np.array([0.02]), H, 1.0)
    assert near[0] == pytest.approx(600.0)
    # a fault surely near, spread evenly over 300..900 s: the submission sits inside
    spread = np.linspace(300, 900, 7)
    sub = bayes_submission(spread, np.full((1, 7), 1 / 7), np.zeros(1), H, 1.0)
    assert 300.0 <= sub[0] <= 900.0


def test_far_truths_that_are_numbers_make_submitting_cheaper() -> None:
    support, mass, far = np.array([1500.0]), np.array([[0.3]]), np.array([0.7])
    assert np.isnan(bayes_submission(support, mass, far, H, far_nan_share=1.0)[0])
    assert bayes_submission(support, mass, far, H, far_nan_share=0.0)[0] == pytest.approx(1500.0)


def test_bayes_submission_matches_brute_force_search() -> None:
    rng = np.random.default_rng(0)
    support = np.array([60.0, 500.0, 1200.0, 2500.0, 5000.0])
    cands = np.append(candidates(H), np.nan)
    for _ in range(25):
        raw = rng.dirichlet(np.full(6, 0.5))
        mass, far = raw[None, :5], raw[5:]
        q = float(rng.uniform())
        chosen = bayes_submission(support, mass, far, H, q)[0]
        costs = [brute_expected(support, mass[0], far[0], q, s) for s in cands]
        assert brute_expected(support, mass[0], far[0], q, chosen) == pytest.approx(min(costs))


def test_per_row_support_goes_to_the_grid_with_its_mass() -> None:
    support = np.array([[10.0, 44.0, 7300.0], [60.0, 60.0, 100.0]])
    mass = np.array([[0.2, 0.3, 0.1], [0.5, 0.25, 0.25]])
    grid = on_grid(support, mass, 30.0, 241)
    assert grid.sum(1) == pytest.approx(mass.sum(1))
    assert grid[0, 0] == pytest.approx(0.2) and grid[0, 1] == pytest.approx(0.3)
    assert grid[0, 240] == pytest.approx(0.1) and grid[1, 3] == pytest.approx(0.25)
    per_row = bayes_submission(support[1:], mass[1:], np.zeros(1), H, 1.0)
    assert per_row[0] == pytest.approx(60.0)


def test_hazard_distribution_sums_to_one_and_places_mass_in_bins() -> None:
    logits = np.full((2, 30), -20.0)
    logits[0, 2] = 20.0  # a sure fault in the third bin (480..720 s)
    support, mass, far = hazard_distribution(logits, H)
    assert mass.sum(1) + far == pytest.approx(np.ones(2))
    assert far[1] == pytest.approx(1.0, abs=1e-6)
    inside = (support >= 480) & (support < 720)
    assert mass[0, inside].sum() == pytest.approx(1.0, abs=1e-6)
    sub = bayes_submission(support, mass, far, H, 1.0)
    assert 480 <= sub[0] <= 720 and np.isnan(sub[1])


def test_hazard_calibration_recovers_a_known_shift() -> None:
    rng = np.random.default_rng(1)
    n, j = 4000, 30
    true_logit = np.full((n, j), -2.5)
    hazard = 1 / (1 + np.exp(2.5))
    # geometric bin of the fault; past bin j: no fault within the horizon (censored at H)
    b = rng.geometric(hazard, size=n) - 1
    event = b < j
    width = H / j
    time_s = np.where(event, (b + 0.5) * width, H)
    a, shift = fit_hazard_calibration(true_logit - 1.0, time_s, event, H)
    assert a * -3.5 + shift == pytest.approx(-2.5, abs=0.1)
    assert fit_hazard_calibration(true_logit, time_s, np.zeros(n, bool), H) == (1.0, 0.0)


def test_far_nan_share_counts_nan_among_far_rows() -> None:
    ttf = np.array([[100.0, np.nan], [9000.0, np.nan], [np.nan, 8000.0], [np.nan, 50.0]])
    assert far_nan_share(ttf, H) == pytest.approx([2 / 3, 2 / 3])
    assert far_nan_share(ttf, H, np.array([1.0, 3.0, 1.0, 1.0]))[0] == pytest.approx(2 / 5)


def test_policy_stability_summarises_each_parameter_over_fleets() -> None:
    fleets = {"201": {"t": 1.0, "q": 0.2}, "202": {"t": 3.0, "q": 0.2}}
    out = policy_stability(fleets)
    assert out["t"]["mean"] == 2.0 and out["t"]["std"] == 1.0 and out["t"]["cv"] == 0.5
    assert out["q"]["std"] == 0.0 and out["q"]["min"] == out["q"]["max"] == 0.2
    with pytest.raises(ValueError, match="fleet '202'"):
        policy_stability({"201": {"t": 1.0}, "202": {"q": 1.0}})


def test_gbm_bayes_rule_beats_all_nan_and_rejects_unknown_rules() -> None:
    from tests.models.test_baselines import synthetic

    X, y, rem, groups = synthetic(6, 1)
    Xt, yt, _, _ = synthetic(2, 2)
    model = GbmTTF(max_iter=40).fit(X, y, remaining_s=rem, groups=groups)
    assert model.submit == "threshold"  # the shipped rule; Bayes is the ablation
    sub = model.predict_bayes(Xt)
    assert np.isnan(sub[:, 1]).all()
    nan = phm2018_cell_scores(yt, np.full_like(yt, np.nan)).mean()
    assert phm2018_cell_scores(yt, sub).mean() < 0.7 * nan
    with pytest.raises(ValueError, match="submit must be one of"):
        GbmTTF(submit="median").fit(X, y)


def test_s1_estimate_is_the_decay_weighted_median_of_the_in_horizon_mass() -> None:
    from phm.models.s1_decision import s1_estimate

    horizon, j = 7200.0, 30  # 240 s bins, 4 points each at 30, 90, 150, 210 s into a bin
    certain_first = np.full(j, -30.0)
    certain_first[0] = 30.0  # every bit of mass in the first bin: its weighted median point
    certain_last = np.full(j, -30.0)
    certain_last[-1] = 30.0  # all mass in the last bin
    # half the in-horizon mass in bin 0, half in bin 29: the exp(-0.001 t) weights put the
    # weighted median in bin 0 although the plain median lies between the two
    split = np.full(j, -30.0)
    split[0] = 0.0
    split[-1] = 30.0
    est = s1_estimate(np.stack([certain_first, certain_last, split]), horizon)
    assert est[0] == pytest.approx(90.0)
    assert est[1] == pytest.approx(29 * 240.0 + 90.0)
    assert est[2] < 240.0
