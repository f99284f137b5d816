"""Where a report's assets come from: C-MAPSS test units or a live store's pumps.

Each source gives the assets' model inputs (one window per asset, exactly as training built
them), what is known about each asset (its age, the latest alert's root causes), and the
fleet's failure history for the Weibull analysis.

C-MAPSS (`--data`): each test unit is an asset, scored at its last cycle (`cmapss_windows`,
scaled with the checkpoint's scaler); history = training units' lives (failures) plus test
units' last cycles (censored). Unit: cycles.

Live store (`--store`, e.g. `phm demo`'s data/demo/live): each pump with snapshots in the lake
is an asset, scored on its latest window (`pump_window`, as the monitor does); history = the
simulator's truth.jsonl (a pump whose failure time is before the end of its record failed
then, the others are censored at the end of their record). Unit: hours of life.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phm.errors import ConfigError
from phm.reports.fleet import FailureHistory

if TYPE_CHECKING:
    from phm.models.checkpoint import CheckpointHeader
    from phm.models.predictor import Predictor


class ReportInputError(ConfigError):
    """A report input the user can fix: unknown asset, empty store, wrong checkpoint."""


@dataclass
class AssetWindow:
    """One asset's latest model input (arrays with a leading batch axis of 1) and context."""

    asset_id: str
    inputs: dict[str, np.ndarray]
    age: float  # in the model's unit since the asset's start (cycles, hours)
    as_of: float | None = None  # Unix time of the latest data (store), None for datasets
    root_causes: list[dict[str, Any]] = field(default_factory=list)
    alert: str | None = None  # the latest alert's message, if any


@dataclass
class ReportSource:
    """Everything a report reads: assets to score, their unit, the fleet history."""

    name: str  # e.g. "C-MAPSS FD001 test units", "live store data/demo/live"
    dataset: str  # the checkpoint dataset it needs: "cmapss" or "plant"
    unit: str  # "cycles", "hours"
    assets: list[AssetWindow]
    history: FailureHistory


def check_checkpoint(header: CheckpointHeader, expected: str, path: str | Path, what: str) -> None:
    """Refuse a checkpoint trained on another dataset, naming both."""
    got = header.dataset
    if got != expected:
        hint = {"cmapss": "phm train --dataset cmapss", "plant": "phm train --dataset plant"}
        raise ReportInputError(
            f"{path}: a checkpoint of dataset {got!r} ({header.asset_type or 'unknown'} "
            f"assets); {what} needs a `{hint.get(expected, expected)}` checkpoint"
        )


def select_assets(available: list[str], wanted: list[str] | None, where: str) -> list[str]:
    """`wanted` (in its order) if all are available, else a ReportInputError naming them."""
    if not wanted:
        return available
    known = set(available)
    unknown = [a for a in wanted if a not in known]
    if unknown:
        sample = ", ".join(available[:5]) + (", ..." if len(available) > 5 else "")
        raise ReportInputError(
            f"unknown asset(s) {', '.join(map(repr, unknown))} in {where}; "
            f"it has {len(available)} assets: {sample}"
        )
    return list(dict.fromkeys(wanted))


# --- C-MAPSS ----------------------------------------------------------------------------------


def cmapss_source(
    data_dir: str | Path,
    subset: str,
    predictor: Predictor,
    checkpoint: str | Path,
    assets: list[str] | None = None,
) -> ReportSource:
    """C-MAPSS test units as assets (ids like FD001-test-007) at their last cycle."""
    from phm.datasets.cmapss import load_cmapss

    header = predictor.header
    check_checkpoint(header, "cmapss", checkpoint, "--data (C-MAPSS)")
    if header.subset not in (None, subset):
        raise ReportInputError(
            f"{checkpoint}: trained on C-MAPSS {header.subset}, asked for {subset}"
        )
    data = load_cmapss(data_dir, subset)
    by_id = {r.asset_id: r for r in data.test}
    chosen = select_assets(list(by_id), assets, f"C-MAPSS {subset} test units ({data.source})")
    runs, ws = predictor.cmapss_inputs([by_id[a] for a in chosen])
    windows = [
        AssetWindow(
            asset_id=run.asset_id,
            inputs={k: v[i : i + 1] for k, v in ws.inputs.items()},
            age=float(run.signals["time"][-1]),
        )
        for i, run in enumerate(runs)
    ]
    units = [r.asset_id for r in data.train] + [r.asset_id for r in data.test]
    lives = [float(r.signals["time"][-1]) for r in data.train + data.test]
    events = [True] * len(data.train) + [False] * len(data.test)
    history = FailureHistory(
        units,
        np.array(lives),
        np.array(events),
        "cycles",
        f"C-MAPSS {subset}: {len(data.train)} training lives (failures), "
        f"{len(data.test)} test units censored at their last cycle",
    )
    return ReportSource(f"C-MAPSS {subset} test units", "cmapss", "cycles", windows, history)


# --- live store -------------------------------------------------------------------------------


def _plant_for(store_assets: list[tuple[str, str, str, str]], plant_path: str | Path | None):
    """The plant config that knows every asset of the store (resized fleet if needed)."""
    from phm.plant import load_plant

    ids = {a[0] for a in store_assets}
    plant = load_plant(plant_path)
    if ids <= set(plant.assets):
        return plant
    with contextlib.suppress(ConfigError):
        plant = load_plant(plant_path, assets=len(ids))
    missing = sorted(ids - set(plant.assets))
    if missing:
        raise ReportInputError(
            f"assets {missing[:5]} of the store are not in the plant config {plant.source}; "
            "pass the plant the store was made with (--plant)"
        )
    return plant


