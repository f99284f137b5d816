"""One `Predictor`: a checkpoint's model and typed header, the header's preprocessing into model
windows, and the model's outputs decoded once.

    predictor = Predictor.load("models/pump.pt", dataset="plant")
    inputs = predictor.pump_inputs(snapshots, rows)  # the training window, z-scored
    out = predictor.predict(inputs)  # Decoded: probabilities, RUL summary, TTF per mode
    out.fault_probs(0), out.rul["median"][0], out.ttf["median"][0]

Used by the monitor's scorers, the reports and the benches, so all of them read a checkpoint,
build windows and decode outputs the same way.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.data import WindowSet
from phm.models.model import PhmModel, checkpoint_from_state, load_checkpoint
from phm.models.windows import cmapss_windows, phm2018_windows, pump_window

# `phm train --dataset X` by dataset, for the messages that ask for another checkpoint
TRAIN_HINT = "phm train --dataset {}"


@dataclass
class Decoded:
    """A batch's decoded model outputs (numpy, leading axis B); None where the model has no
    such head.

    fault: (B, C) class probabilities, in the order of `classes`.
    rul: `RulHead.summary` (point, median, mean, lower, upper: the calibrated 90% interval),
    each (B,), in the header's `rul_unit`; rul_quantiles: the quantiles asked for, (B,) each;
    rul_survival: (B, G) survival on the RUL head's grid.
    ttf: `TtfHead.summary` (median, lower, upper: 5% and 95%, no_fault), each (B, M) per
    fault mode, in seconds (the TTF grid's unit).
    """

    classes: tuple[str, ...]
    fault: np.ndarray | None = None
    rul: dict[str, np.ndarray] | None = None
    rul_quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    rul_survival: np.ndarray | None = None
    ttf: dict[str, np.ndarray] | None = None

    def fault_probs(self, i: int = 0) -> dict[str, float]:
        """Row i's class probabilities by class name (class_j where the header has none)."""
        if self.fault is None:
            return {}
        labels = self.classes or tuple(f"class_{j}" for j in range(self.fault.shape[1]))
        return {c: float(p) for c, p in zip(labels, self.fault[i], strict=True)}


class Predictor:
    """A checkpoint's model (eval mode) and header; `name` labels its predictions."""

    def __init__(self, model: PhmModel, header: CheckpointHeader, name: str) -> None:
        self.model = model.eval()
        self.header = header
        self.name = name

    @classmethod
    def load(cls, path: str | Path, dataset: str | None = None) -> Predictor:
        """The checkpoint at `path`; with `dataset`, a ConfigError unless it is a checkpoint
        of `phm train --dataset <dataset>`."""
        model, header = load_checkpoint(path)
        out = cls(model, header, f"{Path(path).name}:{model.config.name}")
        if dataset is not None:
            out.require(dataset, str(path))
        return out

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<checkpoint bytes>") -> Predictor:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model, header = checkpoint_from_state(state, source)
        return cls(model, header, f"{source}:{model.config.name}")

    def require(self, dataset: str, source: str, what: str = "the monitor") -> None:
        """A ConfigError naming both datasets unless the checkpoint is of `dataset`."""
        if self.header.dataset != dataset:
            raise ConfigError(
                f"{source}: a checkpoint of dataset {self.header.dataset!r}; {what} needs a "
                f"`{TRAIN_HINT.format(dataset)}` checkpoint here"
            )

    # --- preprocessing: the header's windows -------------------------------------------------

    def pump_inputs(self, vibration: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
        """One window from a pump's latest snapshots (S, 2, L) and rows (S, C) at their times:
        the header's `snapshots` snapshots cut to `samples`, rows z-scored (`pump_window`)."""
        h = self.header
        if h.snapshots is None or h.samples is None or h.feature_mean is None:
            raise ConfigError(f"{self.name}: not a pump checkpoint (no snapshots in its header)")
        assert h.feature_scale is not None
        return pump_window(
            vibration[:, :, : h.samples], rows, h.snapshots, h.feature_mean, h.feature_scale
        )

    def cmapss_inputs(self, runs: list[Any]) -> tuple[list[Any], WindowSet]:
        """C-MAPSS runs scaled with the header's per-condition scaler and their windows at
        the last cycle (`cmapss_windows`): (scaled runs, windows)."""
        from phm.datasets.cmapss import ConditionScaler

        h = self.header
        if h.rul_cap is None or h.window is None or h.feature_mean is None:
            raise ConfigError(f"{self.name}: not a C-MAPSS checkpoint (no rul_cap in header)")
        assert h.feature_scale is not None
        scaler = ConditionScaler(h.channels)
        scaler.mean_ = np.asarray(h.feature_mean, dtype=np.float64)
        scaler.scale_ = np.asarray(h.feature_scale, dtype=np.float64)
        scaled = scaler.transform(runs)
        n_conditions = 1 if h.condition_centres is None else len(h.condition_centres)
        windows = cmapss_windows(
            scaled,
            list(h.channels),
            h.window,
            h.rul_cap,
            bool(h.include_cycle),
            True,
            h.condition_input,
            n_conditions,
        )
        return scaled, windows

    def phm2018_inputs(self, feats: Any, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Windows ending at `rows` (default: the last) of one tool's process features (a frame
        with the header's `channels` columns), z-scored (`phm2018_windows`)."""
        h = self.header
        if h.window is None or h.step_rows is None or h.feature_mean is None:
            raise ConfigError(f"{self.name}: not a PHM 2018 checkpoint (no step_rows in header)")
        assert h.feature_scale is not None
        matrix = feats.select(list(h.channels)).to_numpy().astype(np.float32)
        if rows is None:
            rows = np.array([len(matrix) - 1])
        return phm2018_windows(matrix, rows, h.feature_mean, h.feature_scale, h.window, h.step_rows)

    def phm2018_keep(self) -> int:
        """Feature rows one PHM 2018 window spans."""
        assert self.header.window is not None and self.header.step_rows is not None
        return (self.header.window - 1) * self.header.step_rows + 1

    # --- decoding -----------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, inputs: dict[str, Any], quantiles: tuple[float, ...] = ()) -> Decoded:
        """Run the model on `inputs` (arrays or tensors with a batch axis) and decode its
        outputs; `quantiles`: RUL quantiles to add (`Decoded.rul_quantiles`)."""
        batch = {
            k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v))
            for k, v in inputs.items()
        }
        return self.decode(self.model(batch), quantiles)

    def decode(self, out: dict[str, torch.Tensor], quantiles: tuple[float, ...] = ()) -> Decoded:
        """The model's raw outputs decoded with its heads' own summaries."""
        model = self.model
        decoded = Decoded(self.header.classes)
        if "fault" in out:
            decoded.fault = out["fault"].float().softmax(-1).numpy()
        if "rul" in out and model.rul is not None:
            params = out["rul"]
            decoded.rul = {k: v.numpy() for k, v in model.rul.summary(params).items()}
            decoded.rul_quantiles = {q: model.rul.quantile(params, q).numpy() for q in quantiles}
            decoded.rul_survival = model.rul.survival(params).numpy()
        if "ttf" in out and model.ttf is not None:
            decoded.ttf = {k: v.numpy() for k, v in model.ttf.summary(out["ttf"]).items()}
        return decoded

    def expert_load(self) -> list[list[float]]:
        """Each MoE layer's expert load of the last forward pass."""
        return [load.tolist() for load in self.model.expert_load()]


__all__ = ["Decoded", "Predictor"]
