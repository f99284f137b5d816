"""Truncation prior and RUL posterior: f, the fallback g0, EM and tilted priors, posterior."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from phm.models.truncation_prior import (
    LifeDistribution,
    PredictionLikelihood,
    RulPosterior,
    TruncationPriorError,
    fit_tilted_prior,
    fit_truncation_prior,
    length_log_likelihood,
    rul_posterior,
    uniform_cut_prior,
)


def test_uniform_cut_prior_by_hand() -> None:
    # every life is 4 cycles: a uniform cut leaves r = 0, 1, 2 or 3, each 1/4
    life = LifeDistribution.fit([4.0, 4.0], bandwidth=0.2)
    np.testing.assert_allclose(
        uniform_cut_prior(life, 5), [0.25, 0.25, 0.25, 0.25, 0, 0], atol=1e-3
    )


def test_length_likelihood_by_hand() -> None:
    life = LifeDistribution.fit([5.0, 7.0], bandwidth=1.0)
    got = length_log_likelihood([3], life, 3)
    r = np.arange(4)
    f = 0.5 * (norm.pdf(3 + r - 5.0) + norm.pdf(3 + r - 7.0))
    s = 0.5 * (norm.sf(r + 0.5 - 5.0) + norm.sf(r + 0.5 - 7.0))
    np.testing.assert_allclose(got[0], np.log(f / s))
    with pytest.raises(TruncationPriorError, match="whole cycles"):
        length_log_likelihood([2.5], life, 3)
    with pytest.raises(TruncationPriorError, match="whole cycles"):
        length_log_likelihood([0], life, 3)
    with pytest.raises(TruncationPriorError, match="lives must be"):
        LifeDistribution.fit([])


def sample_batch(
    lives: np.ndarray, life: LifeDistribution, r: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Observed lengths c = L - r, L drawn from the kernel density f conditioned on L > r."""
    L = np.zeros(r.size)
    todo = np.ones(r.size, dtype=bool)
    while todo.any():
        draw = rng.choice(lives, todo.sum()) + rng.normal(0, life.bandwidth, todo.sum())
        L[todo] = np.round(draw)
        todo = r >= L
    return L - r


def test_em_recovers_a_known_prior() -> None:
    rng = np.random.default_rng(0)
    lives = rng.uniform(150, 250, size=100).round()
    life = LifeDistribution.fit(lives)
    # g: half the units cut 10-60 cycles before failure, half 100-140 cycles before
    r = np.where(rng.random(1000) < 0.5, rng.integers(10, 61, 1000), rng.integers(100, 141, 1000))
    lengths = sample_batch(lives, life, r, rng)
    g = fit_truncation_prior(lengths, life, 250, pseudo_count=1.0)
    g0 = uniform_cut_prior(life, 250)
    grid = np.arange(251)
    assert g.sum() == pytest.approx(1.0)
    assert abs(g[:81].sum() - 0.5) < 0.05 and abs(g0[:81].sum() - 0.5) > 0.08
    assert abs(g @ grid - r.mean()) < 5.0 and abs(g0 @ grid - r.mean()) > 15.0
    assert g[161:].sum() < 0.03


def test_small_batches_fall_back_to_the_uniform_cut_prior() -> None:
    life = LifeDistribution.fit([150.0, 200.0, 250.0])
    g0 = uniform_cut_prior(life, 250)
    np.testing.assert_array_equal(fit_truncation_prior(np.array([]), life, 250), g0)
    one = fit_truncation_prior([150], life, 250, pseudo_count=10.0)
    # one unit against 10 pseudo-units: at most 1/11 of the mass can move
    assert 0.5 * np.abs(one - g0).sum() <= 1 / 11 + 1e-9
    many = fit_truncation_prior(np.full(200, 150), life, 250, pseudo_count=10.0)
    assert 0.5 * np.abs(many - g0).sum() > 0.3
    sure = np.where(np.arange(251) == 40, 0.0, -50.0)[None, :]  # one unit, r = 40 for sure
    tilted = fit_tilted_prior(sure, g0, pseudo_count=10.0)
    assert 0.5 * np.abs(tilted - g0).sum() <= 1 / 11 + 1e-9
    np.testing.assert_allclose(fit_tilted_prior(np.zeros((0, 251)), g0), g0)


def test_tilted_prior_finds_the_cutoff_of_known_remaining_lives() -> None:
    rng = np.random.default_rng(1)
    r = rng.integers(0, 121, 300)
    evidence = np.full((300, 201), -50.0)
    evidence[np.arange(300), r] = 0.0  # each unit's r known exactly
    g = fit_tilted_prior(evidence, np.full(201, 1 / 201))
    assert g[126:].sum() == 0.0 and g[:121].sum() > 0.95  # cut at 125, the grid point above
    assert g[:60].sum() == pytest.approx(0.5, abs=0.1)  # nearly flat: tilt near 0
    with pytest.raises(TruncationPriorError, match="columns"):
        fit_tilted_prior(evidence[:, :10], np.full(201, 1 / 201))


def test_posterior_mean_excess_and_quantiles_by_hand() -> None:
    g = np.array([0.1, 0.2, 0.3, 0.4])
    log_e = np.log([[0.5, 0.25, 0.125, 0.125]])
    post = rul_posterior(g, log_e)
    # g * e = [0.05, 0.05, 0.0375, 0.05], sum 0.1875
    np.testing.assert_allclose(post.prob[0], np.array([0.05, 0.05, 0.0375, 0.05]) / 0.1875)
    assert post.mean()[0] == pytest.approx((0.05 + 2 * 0.0375 + 3 * 0.05) / 0.1875)
    assert post.mean(cap=1.0)[0] == pytest.approx((0.05 + 0.0375 + 0.05) / 0.1875)
    assert post.excess(1.0)[0] == pytest.approx((0.0375 + 2 * 0.05) / 0.1875)
    assert post.quantile(0.5)[0] == 1.0  # CDF 0.267, 0.533, 0.733, 1
    lower, upper = post.interval(0.9)
    assert (lower[0], upper[0]) == (0.0, 3.0)
    with pytest.raises(TruncationPriorError, match="evidence must be"):
        rul_posterior(g, np.zeros((1, 3)))
    assert isinstance(post, RulPosterior)


def test_prediction_likelihood_peaks_at_the_right_band() -> None:
    rng = np.random.default_rng(2)
    rul = rng.integers(0, 200, 5000).astype(float)
    pred = np.minimum(rul, 50.0) + rng.normal(0, 2.0, rul.size)
    lik = PredictionLikelihood.fit(pred, rul, reach=50.0)
    r = np.arange(201)
    log_p = lik.log_pdf([20.0, 49.0], r)
    assert log_p.shape == (2, 201)
    assert 15 <= r[np.argmax(log_p[0])] <= 25
    assert r[np.argmax(log_p[1])] >= 45  # at the reach: every r past it looks alike
    assert log_p[1, 60] == log_p[1, 200]
    # a wild prediction keeps a floor (the outlier share), never -inf
    assert np.isfinite(lik.log_pdf([500.0], r)).all()
    with pytest.raises(TruncationPriorError, match="no band holds"):
        PredictionLikelihood.fit(pred[:10], rul[:10], reach=50.0)
