"""Prediction intervals for point RUL models (gbm), by split conformal calibration on residuals.

A point model says nothing about its uncertainty; `ResidualIntervals` learns it from the
residuals (truth - prediction) of held-out assets: the interval around a prediction p is
[p - below, p + above], with `below` and `above` the upper quantiles of each side's residuals
(alpha / 2 each for a central interval of coverage 1 - alpha). Residuals are taken per band of
the prediction (near failure, mid-life, healthy: Mondrian conformal), since a model that says
"10 cycles left" errs far less than one that says "still healthy", and test assets may mix the
bands differently than validation assets. Windows of one asset are not exchangeable, assets are:
with `units`, the finite-sample correction counts assets, as the networks' calibration does
(phm.models.heads.conformal_factor). With `weights`, the quantiles (and the band edges) are of
the weighted residuals: 1 / (rows of the asset) makes every asset count once, like test points
cut once per asset, instead of long assets counting more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def _weighted_quantile(values: np.ndarray, q: float, weights: np.ndarray) -> float:
    """The smallest value whose weighted share of values at or below it reaches q (the
    weighted form of np.quantile's "higher")."""
    order = np.argsort(values, kind="stable")
    share = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][min(np.searchsorted(share, q - 1e-12), values.size - 1)])


def _tail(
    residuals: np.ndarray, level: float, n_units: int, weights: np.ndarray | None = None
) -> float:
    """The conformal (1 - alpha/2)-quantile of one side's residuals, corrected for n_units."""
    q = min(1.0, math.ceil((n_units + 1) * level) / max(n_units, 1))
    if weights is None:
        return float(max(np.quantile(residuals, q, method="higher"), 0.0))
    return max(_weighted_quantile(residuals, q, weights), 0.0)


@dataclass(frozen=True)
class ResidualIntervals:
    """Band edges on the prediction (B-1,), and per band (B,) how far below and above the
    prediction the interval reaches; `level` is the nominal coverage."""

    edges: np.ndarray
    below: np.ndarray
    above: np.ndarray
    level: float

    @classmethod
    def fit(
        cls,
        pred: npt.ArrayLike,
        truth: npt.ArrayLike,
        level: float = 0.9,
        n_bands: int = 4,
        units: npt.ArrayLike | None = None,
        min_rows: int = 50,
        weights: npt.ArrayLike | None = None,
    ) -> ResidualIntervals:
        """Calibrate on held-out rows: predictions, their truth, optionally each row's asset
        and weight (positive; the quantiles and band edges are then weighted).

        Bands are cut at quantiles of the predictions; a band with fewer than `min_rows` rows
        takes the pooled half-widths.
        """
        if not 0 < level < 1:
            raise ValueError(f"interval level must lie in (0, 1), got {level}")
        p = np.asarray(pred, dtype=np.float64)
        y = np.asarray(truth, dtype=np.float64)
        if p.shape != y.shape or p.ndim != 1 or p.size == 0:
            raise ValueError(
                f"pred and truth must be equal-length non-empty vectors, got {p.shape} / {y.shape}"
            )
        u = np.arange(p.size) if units is None else np.asarray(units)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        if w is not None and (w.shape != p.shape or not np.all(w > 0)):
            raise ValueError(f"weights must be {p.shape} and positive, got shape {w.shape}")
        tail = 1 - (1 - level) / 2

        def half_widths(rows: np.ndarray) -> tuple[float, float]:
            n_units = len(np.unique(u[rows]))
            w_rows = None if w is None else w[rows]
            return (
                _tail(p[rows] - y[rows], tail, n_units, w_rows),
                _tail(y[rows] - p[rows], tail, n_units, w_rows),
            )

        pooled = half_widths(np.ones(p.size, dtype=bool))
        cuts = np.linspace(0, 1, n_bands + 1)[1:-1]
        if w is None:
            edges = np.quantile(p, cuts) if n_bands > 1 else np.empty(0)
        else:
            edges = np.array([_weighted_quantile(p, q, w) for q in cuts])
        edges = np.asarray(edges, dtype=np.float64)
        band = np.searchsorted(edges, p, side="right")
        below, above = np.full(n_bands, pooled[0]), np.full(n_bands, pooled[1])
        for b in range(n_bands):
            rows = band == b
            if rows.sum() >= min_rows:
                below[b], above[b] = half_widths(rows)
        return cls(edges, below, above, level)

    def interval(self, pred: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) around each prediction; the lower bound is never below 0."""
        p = np.asarray(pred, dtype=np.float64)
        band = np.searchsorted(self.edges, p, side="right")
        return np.maximum(p - self.below[band], 0.0), p + self.above[band]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready description (for bench results)."""
        return {
            "level": self.level,
            "band_edges": self.edges.tolist(),
            "below": self.below.tolist(),
            "above": self.above.tolist(),
        }


def coverage(lower: npt.ArrayLike, upper: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Share of rows whose truth lies in [lower, upper]."""
    lo, hi, y = (np.asarray(a, dtype=np.float64) for a in (lower, upper, truth))
    return float(np.mean((lo <= y) & (y <= hi)))
