"""scikit-learn-style wrappers so the MoE model drops into the bench code beside the baselines.

`MoeRul` (remaining life, with a calibrated interval) and `MoeClassifier` (fault class) follow
the one estimator interface: `__init__` only stores arguments, validation happens in `fit`,
`fit` returns self, learned attributes end in `_`.

X may be a feature matrix (N, F), read as one process token of F channels per row; a window
array (N, T, C), read as `process`; or a dict of modality arrays as the model takes them
(`process`, `process_mask`, `vibration`, `vibration_mask`, `context`). Process channels are
standardised with statistics from fit.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from phm.datasets.splits import split_units
from phm.errors import ConfigError
from phm.models.data import TrainConfig, WindowSet, load_train_config
from phm.models.estimators import check_fitted
from phm.models.model import ModelConfig, PhmModel, load_config
from phm.models.train import fit, predict
from phm.resources import resource_path, shipped


def resolve_config(config: str | Path | ModelConfig) -> tuple[ModelConfig, TrainConfig]:
    """A size name ("tiny", "small", "dense-small"...), a TOML path, or a ModelConfig."""
    if isinstance(config, ModelConfig):
        return config, TrainConfig()
    path = Path(config)
    if path.suffix != ".toml":
        if f"models/{config}.toml" not in shipped("models", ".toml"):
            sizes = ", ".join(Path(n).stem for n in shipped("models", ".toml"))
            raise ConfigError(f"{config}: no such model size (shipped: {sizes}) or .toml path")
        path = resource_path(f"models/{config}.toml")
    if not path.is_file():
        raise ConfigError(f"{path}: no such model config (give a size name or a .toml path)")
    return load_config(path), load_train_config(path)


def as_inputs(X: Any) -> dict[str, np.ndarray]:
    """Model inputs from a matrix (N, F), windows (N, T, C) or a dict of modalities."""
    if isinstance(X, dict):
        return {k: np.asarray(v) for k, v in X.items()}
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise ValueError(f"X must be (N, F), (N, T, C) or a dict of modalities, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinite values")
    return {"process": arr}


class _MoeEstimator(BaseEstimator):
    """Shared fit/predict plumbing; subclasses define the task."""

    _task = ""

    def __init__(
        self,
        config: str | Path | ModelConfig = "small",
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        val_fraction: float = 0.2,
        device: str = "cpu",
        random_state: int = 0,
        progress: bool = False,
    ) -> None:
        self.config = config
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.device = device
        self.random_state = random_state
        self.progress = progress

    def _fit(
        self, X: Any, targets: dict[str, np.ndarray], updates: dict, groups: Any
    ) -> _MoeEstimator:
        inputs = as_inputs(X)
        n = len(next(iter(inputs.values())))
        if n < 2:
            raise ValueError(f"fit needs at least 2 samples, got {n}")
        cfg, tcfg = resolve_config(self.config)
        overrides = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}
        tcfg = dataclasses.replace(tcfg, **{k: v for k, v in overrides.items() if v is not None})
        if "process" in inputs:
            p = inputs["process"].astype(np.float32)
            mask = inputs.get("process_mask", np.ones(p.shape[:2], bool))
            rows = p[mask.astype(bool)]
            self.mean_ = rows.mean(0)
            self.scale_ = np.where(rows.std(0) > 0, rows.std(0), 1.0).astype(np.float32)
            inputs["process"] = (p - self.mean_) / self.scale_
            updates = updates | {"process_channels": p.shape[2], "max_positions": p.shape[1]}
        if "context" in inputs:
            levels = tuple(int(c) + 1 for c in inputs["context"].max(0))
            updates = updates | {"context_cardinalities": levels}
        if "vibration" in inputs:
            updates = updates | {"vibration_channels": inputs["vibration"].shape[2]}
        self.config_ = dataclasses.replace(cfg, **updates)
        data = WindowSet(inputs, targets, np.arange(n) if groups is None else np.asarray(groups))
        val = None
        if groups is not None and self.val_fraction > 0 and len(np.unique(groups)) >= 2:
            fit_rows, val_rows = split_units(data.groups, self.val_fraction, self.random_state)
            data, val = data.take(np.flatnonzero(fit_rows)), data.take(np.flatnonzero(val_rows))
        self.model_ = PhmModel(self.config_)
        self.fit_result_ = fit(
            self.model_, data, val, tcfg, self.device, self.random_state, self.progress
        )
        self.model_.to("cpu").eval()
        self.n_features_in_ = int(inputs["process"].shape[-1]) if "process" in inputs else 0
        return self

    def _predict(self, X: Any) -> dict[str, np.ndarray]:
        check_fitted(self, "model_")
        inputs = as_inputs(X)
        if "process" in inputs:
            inputs["process"] = (inputs["process"].astype(np.float32) - self.mean_) / self.scale_
        n = len(next(iter(inputs.values())))
        return predict(self.model_, WindowSet(inputs, {}, np.arange(n)))


class MoeRul(RegressorMixin, _MoeEstimator):
    """Remaining useful life from the MoE model's RUL distribution.

    fit(X, y, event=None, groups=None, cap=None): y remaining life (or censoring time where
    event is False); values at or above `cap` (default: max y) are censored at the cap.
    `groups` (asset of each row) enables a validation split by asset for early stopping.
    predict: the point RUL (restricted mean, or median per the config) clipped to [0, cap];
    predict_interval: the conformal-calibrated interval (lower, upper).
    Learned: model_, config_, fit_result_, mean_, scale_, cap_, n_features_in_.
    """

    def fit(
        self,
        X: Any,
        y: npt.ArrayLike,
        event: npt.ArrayLike | None = None,
        groups: npt.ArrayLike | None = None,
        cap: float | None = None,
    ) -> MoeRul:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1 or not np.isfinite(y).all() or (y < 0).any():
            raise ValueError("y must be a 1-d array of finite remaining lives >= 0")
        e = np.ones(len(y), bool) if event is None else np.asarray(event, dtype=bool)
        self.cap_ = float(cap if cap is not None else max(float(y.max()), 1.0))
        targets = {
            "rul_time": np.minimum(y, self.cap_),
            "rul_event": e & (y < self.cap_),
            "rul_true": y,
        }
        return self._fit(X, targets, {"rul_horizon": self.cap_, "n_classes": 0}, groups)

    def predict(self, X: Any) -> np.ndarray:
        return np.clip(self._predict(X)["point"], 0.0, self.cap_)

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        pred = self._predict(X)
        return pred["lower"], pred["upper"]


class MoeClassifier(ClassifierMixin, _MoeEstimator):
    """Fault class from the MoE model's diagnosis head.

    fit(X, y, groups=None): y class labels (any hashable); learned classes_ maps head outputs.
    Learned: model_, config_, classes_, fit_result_, mean_, scale_, n_features_in_.
    """

    def fit(self, X: Any, y: npt.ArrayLike, groups: npt.ArrayLike | None = None) -> MoeClassifier:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 classes, got {len(self.classes_)}")
        updates = {"n_classes": len(self.classes_), "rul_head": "none"}
        return self._fit(X, {"fault": codes.astype(np.int64)}, updates, groups)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._predict(X)["fault_prob"]

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]
