"""The batch RUL report as data: scored assets (ranked), the fleet analysis, what made it.

`build_report` reads a source (C-MAPSS test units or a live store), scores every asset with
the chosen engine (progress bar per asset), ranks them and analyses the fleet's failure
history. Rendering (HTML, PDF, CSV, Parquet) is phm.reports.render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phm.reports.engines import CHUNK_SIZE, score
from phm.reports.fleet import FleetAnalysis, analyse_fleet
from phm.reports.rul import AssetRul, rank
from phm.reports.sources import ReportSource

if TYPE_CHECKING:
    from phm.models.predictor import Predictor


@dataclass
class Report:
    """Everything a rendered report shows; times in `unit` (cycles, hours)."""

    title: str
    source: str
    model: str
    unit: str
    unit_s: float | None  # seconds per unit when the unit is a time (hours: 3600), else None
    horizon: float
    grid: np.ndarray  # (G,) times of every survival curve
    assets: list[AssetRul]  # ranked, most urgent first
    fleet: FleetAnalysis
    engine: str
    generated_at: str
    has_faults: bool
    notes: list[str] = field(default_factory=list)
    banners: list[str] = field(default_factory=list)  # untrained model, stale data: on top
    timings: dict[str, float] = field(default_factory=dict)


def checkpoint_model(checkpoint: bytes) -> Predictor:
    """The checkpoint's `Predictor` (cached per process)."""
    from phm.reports.engines import _cached_model

    return _cached_model(checkpoint)


def build_report(
    source: ReportSource,
    checkpoint: bytes,
    model_name: str,
    engine: str = "local",
    address: str | None = None,
    num_cpus: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
    level: float = 0.9,
) -> Report:
    """Score and rank `source`'s assets and analyse its fleet history."""
    import time

    from tqdm import tqdm

    predictor = checkpoint_model(checkpoint)
    model, header = predictor.model, predictor.header
    if model.rul is None:
        from phm.reports.sources import ReportInputError

        raise ReportInputError(f"{model_name}: the model has no RUL head (rul_head = 'none')")
    t0 = time.perf_counter()
    with tqdm(total=len(source.assets), unit="asset", disable=not progress, desc="RUL") as bar:
        results = score(
            engine, checkpoint, source.assets, chunk_size, bar.update, address, num_cpus
        )
    t1 = time.perf_counter()
    fleet = analyse_fleet(source.history, level)
    t2 = time.perf_counter()
    unit_s = None
    if source.unit == "hours":
        unit_s = header.rul_unit_s if header.rul_unit_s is not None else 3600.0
    failed = {u for u, e in zip(source.history.units, source.history.events, strict=True) if e}
    for r in results:  # page 1 and the Weibull page read failed / alive from the same history
        r.failed = r.asset_id in failed
    notes = []
    if not any(r.root_causes for r in results):
        notes.append("No root-cause analysis is recorded for these assets (none recorded).")
    return Report(
        title=f"Remaining useful life: {source.name}",
        source=source.name,
        model=model_name,
        unit=source.unit,
        unit_s=unit_s,
        horizon=float(model.rul.horizon),
        grid=model.rul.grid.numpy().astype(np.float64),
        assets=rank(results),
        fleet=fleet,
        engine=engine,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        has_faults=any(r.fault_probs for r in results),
        notes=notes + fleet.notes,
        banners=banners(header.training, results, unit_s),
        timings={"score_s": t1 - t0, "fleet_s": t2 - t1},
    )


STALE_S = 86_400.0  # newest data older than this at report time: flagged as stale


def banners(
    training: dict, results: list[AssetRul], unit_s: float | None, now: float | None = None
) -> list[str]:
    """Warnings the reader must see first: a checkpoint that was never trained (its header
    holds no training history: its numbers are noise) and data older than STALE_S seconds
    at report time (live stores: the newest `as of` of the assets)."""
    import time

    out = []
    if not training.get("history") and not training.get("metrics"):
        out.append(
            "UNTRAINED MODEL: the checkpoint holds no training history or metrics; its RUL "
            "and fault probabilities are not evidence. Train it (`phm train`) before acting "
            "on this report."
        )
    times = [r.as_of for r in results if r.as_of is not None]
    if unit_s is not None and times:
        age = (time.time() if now is None else now) - max(times)
        if age > STALE_S:
            out.append(
                f"STALE DATA: the newest data scored is {age / 3600.0:.1f} h old at report "
                "time; the assets may have changed since."
            )
    return out


def read_checkpoint(path: str | Path) -> bytes:
    """The checkpoint file's bytes, or a ReportInputError naming it."""
    from phm.reports.sources import ReportInputError

    p = Path(path)
    if not p.is_file():
        raise ReportInputError(f"{p}: checkpoint not found")
    return p.read_bytes()
