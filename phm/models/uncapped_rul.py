"""RUL past the label cap: a capped gbm, extended by a second gbm fitted on a wider cap.

Models trained on RUL capped at `cap` (the piecewise-linear target) predict at most `cap`, so
a unit with a longer remaining life is an error of at least RUL - cap. `UncappedGbmRul` fits two
`GbmRul`: the capped one (its predictions are the capped product, unchanged) and a wide one on
labels capped at `wide_cap`. Where the capped prediction is well below the cap (under
`cap - margin`) it is kept; from there it blends linearly into max(wide, capped), reached at the
cap: the wide model only speaks where the capped one says "healthy, at least near the cap".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, RegressorMixin

from phm.models.estimators import check_sklearn_fitted
from phm.models.rul_baselines import GbmRul, RulNotFittedError


def past_cap_blend(
    capped: npt.ArrayLike, wide: npt.ArrayLike, cap: float, margin: float
) -> np.ndarray:
    """(N,) capped prediction below cap - margin, max(wide, capped) at the cap, linear between.

    capped: (N,) predictions in [0, cap]; wide: (N,) predictions of the wide-cap model.
    """
    if margin <= 0:
        raise ValueError(f"margin must be > 0 cycles, got {margin}")
    capped = np.asarray(capped, dtype=np.float64)
    wide = np.asarray(wide, dtype=np.float64)
    weight = np.clip((capped - (cap - margin)) / margin, 0.0, 1.0)
    return (1.0 - weight) * capped + weight * np.maximum(wide, capped)


class UncappedGbmRul(RegressorMixin, BaseEstimator):
    """Two `GbmRul` on the uncapped remaining life: one capped at `cap`, one at `wide_cap`
    (None: no cap); `predict` blends them (`past_cap_blend`), `predict_capped` is the capped one.

    Learned: `capped_`, `wide_`, `n_features_in_`.
    """

    def __init__(
        self,
        cap: float = 125.0,
        wide_cap: float | None = 200.0,
        margin: float = 60.0,
        max_iter: int = 300,
        random_state: int | None = None,
    ) -> None:
        self.cap = cap
        self.wide_cap = wide_cap
        self.margin = margin
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: npt.ArrayLike, rul: npt.ArrayLike) -> UncappedGbmRul:
        """Fit on X (N, F) and the uncapped remaining life rul (N,) >= 0."""
        rul = np.asarray(rul, dtype=np.float64)
        if np.any(rul < 0):
            raise ValueError("remaining life rul must be >= 0")
        if self.wide_cap is not None and self.wide_cap <= self.cap:
            raise ValueError(f"wide_cap must exceed cap {self.cap}, got {self.wide_cap}")
        wide_cap = np.inf if self.wide_cap is None else self.wide_cap
        self.capped_ = GbmRul(max_iter=self.max_iter, random_state=self.random_state)
        self.capped_.fit(X, np.minimum(rul, self.cap))
        self.wide_ = GbmRul(max_iter=self.max_iter, random_state=self.random_state)
        self.wide_.fit(X, np.minimum(rul, wide_cap))
        self.n_features_in_ = self.capped_.n_features_in_
        return self

    def predict_capped(self, X: npt.ArrayLike) -> np.ndarray:
        """(N,) the capped model's remaining life, clipped to [0, cap]."""
        check_sklearn_fitted(self, RulNotFittedError)
        return np.clip(self.capped_.predict(X), 0.0, self.cap)

    def predict_wide(self, X: npt.ArrayLike) -> np.ndarray:
        """(N,) the wide model's remaining life, clipped to [0, wide_cap]."""
        check_sklearn_fitted(self, RulNotFittedError)
        upper = np.inf if self.wide_cap is None else self.wide_cap
        return np.clip(self.wide_.predict(X), 0.0, upper)

    def predict(self, X: npt.ArrayLike) -> np.ndarray:
        """(N,) remaining life, able to exceed `cap`."""
        return past_cap_blend(self.predict_capped(X), self.predict_wide(X), self.cap, self.margin)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