def store_source(
    store_dir: str | Path,
    predictor: Predictor,
    checkpoint: str | Path,
    assets: list[str] | None = None,
    plant_path: str | Path | None = None,
) -> ReportSource:
    """The pumps of a live store, each on its latest window; root causes from its alerts."""
    from phm.models.windows import read_latest_pump_data
    from phm.store.lake import Lake
    from phm.store.state import StateStore, state_exists, state_location

    store = Path(store_dir)
    header = predictor.header
    check_checkpoint(header, "plant", checkpoint, "--store (the plant's pumps)")
    state_path = state_location(store)
    if not state_exists(state_path):
        raise ReportInputError(
            f"{store}: not a phm store (no state.sqlite); expected e.g. data/demo/live"
        )
    state = StateStore(state_path, readonly=True)
    try:
        registered = state.assets()
        alerts = state.alerts()
    finally:
        state.close()
    kind = header.asset_type or "pump"
    if not registered:
        raise ReportInputError(
            f"{store}: the store is empty (no assets registered in state.sqlite)"
        )
    plant = _plant_for(registered, plant_path)
    lake = Lake(store / "lake", plant)
    with_data = set(lake.assets("vibration"))
    typed = [a[0] for a in registered if a[1] == kind]
    available = [a for a in typed if a in with_data]
    if not available:
        raise ReportInputError(
            f"{store}: the store is empty for {kind}s: none of {len(typed)} registered {kind}s "
            "has vibration snapshots in the lake"
        )
    if assets:
        other = [a for a in assets if a in {r[0] for r in registered} and a not in typed]
        if other:
            raise ReportInputError(
                f"asset(s) {other} in {store} are not {kind}s; the checkpoint {checkpoint} "
                f"scores {kind}s only"
            )
    chosen = select_assets(available, assets, f"the store {store}")
    latest_alert: dict[str, Any] = {}
    for alert in sorted(alerts, key=lambda a: a.updated_at):
        if alert.kind == "condition":  # not the stale / comms alarms (phm.monitor.staleness)
            latest_alert[alert.asset_id] = alert
    k = header.snapshots
    assert k is not None
    unit_s = header.rul_unit_s if header.rul_unit_s is not None else 3600.0
    truth = _read_truth(store / "truth.jsonl")
    windows = []
    for aid in chosen:
        latest = lake.latest_time("vibration", aid) or 0.0
        times, _, data, rows = read_latest_pump_data(lake, plant, aid, k, latest)
        if rows is None:
            raise ReportInputError(
                f"{store}: pump {aid!r} has snapshots but no temperature/process rows"
            )
        alert = latest_alert.get(aid)
        causes = alert.details.get("root_causes") if alert is not None else None
        windows.append(
            AssetWindow(
                asset_id=aid,
                inputs=predictor.pump_inputs(data, rows),
                age=_life_s(lake, aid, truth, float(times[-1])) / unit_s,
                as_of=float(times[-1]),
                root_causes=_causes(causes),
                alert=alert.message if alert is not None else None,
            )
        )
    history = _store_history(store, available, lake, truth, unit_s)
    return ReportSource(f"live store {store}", "plant", "hours", windows, history)


def _first_time(lake: Any, asset: str) -> float:
    times, _, _ = lake.read_waveforms(asset)
    return float(times[0]) if len(times) else 0.0


def _read_truth(path: Path) -> dict[str, dict[str, Any]]:
    """The simulator's truth per asset (first line of each; pumps have one)."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{path}: line {n} is not JSON ({exc.msg})") from None
        out.setdefault(str(rec.get("asset")), rec)
    return out


def _anchor(truth: dict[str, dict[str, Any]]) -> float | None:
    """Unix time of life 0 (the simulator's anchor), from any line with a failure."""
    for rec in truth.values():
        if rec.get("failure_time") is not None and rec.get("failure_s") is not None:
            return float(rec["failure_time"]) - float(rec["failure_s"])
    return None


def _life_s(lake: Any, asset: str, truth: dict[str, dict[str, Any]], last: float) -> float:
    """Seconds of life at `last`: from the simulator's anchor, else from the first snapshot
    (read only then: it scans the asset's whole record)."""
    anchor = _anchor(truth)
    return last - (anchor if anchor is not None else _first_time(lake, asset))


def _store_history(
    store: Path, pumps: list[str], lake: Any, truth: dict[str, dict[str, Any]], unit_s: float
) -> FailureHistory:
    """Pump lives from truth.jsonl: failed if the failure time is within the record, else
    censored at the end of the record. Without a truth file every pump is censored."""
    durations, events = [], []
    for aid in pumps:
        end = lake.latest_time("vibration", aid) or 0.0
        rec = truth.get(aid, {})
        life_end = _life_s(lake, aid, truth, end)
        failure = rec.get("failure_time")
        if failure is not None and float(failure) <= end:
            durations.append(float(rec["failure_s"]) / unit_s)
            events.append(True)
        else:
            durations.append(max(life_end, 0.0) / unit_s)
            events.append(False)
    where = store / "truth.jsonl"
    how = "truth.jsonl failures" if truth else "no truth.jsonl: every pump censored"
    return FailureHistory(
        pumps,
        np.array(durations),
        np.array(events),
        "hours",
        f"{len(pumps)} pumps of {store} ({how}, {where.name}); censored at the end of record",
    )


def _causes(raw: Any) -> list[dict[str, Any]]:
    """An alert's details['root_causes'] as {cause, probability, actions}, most probable first."""
    from phm.store.state import alert_root_causes

    details = {"root_causes": raw}
    return [
        {k: c[k] for k in ("cause", "probability", "actions")} for c in alert_root_causes(details)
    ]
