"""Official metrics against hand-computed values."""

import math

import numpy as np
import pytest

from phm.metrics import (
    accuracy,
    macro_f1,
    nasa_score,
    phm2012_score,
    phm2018_cell_scores,
    phm2018_file_score,
    phm2018_score,
    rmse,
    roc_auc,
)

NAN = float("nan")


@pytest.mark.parametrize(
    ("gt", "sub", "expected"),
    [
        (1000.0, 500.0, math.exp(-1.0) * 500.0),  # both numbers
        (1000.0, 1500.0, math.exp(-1.0) * 500.0),  # late and early cost the same
        (NAN, 2000.0, math.exp(-2.0) * 2000.0),  # fault predicted, none came
        (3000.0, NAN, math.exp(-3.0) * 3000.0),  # fault came, none predicted
        (NAN, NAN, 0.0),  # correctly no fault
        (0.0, 0.0, 0.0),  # exact at the fault
        (0.0, 100.0, 100.0),  # error at the fault is not discounted
    ],
)
def test_phm2018_cell_cases(gt: float, sub: float, expected: float) -> None:
    assert phm2018_cell_scores([gt], [sub])[0] == pytest.approx(expected, rel=1e-12)


def test_phm2018_file_is_mean_over_rows_and_columns_and_total_is_sum_over_files() -> None:
    gt = np.array([[1000.0, NAN, NAN], [3000.0, NAN, 0.0]])
    sub = np.array([[500.0, 2000.0, NAN], [NAN, NAN, 0.0]])
    cells = math.exp(-1) * 500 + math.exp(-2) * 2000 + math.exp(-3) * 3000
    assert phm2018_file_score(gt, sub) == pytest.approx(cells / 6)
    other_gt = np.array([[NAN, NAN, NAN]])
    other_sub = np.array([[NAN, NAN, 10.0]])
    expected = cells / 6 + math.exp(-0.01) * 10 / 3
    assert phm2018_score([gt, other_gt], [sub, other_sub]) == pytest.approx(expected)
    assert phm2018_score(gt, sub) == pytest.approx(cells / 6)


def test_phm2018_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        phm2018_cell_scores([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="files"):
        phm2018_score([np.zeros((1, 3))], [np.zeros((1, 3)), np.zeros((1, 3))])


def test_rmse() -> None:
    assert rmse([1, 2, 3], [1, 2, 7]) == pytest.approx(math.sqrt(16 / 3))


def test_nasa_score_penalises_late_more_than_early() -> None:
    # d = -5 -> exp(5/13) - 1; d = +10 -> exp(1) - 1
    assert nasa_score([10, 20], [5, 30]) == pytest.approx(math.exp(5 / 13) - 1 + math.exp(1) - 1)
    assert nasa_score([50], [60]) > nasa_score([50], [40])
    assert nasa_score([7], [7]) == 0.0


def test_phm2012_score() -> None:
    # Er = -10 (late): exp(ln(0.5) * 10/5) = 0.25; Er = 20 (early): exp(ln(0.5) * 20/20) = 0.5
    assert phm2012_score([100, 100], [110, 80]) == pytest.approx(0.375)
    assert phm2012_score([50], [50]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive"):
        phm2012_score([0], [1])


def test_macro_f1_and_accuracy() -> None:
    # class a: tp 1, fn 1 -> F1 2/3; class b: tp 2, fp 1 -> F1 4/5
    assert macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(
        (2 / 3 + 4 / 5) / 2
    )
    assert accuracy(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.75)


def test_roc_auc() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))
