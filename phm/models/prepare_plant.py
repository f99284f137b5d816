"""The simulated plant's pumps as training data for the monitor's model (`--dataset plant`).

Each pump of a training fleet lives one life in the physics-based simulator (phm.sim.rotating):
most develop one fault (seven modes) and run to failure, some stay healthy. A snapshot every
`PLANT_STEP_S` of life gives one window: the last `tcfg.snapshots` vibration snapshots (the
first `tcfg.snapshot` samples of each, both accelerometers) and, at the same times, the
temperature and process rows, z-scored with statistics of the fit pumps. Targets: the fault
class (healthy until the fault's severity reaches `VISIBLE_SEVERITY`, then the mode) and the
RUL in hours (event at the failure; a healthy pump is censored at the end of its record).

`phm.models.windows.pump_window` builds the same window from rows read back from the lake, so
the live monitor scores exactly what the model was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.data import Prepared, TrainConfig, WindowSet
from phm.models.windows import PUMP_CHANNELS, pump_window, read_latest_pump_data
from phm.plant import PumpSpec
from phm.sim.rotating import FAULT_MODES, FaultScenario, PumpSimulator

PLANT_CLASSES: tuple[str, ...] = ("healthy", *FAULT_MODES)
PLANT_RUL_UNIT_S = 3600.0  # RUL in hours of life
PLANT_RUL_HORIZON = 96.0  # the longest simulated life (FaultScenario.draw: 1 to 4 days)
PLANT_STEP_S = 1800.0  # life seconds between snapshots in the training histories
VISIBLE_SEVERITY = 0.05  # below this severity a developing fault is labelled healthy
HEALTHY_SHARE = 0.2  # share of training pumps that never fail


def pump_scenarios(n: int, seed: int) -> list[tuple[str, FaultScenario | None, float]]:
    """n (asset id, fault or None, life seconds) drawn from `seed`; healthy pumps live 4 days."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        fault = None if rng.random() < HEALTHY_SHARE else FaultScenario.draw(rng)
        life = fault.failure_s if fault is not None else PLANT_RUL_HORIZON * PLANT_RUL_UNIT_S
        out.append((f"train-{seed}-{i:03d}", fault, life))
    return out


def pump_history(
    asset_id: str,
    pump: PumpSpec | Mapping[str, Any],
    seed: int,
    fault: FaultScenario | None,
    life_s: float,
    samples: int,
) -> dict[str, np.ndarray]:
    """One simulated life: snapshot times (S,), vibration (S, 2, samples), rows (S, 9) of
    PUMP_CHANNELS at those times, fault class (S,), RUL hours (S,) and its event flag (S,)."""
    sim = PumpSimulator(asset_id, pump, seed, fault)
    times = np.arange(PLANT_STEP_S, life_s, PLANT_STEP_S)
    vib = np.stack([sim.snapshot(float(t))[:, :samples] for t in times])
    rows = np.concatenate([sim.temperature_rows(times), sim.process_rows(times)], axis=1)
    severity = sim.severity(times)
    mode = 0 if fault is None else 1 + FAULT_MODES.index(fault.mode)
    fault_class = np.where(severity >= VISIBLE_SEVERITY, mode, 0).astype(np.int64)
    rul = (life_s - times) / PLANT_RUL_UNIT_S
    return {
        "times": times,
        "vibration": vib.astype(np.float32),
        "rows": rows.astype(np.float32),
        "fault": fault_class,
        "rul": rul.astype(np.float32),
        "event": np.full(len(times), fault is not None),
    }


def plant_windows(
    histories: list[dict[str, np.ndarray]], k: int, mean: np.ndarray, scale: np.ndarray
) -> WindowSet:
    """One window per snapshot of every history (see `pump_window`), with its targets."""
    vib, proc, masks, faults, ruls, events, groups = [], [], [], [], [], [], []
    for g, h in enumerate(histories):
        n = len(h["times"])
        idx = np.arange(n)[:, None] + np.arange(-k + 1, 1)[None, :]  # (S, k)
        real = idx >= 0
        v = h["vibration"][np.clip(idx, 0, None)]
        v[~real] = 0.0
        p = (h["rows"][np.clip(idx, 0, None)] - mean) / scale
        p[~real] = 0.0
        vib.append(v)
        proc.append(p.astype(np.float32))
        masks.append(real)
        faults.append(h["fault"])
        ruls.append(h["rul"])
        events.append(h["event"])
        groups.append(np.full(n, g))
    rul = np.concatenate(ruls)
    event = np.concatenate(events)
    mask = np.concatenate(masks)
    return WindowSet(
        inputs={
            "vibration": np.concatenate(vib),
            "vibration_mask": mask,
            "process": np.concatenate(proc),
            "process_mask": mask.copy(),
        },
        targets={
            "fault": np.concatenate(faults),
            "rul_time": np.minimum(rul, PLANT_RUL_HORIZON).astype(np.float32),
            "rul_event": event & (rul < PLANT_RUL_HORIZON),
            # a healthy pump's RUL is unknown (beyond its record): NaN, left out of the RUL
            # metrics and the interval calibration; it still trains as censored
            "rul_true": np.where(event, rul, np.nan).astype(np.float32),
        },
        groups=np.concatenate(groups),
    )


