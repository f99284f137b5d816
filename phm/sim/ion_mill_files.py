"""`phm simulate phm2018`: write a simulated ion-mill etch dataset in the exact PHM 2018 layout.

Each tool (`phm.sim.ion_mill.SimulatedTool`) is written on its own, from the RNG streams of
(seed, tool index), so the output does not depend on `--workers`: its fault log first, then its
rendered chunks of rows, appended to the open CSV files (sensors and TTF labels; a test tool's
record is cut into history and scored rows). Memory is bounded by the chunk size, not by the
record length.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time as wallclock
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
from tqdm import tqdm

from phm.datasets.phm2018_layout import (
    FAULT_COLUMNS,
    FAULT_MODES,
    FAULT_NAME_VARIANTS,
    FAULT_NAMES,
    SENSOR_COLUMNS,
    TTF_COLUMN_OF,
    TTF_COLUMNS,
    column_tool_name,
    file_tool_name,
    tool_names,
)
from phm.errors import ConfigError
from phm.sim.ion_mill import DAY_S, SimulatedTool, tool_rng

SENSOR_DECIMALS = 4  # decimals of z-scored channels (~4-5 significant digits)
TTF_DECIMALS = 1  # TTF values are whole seconds; one decimal marks them as floats
HISTORY_FRACTION = 0.4  # test tools: first 40% of the days is history, the rest is scored
NO_WAFER_ID_LABEL = next(
    k for k, m in FAULT_NAME_VARIANTS.items() if m == "pressure_high" and k != FAULT_NAMES[m]
)
LOT_TEXT_FRACTION = 2e-5  # rows whose Lot is written as text (`L0042`), a real-data quirk
DUPLICATE_PROB = 0.02  # fault-log rows written twice (real logs: ~2% exact duplicates)
NO_WAFER_ID_PROB = 0.1  # pressure_high rows logged with the [NoWaferID] variant label


@dataclass(frozen=True)
class SimulationSummary:
    """What `simulate_phm2018` wrote.

    rows: data rows per file (path relative to `out`, fault logs included); fault_counts:
    deduplicated fault events per mode over all tools, train and test; raw_fault_rows: fault-log
    rows written, duplicates included; seconds: wall time.
    """

    out: Path
    train_tools: tuple[str, ...]
    test_tools: tuple[str, ...]
    rows: dict[str, int]
    fault_counts: dict[str, int]
    raw_fault_rows: int
    seconds: float

    @property
    def sensor_rows(self) -> int:
        """Distinct simulated rows: train sensors + test history + scored rows."""
        distinct = ("train/*_DC_train.csv", "test/*_DC_test.csv", "final_validation/*_score.csv")
        return sum(n for p, n in self.rows.items() if any(Path(p).match(g) for g in distinct))


@dataclass(frozen=True)
class _Job:
    out: Path
    name: str
    index: int  # 0.. over train then test tools; seeds this tool's RNG streams
    test: bool
    seed: int
    days: float


def _ttf(t: np.ndarray, times_by_mode: list[np.ndarray]) -> dict[str, np.ndarray]:
    """TTF_COLUMNS for times t (rows,): next fault time of each mode - t, NaN after the last."""
    out = {"time": t}
    for mode, times in zip(FAULT_MODES, times_by_mode, strict=True):
        i = np.searchsorted(times, t, side="left")
        nxt = np.append(times, 0)[i].astype(np.float64)
        out[TTF_COLUMN_OF[mode]] = np.where(i < len(times), nxt - t, np.nan)
    return out


def _frame(
    cols: dict[str, np.ndarray], tool: str, rng: np.random.Generator, decimals: int
) -> pl.DataFrame:
    """A frame ready for CSV: floats rounded (NaN -> empty), Tool filled, a few text Lots."""
    series = []
    for name, values in cols.items():
        if name == "Tool":
            series.append(pl.repeat(column_tool_name(tool), len(cols["time"]), eager=True))
        elif name == "Lot":
            lot = pl.Series(values).cast(pl.String)
            text = np.flatnonzero(rng.random(len(values)) < LOT_TEXT_FRACTION)
            lot.scatter(text, [f"L{v:04d}" for v in values[text]])
            series.append(lot)
        elif values.dtype.kind == "f":
            series.append(pl.Series(np.round(values, decimals), nan_to_null=True))
        else:
            series.append(pl.Series(values))
    return pl.DataFrame([s.alias(name) for s, name in zip(series, cols, strict=True)])


def fault_log(events: list[tuple[int, str]], tool: str, rng: np.random.Generator) -> pl.DataFrame:
    """The raw fault log (FAULT_COLUMNS, sorted by time) of events (time s, fault mode).

    About DUPLICATE_PROB of the rows are written twice, and about NO_WAFER_ID_PROB of the
    pressure_high rows carry the `[NoWaferID]` variant label, as in the real logs.
    """
    names = [FAULT_NAMES[m] for _, m in events]
    for i, (_, mode) in enumerate(events):
        if mode == "pressure_high" and rng.random() < NO_WAFER_ID_PROB:
            names[i] = NO_WAFER_ID_LABEL
    copies = 1 + (rng.random(len(events)) < DUPLICATE_PROB)
    log = pl.DataFrame(
        {
            "time": np.repeat(np.array([e[0] for e in events], np.int64), copies),
            "fault_name": [name for name, k in zip(names, copies, strict=True) for _ in range(k)],
            "Tool": [column_tool_name(tool)] * int(copies.sum()),
        },
        schema={"time": pl.Int64, "fault_name": pl.String, "Tool": pl.String},
    )
    return log.sort("time", maintain_order=True).select(FAULT_COLUMNS)


class _Sink:
    """An open CSV file with its header already written; counts the data rows appended."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.rows = path, 0
        self.file: IO[bytes] = path.open("wb")
        self.file.write((",".join(columns) + "\n").encode())

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height:
            frame.write_csv(self.file, include_header=False)
            self.rows += frame.height


