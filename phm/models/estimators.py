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


def check_sklearn_fitted(
    estimator: object, error: type[Exception], attributes: str | None = None
) -> None:
    """scikit-learn's `check_is_fitted`, raising `error` (a subclass of both NotFittedErrors)."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator, attributes)
    except SklearnNotFittedError:
        raise error(
            f"{type(estimator).__name__} is not fitted yet: call fit() before using it"
        ) from None


def hgb_params(estimator: Any) -> dict[str, Any]:
    """The HistGradientBoosting arguments every gradient-boosting estimator here shares, read
    from its attributes of the same names.

    Fixed iterations, no early stopping: its internal validation split is by rows, and rows of
    one run are near-duplicates, so it would stop on leaked information.
    """
    return {
        "max_iter": estimator.max_iter,
        "learning_rate": estimator.learning_rate,
        "max_leaf_nodes": estimator.max_leaf_nodes,
        "min_samples_leaf": estimator.min_samples_leaf,
        "l2_regularization": estimator.l2_regularization,
        "early_stopping": False,
        "random_state": estimator.random_state,
    }
