"""The one estimator interface every model follows, baselines and networks alike.

scikit-learn conventions: `__init__` only stores arguments, validation happens in `fit`,
`fit` returns self, learned attributes end in `_`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from phm.errors import NotFittedError


@runtime_checkable
class Estimator(Protocol):
    """Anything with `fit(X, y) -> self` and `predict(X)`."""

    def fit(self, X: Any, y: Any = None) -> Estimator: ...

    def predict(self, X: Any) -> Any: ...


def check_fitted(estimator: object, attribute: str) -> None:
    """Raise NotFittedError if `attribute` (a learned attribute ending in `_`) is missing."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet: call fit() before using it"
        )
