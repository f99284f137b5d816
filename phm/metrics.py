"""Official metrics, one pure function each. Formulas as in DATASETS.md."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


def _as_float(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}")


def phm2018_cell_scores(ground_truth: ArrayLike, submission: ArrayLike) -> np.ndarray:
    """PHM 2018 S1 per cell (TTF in seconds; NaN means "no fault predicted" / "no fault ahead").

    both numbers: exp(-0.001*GT)*|GT-SUB|;  GT NaN, SUB number: exp(-0.001*SUB)*SUB;
    SUB NaN, GT number: exp(-0.001*GT)*GT;  both NaN: 0.
    """
    gt = _as_float(ground_truth, "ground_truth")
    sub = _as_float(submission, "submission")
    _same_shape(gt, sub, ("ground_truth", "submission"))
    gt_nan, sub_nan = np.isnan(gt), np.isnan(sub)
    out = np.zeros_like(gt)
    both = ~gt_nan & ~sub_nan
    out[both] = np.exp(-0.001 * gt[both]) * np.abs(gt[both] - sub[both])
    only_sub = gt_nan & ~sub_nan
    out[only_sub] = np.exp(-0.001 * sub[only_sub]) * sub[only_sub]
    only_gt = ~gt_nan & sub_nan
    out[only_gt] = np.exp(-0.001 * gt[only_gt]) * gt[only_gt]
    return out


def phm2018_file_score(ground_truth: ArrayLike, submission: ArrayLike) -> float:
    """S1 of one file: the mean of the cell scores over rows x TTF columns (arrays (rows, 3))."""
    cells = phm2018_cell_scores(ground_truth, submission)
    if cells.size == 0:
        raise ValueError("a file with no rows has no PHM 2018 score")
    return float(cells.mean())


def phm2018_score(
    ground_truth: ArrayLike | Sequence[ArrayLike], submission: ArrayLike | Sequence[ArrayLike]
) -> float:
    """Official PHM 2018 S1: the sum over files of each file's mean cell score. Lower is better.

    Pass one (rows, 3) array per file (a list of them for several files), or a single array for
    one file. NaN means no fault (ground truth) or no fault predicted (submission).
    """
    gt_files = _files(ground_truth)
    sub_files = _files(submission)
    if len(gt_files) != len(sub_files):
        raise ValueError(f"{len(gt_files)} ground-truth files but {len(sub_files)} submissions")
    return float(sum(phm2018_file_score(g, s) for g, s in zip(gt_files, sub_files, strict=True)))


def _files(x: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    if isinstance(x, list | tuple) and len(x) > 0 and np.ndim(x[0]) == 2:
        return [np.asarray(f, dtype=np.float64) for f in x]
    return [np.asarray(x, dtype=np.float64)]


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    t, p = _as_float(y_true, "y_true"), _as_float(y_pred, "y_pred")
    _same_shape(t, p, ("y_true", "y_pred"))
    if t.size == 0:
        raise ValueError("rmse of no values")
    return float(np.sqrt(np.mean((p - t) ** 2)))


def nasa_score(rul_true: ArrayLike, rul_pred: ArrayLike) -> float:
    """C-MAPSS scoring function: d = pred - true; sum of exp(-d/13)-1 (d<0) or exp(d/10)-1.

    Late predictions (d > 0) cost more than early ones. Lower is better.
    """
    t, p = _as_float(rul_true, "rul_true"), _as_float(rul_pred, "rul_pred")
    _same_shape(t, p, ("rul_true", "rul_pred"))
    d = p - t
    # pick the exponent first, so the unused branch cannot overflow
    return float(np.sum(np.exp(np.where(d < 0, -d / 13.0, d / 10.0)) - 1.0))


def phm2012_score(actual_rul: ArrayLike, predicted_rul: ArrayLike) -> float:
    """PRONOSTIA (IEEE PHM 2012) score: mean accuracy A over bearings, in (0, 1], higher is better.

    Er = 100*(Act - Pred)/Act; A = exp(-ln(0.5)*Er/5) if Er <= 0 (late), else exp(ln(0.5)*Er/20).
    """
    act, pred = _as_float(actual_rul, "actual_rul"), _as_float(predicted_rul, "predicted_rul")
    _same_shape(act, pred, ("actual_rul", "predicted_rul"))
    if np.any(act <= 0):
        raise ValueError("actual RUL must be positive for the percent error")
    er = 100.0 * (act - pred) / act
    a = np.exp(np.where(er <= 0, -np.log(0.5) * er / 5.0, np.log(0.5) * er / 20.0))
    return float(np.mean(a))


def macro_f1(y_true: Iterable, y_pred: Iterable) -> float:
    """Unweighted mean of per-class F1 over the classes present in y_true or y_pred."""
    t = np.asarray(list(y_true))
    p = np.asarray(list(y_pred))
    _same_shape(t, p, ("y_true", "y_pred"))
    classes = np.unique(np.concatenate([t, p]))
    f1s = []
    for c in classes:
        tp = np.sum((t == c) & (p == c))
        fp = np.sum((t != c) & (p == c))
        fn = np.sum((t == c) & (p != c))
        denom = 2 * tp + fp + fn
        f1s.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(f1s))


def accuracy(y_true: Iterable, y_pred: Iterable) -> float:
    """Share of exact matches."""
    t = np.asarray(list(y_true))
    p = np.asarray(list(y_pred))
    _same_shape(t, p, ("y_true", "y_pred"))
    return float(np.mean(t == p))


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney form, ties counted half); NaN if one class only."""
    y = np.asarray(y_true).astype(bool)
    s = _as_float(score, "score")
    _same_shape(y.astype(float), s, ("y_true", "score"))
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
