"""The checkpoint header: what using a model needs besides its weights, typed and versioned.

Every checkpoint `phm train` writes holds a `CheckpointHeader` (format `FORMAT_VERSION`): the
dataset and asset type it scores, its class names and input channels, the normalisation it was
trained with, its window sizes and its RUL unit and horizon, plus the dataset-specific fields
some datasets need (C-MAPSS: subset, RUL cap, cycle channel; PHM 2018: feature step). What
training recorded about itself (seed, metrics, histories, validation units) sits apart in
`training`: provenance, never read to use the model.

A checkpoint without a header (format 1, the free `extra` dict) or of another format version is
refused with a `CheckpointFormatError` naming the file and what to do: retrain it with
`phm train`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from phm.errors import ConfigError

FORMAT_VERSION = 2  # the checkpoint layout `save_checkpoint` writes and `load_checkpoint` reads

# normalisation arrays: ndarrays in the header, tensors in the saved state (weights_only loads)
_ARRAYS = ("feature_mean", "feature_scale", "condition_centres")


class CheckpointFormatError(ConfigError):
    """A checkpoint of another format than this version of phm reads."""


@dataclass
class CheckpointHeader:
    """What using a checkpoint's model needs besides its weights.

    feature_mean / feature_scale: the z-scoring of `channels` the windows were built with
    (C-MAPSS: one row per operating condition, (K, S)). rul_unit: the unit of the RUL head's
    outputs ("cycles", "hours"); rul_unit_s its length in seconds where it is a time.
    """

    dataset: str  # `phm train --dataset`: cmapss, cwru, femto, phm2018, plant
    asset_type: str = ""  # turbofan, bearing, ion_mill, pump
    classes: tuple[str, ...] = ()  # fault head's class names, class 0 first
    channels: tuple[str, ...] = ()  # names of the process inputs' channels, in order
    feature_mean: np.ndarray | None = None
    feature_scale: np.ndarray | None = None
    window: int | None = None  # rows (C-MAPSS cycles, PHM 2018 feature steps) or samples (CWRU)
    snapshots: int | None = None  # vibration snapshots per window (FEMTO, plant)
    snapshot: int | None = None  # samples per token (CWRU)
    samples: int | None = None  # samples per snapshot (FEMTO, plant)
    rul_unit: str | None = None
    rul_unit_s: float | None = None
    rul_horizon: float | None = None
    # dataset-specific
    subset: str | None = None  # C-MAPSS subset, e.g. FD001
    include_cycle: bool | None = None  # C-MAPSS: the cycle count is the last channel
    rul_cap: float | None = None  # C-MAPSS: the piecewise-linear RUL cap (cycles)
    condition_centres: np.ndarray | None = None  # C-MAPSS operating conditions (K, 3)
    # C-MAPSS: TrainConfig.condition_input the windows were built with (None: "token")
    condition_input: str | None = None
    step_rows: int | None = None  # PHM 2018: rows between a window's feature steps
    training: dict[str, Any] = field(default_factory=dict)  # provenance, not read to score
    format_version: int = FORMAT_VERSION

    def to_state(self) -> dict[str, Any]:
        """Plain values, lists and tensors, as `torch.load(weights_only=True)` reads them."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _ARRAYS and value is not None:
                value = torch.from_numpy(np.ascontiguousarray(value))
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any], source: str) -> CheckpointHeader:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(state) - names)
        if unknown or "dataset" not in state:
            raise CheckpointFormatError(
                f"{source}: checkpoint header has unknown fields {unknown} or no dataset; "
                "retrain it with `phm train`"
            )
        values = dict(state)
        for name in _ARRAYS:
            if values.get(name) is not None:
                values[name] = values[name].numpy()
        for name in ("classes", "channels"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)


def header_from_state(state: dict[str, Any], source: str) -> CheckpointHeader:
    """The header of a loaded checkpoint state, or a CheckpointFormatError: an old checkpoint
    (format 1: a free `extra` dict, no header) or one of another format version."""
    version = state.get("format")
    if "header" not in state or version != FORMAT_VERSION:
        found = (
            "format 1 (no header, an untyped `extra` dict)"
            if "header" not in state
            else (f"format {version!r}")
        )
        raise CheckpointFormatError(
            f"{source}: checkpoint {found}; this phm reads checkpoint format {FORMAT_VERSION} "
            "(a typed header) only: retrain the model with `phm train` to write one"
        )
    return CheckpointHeader.from_state(state["header"], source)


__all__ = ["FORMAT_VERSION", "CheckpointFormatError", "CheckpointHeader", "header_from_state"]