@dataclass(frozen=True)
class PlantOptions:
    """The simulated plant: `pumps` training pumps (`val_fraction` of them validate) and
    `test_pumps` others from another seed (0: no test set), of the plant TOML `plant`."""

    dataset: ClassVar[str] = "plant"
    plant: Path | None = None
    pumps: int = 40
    test_pumps: int = 10


def prepare_plant(options: PlantOptions, tcfg: TrainConfig, seed: int) -> Prepared:
    """`options.pumps` training pumps and `options.test_pumps` others, each one simulated
    life (`PlantOptions`)."""
    from phm.plant import load_plant, pump_spec

    plant = load_plant(options.plant)
    if "pump" not in plant.types:
        raise ConfigError(f"{plant.source}: the plant has no `pump` type to train on")
    pump = pump_spec(plant)
    n_train, n_test = int(options.pumps), int(options.test_pumps)
    if n_train < 2:
        raise ConfigError(f"--pumps must be at least 2, got {n_train}")
    samples = int(tcfg.snapshot)

    def simulate(scenarios: list) -> list[dict[str, np.ndarray]]:
        return [pump_history(a, pump, seed, f, life, samples) for a, f, life in scenarios]

    train = simulate(pump_scenarios(n_train, seed))
    test = simulate(pump_scenarios(n_test, seed + 10_000)) if n_test else []
    rng = np.random.default_rng(seed)
    n_val = max(1, round(tcfg.val_fraction * n_train))
    val_idx = set(rng.choice(n_train, n_val, replace=False).tolist())
    fit = [h for i, h in enumerate(train) if i not in val_idx]
    val = [h for i, h in enumerate(train) if i in val_idx]
    return pump_prepared(
        fit, val, test, tcfg, "plant", {"n_train_pumps": n_train, "val_units": sorted(val_idx)}
    )


def pump_prepared(
    fit: list[dict[str, np.ndarray]],
    val: list[dict[str, np.ndarray]],
    test: list[dict[str, np.ndarray]],
    tcfg: TrainConfig,
    dataset: str,
    extra: dict[str, Any],
) -> Prepared:
    """Pump histories (`pump_history`'s layout) split into fit, validation and test (empty:
    none) -> their windows (`plant_windows`), the rows z-scored with the fit pumps' statistics,
    and the header of a pump checkpoint of `dataset` (classes PLANT_CLASSES, RUL in hours)."""
    k, samples = int(tcfg.snapshots), int(tcfg.snapshot)
    rows = np.concatenate([h["rows"] for h in fit])
    mean = rows.mean(axis=0)
    scale = np.where(rows.std(axis=0) > 1e-6, rows.std(axis=0), 1.0)
    return Prepared(
        fit=plant_windows(fit, k, mean, scale),
        val=plant_windows(val, k, mean, scale),
        test=plant_windows(test, k, mean, scale) if test else None,
        config_updates={
            "vibration_channels": 2,
            "process_channels": len(PUMP_CHANNELS),
            "context_cardinalities": (),
            "max_positions": k,
            "rul_horizon": PLANT_RUL_HORIZON,
            "n_classes": len(PLANT_CLASSES),
        },
        header=CheckpointHeader(
            dataset=dataset,
            asset_type="pump",
            classes=tuple(PLANT_CLASSES),
            channels=tuple(PUMP_CHANNELS),
            feature_mean=np.asarray(mean, dtype=np.float32),
            feature_scale=np.asarray(scale, dtype=np.float32),
            snapshots=k,
            samples=samples,
            rul_unit="hours",
            rul_unit_s=PLANT_RUL_UNIT_S,
            rul_horizon=PLANT_RUL_HORIZON,
        ),
        extra=extra,
    )


__all__ = [
    "PLANT_CLASSES",
    "PUMP_CHANNELS",
    "PlantOptions",
    "plant_windows",
    "prepare_plant",
    "pump_prepared",
    "pump_window",
    "read_latest_pump_data",
]