def _simulate_tool(job: _Job, report: Callable[[int], object]) -> tuple[dict[str, int], dict]:
    """Write one tool's files; returns (data rows per relative path, fault-log statistics)."""
    sim = SimulatedTool.draw(job.seed, job.index, int(job.days * DAY_S))
    tool, cycles = sim.tool, sim.cycles
    events = [(int(t), FAULT_MODES[c.mode]) for c in cycles for t in c.faults]
    rng = tool_rng(job.seed, job.index, 3)
    log = fault_log(events, job.name, rng)
    by_mode = [
        np.unique([t for t, m in events if m == mode]).astype(np.int64) for mode in FAULT_MODES
    ]
    name, out = file_tool_name(job.name), job.out
    if job.test:
        log_path = out / "final_validation" / f"{name}_fault_data.csv"
        split = tool.t_start + int(HISTORY_FRACTION * job.days * DAY_S)
        sinks = {
            "test": _Sink(out / "test" / f"{name}_DC_test.csv", SENSOR_COLUMNS),
            "history": _Sink(out / "final_validation" / f"{name}_DC_test.csv", SENSOR_COLUMNS),
            "score": _Sink(out / "final_validation" / f"{name}_DC_score.csv", SENSOR_COLUMNS),
            "truth": _Sink(out / "final_validation" / f"{name}_DC_groundtruth.csv", TTF_COLUMNS),
        }
    else:
        log_path = out / "train" / "train_faults" / f"{name}_train_fault_data.csv"
        sinks = {
            "sensors": _Sink(out / "train" / f"{name}_DC_train.csv", SENSOR_COLUMNS),
            "ttf": _Sink(out / "train" / "train_ttf" / f"{name}_DC_train.csv", TTF_COLUMNS),
        }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.write_csv(log_path)
    for cols in sim.render(rng):
        sensors = _frame(cols, job.name, rng, SENSOR_DECIMALS)
        ttf = _frame(_ttf(cols["time"], by_mode), job.name, rng, TTF_DECIMALS)
        if job.test:
            cut = int(np.searchsorted(cols["time"], split))
            sinks["test"].write(sensors.head(cut))
            sinks["history"].write(sensors.head(cut))
            sinks["score"].write(sensors.slice(cut))
            sinks["truth"].write(ttf.slice(cut))
        else:
            sinks["sensors"].write(sensors)
            sinks["ttf"].write(ttf)
        report(sensors.height)
    rows = {str(log_path.relative_to(out)): log.height}
    for sink in sinks.values():
        sink.file.close()
        rows[str(sink.path.relative_to(out))] = sink.rows
    return rows, {"counts": [len(t) for t in by_mode], "raw": log.height}


_PROGRESS: multiprocessing.Queue | None = None  # rows done, reported by each worker process


def _worker_init(progress: multiprocessing.Queue) -> None:
    global _PROGRESS
    _PROGRESS = progress


def _worker(job: _Job) -> tuple[dict[str, int], dict]:
    assert _PROGRESS is not None, "worker started without _worker_init"
    return _simulate_tool(job, _PROGRESS.put)


def simulate_phm2018(
    out: Path,
    tools: int,
    days: float,
    seed: int,
    test_tools: int | None = None,
    workers: int = 1,
    progress: bool = True,
) -> SimulationSummary:
    """Write a simulated PHM 2018 dataset under `out` (layout: `phm.datasets.phm2018_layout`).

    `tools` training tools and `test_tools` (default max(1, tools // 4)) test tools, `days`
    days each (~19k rows per tool-day). Same seed -> byte-identical files, whatever `workers`.
    """
    n_test = max(1, tools // 4) if test_tools is None else test_tools
    if tools < 1 or n_test < 0 or days <= 0 or seed < 0 or workers < 1:
        raise ConfigError(
            "need tools >= 1, test_tools >= 0, days > 0, seed >= 0, workers >= 1; got "
            f"tools={tools}, test_tools={n_test}, days={days}, seed={seed}, workers={workers}"
        )
    out = Path(out)
    names = [*tool_names(tools), *tool_names(n_test, start=tools + 1)]
    jobs = [_Job(out, name, i, i >= tools, seed, days) for i, name in enumerate(names)]
    began = wallclock.perf_counter()
    bar = tqdm(unit="rows", unit_scale=True, disable=not progress, desc="phm2018")
    if workers == 1:
        results = [_simulate_tool(job, bar.update) for job in jobs]
    else:
        ctx = multiprocessing.get_context("spawn")  # polars' thread pool does not survive fork
        rows_done = ctx.Queue()
        with ProcessPoolExecutor(workers, ctx, _worker_init, (rows_done,)) as pool:
            futures = [pool.submit(_worker, job) for job in jobs]
            while not all(f.done() for f in futures) or not rows_done.empty():
                with contextlib.suppress(queue.Empty):
                    bar.update(rows_done.get(timeout=0.2))
            results = [f.result() for f in futures]
    bar.close()
    return SimulationSummary(
        out=out,
        train_tools=tuple(names[:tools]),
        test_tools=tuple(names[tools:]),
        rows={path: n for rows, _ in results for path, n in rows.items()},
        fault_counts={
            m: sum(s["counts"][i] for _, s in results) for i, m in enumerate(FAULT_MODES)
        },
        raw_fault_rows=sum(s["raw"] for _, s in results),
        seconds=wallclock.perf_counter() - began,
    )
