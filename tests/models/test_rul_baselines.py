"""RUL baselines: scikit-learn conformance, learning on held-out units, censoring."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from phm.errors import NotFittedError
from phm.metrics import rmse
from phm.models.estimators import Estimator
from phm.models.rul_baselines import GbmRul, SurvivalRul


def _gbm_expected_failures(estimator: object) -> dict[str, str]:
    # The same expected failure scikit-learn lists for its own HistGradientBoostingRegressor.
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "sample_weight is not equivalent to removing/repeating samples"
        ),
    }


@parametrize_with_checks(
    [GbmRul(max_iter=10, min_samples_leaf=5)], expected_failed_checks=_gbm_expected_failures
)
def test_gbm_rul_passes_sklearn_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def degradation_units(n_units: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-to-failure rows: X (N, 3), remaining life y (N,), unit id (N,).

    Feature 0 grows as failure nears (exp(-rul/40) with noise), feature 1 is its log-scale
    view, feature 2 is noise only; lifetimes differ per unit.
    """
    rng = np.random.default_rng(seed)
    xs, ys, units = [], [], []
    for u in range(n_units):
        life = int(rng.integers(80, 220))
        rul = np.arange(life - 1, -1, -1, dtype=np.float64)
        signal = np.exp(-rul / 40.0) * np.exp(rng.normal(0, 0.1, life))
        xs.append(np.column_stack([signal, np.log(signal), rng.normal(0, 1, life)]))
        ys.append(rul)
        units.append(np.full(life, u))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(units)


def test_gbm_learns_on_held_out_units() -> None:
    X, y, unit = degradation_units(40, seed=1)
    y = np.minimum(y, 125)
    fit, held = unit < 30, unit >= 30
    model = GbmRul(max_iter=100, random_state=0).fit(X[fit], y[fit])
    ours = rmse(y[held], model.predict(X[held]))
    mean_only = rmse(y[held], np.full(held.sum(), y[fit].mean()))
    assert ours < 0.3 * mean_only, (ours, mean_only)


def test_survival_learns_on_held_out_units() -> None:
    X, y, unit = degradation_units(40, seed=2)
    fit, held = unit < 30, unit >= 30
    model = SurvivalRul(max_prediction=125).fit(X[fit], y[fit])
    truth = np.minimum(y[held], 125)
    ours = rmse(truth, model.predict(X[held]))
    mean_only = rmse(truth, np.full(held.sum(), np.minimum(y[fit], 125).mean()))
    assert ours < 0.5 * mean_only, (ours, mean_only)
    assert model.predict(X[held]).max() <= 125


def weibull_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X (n, 1), observed time, event flag, and the true median of each row's lifetime.

    Lifetime ~ Weibull(scale = exp(3 + 0.5 x), shape 2); independent censoring ~ U(0, 40)
    hides about half of the failures.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    scale = np.exp(3.0 + 0.5 * x)
    life = scale * rng.weibull(2.0, n)
    censor = rng.uniform(0, 40, n)
    observed = life <= censor
    return x[:, None], np.minimum(life, censor), observed, scale * np.log(2) ** 0.5


def test_survival_recovers_medians_under_right_censoring() -> None:
    X, t, observed, true_median = weibull_sample(3000, seed=3)
    assert 0.3 < observed.mean() < 0.7
    model = SurvivalRul(penalizer=0.0, duration_offset=0.0).fit(X, t, observed)
    rel = np.abs(model.predict(X) / true_median - 1)
    assert rel.mean() < 0.05, rel.mean()
    coef = model.fitter_.params_.loc["lambda_"]
    # Standardised feature: the coefficient is 0.5 / std(x).
    assert coef["x0"] == pytest.approx(0.5 * X.std(), abs=0.06)
    # Treating censored rows as failures must bias the medians low: censoring is used.
    naive = SurvivalRul(penalizer=0.0, duration_offset=0.0).fit(X, t)
    assert np.mean(naive.predict(X) / true_median) < 0.8


def test_cox_kind_ranks_lifetimes() -> None:
    X, t, observed, true_median = weibull_sample(600, seed=4)
    model = SurvivalRul(kind="cox", duration_offset=0.0).fit(X, t, observed)
    pred = model.predict(X)
    assert np.isfinite(pred).all()
    assert np.corrcoef(pred, true_median)[0, 1] > 0.9


def test_survival_input_errors() -> None:
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="y must be >= 0"):
        SurvivalRul().fit(X, [1, 2, -1, 3])
    with pytest.raises(ValueError, match="every run is censored"):
        SurvivalRul().fit(X, [1, 2, 3, 4], [0, 0, 0, 0])
    with pytest.raises(ValueError, match="kind must be"):
        SurvivalRul(kind="lognormal").fit(X, [1, 2, 3, 4])  # type: ignore[arg-type]


@pytest.mark.parametrize("model", [GbmRul(), SurvivalRul()])
def test_one_interface(model: GbmRul | SurvivalRul) -> None:
    assert isinstance(model, Estimator)
    with pytest.raises(NotFittedError) as err:
        model.predict(np.ones((2, 3)))
    assert isinstance(err.value, SklearnNotFittedError)  # works in sklearn tooling too
    params = model.get_params()
    assert clone(model).get_params() == params
    assert not [k for k in vars(model) if k.endswith("_")]  # __init__ learned nothing
