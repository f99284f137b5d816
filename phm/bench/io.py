"""`phm bench io`: our PHM 2018 loader against a plain pandas.read_csv, in one run.

Each reader runs in its own fresh process, so its peak resident memory (RSS) is its own. Both
read the same simulated full-scale-shaped dataset: tools of up to `--rows-per-tool` rows (a
real tool has ~4-5M), 24 sensor columns, with TTF files and fault logs. Ours reads one tool at
a time with header checks, types and quirk handling; the reference reads the same CSV files
with pandas defaults and nothing else.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import time
from pathlib import Path

from phm.bench.results import fmt, markdown_table, write_result
from phm.errors import PhmError

PEAK_RSS_LIMIT_GIB = 2.0
ROWS_PER_DAY_ESTIMATE = 18_500  # ~4 s cadence less idle gaps, see phm.sim.ion_mill


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def read_with_phm(root: str, columns: list[str] | None) -> dict[str, float]:
    """Our loader, tool by tool (runs in a child process)."""
    from phm.datasets.phm2018 import Phm2018Dataset

    t0 = time.perf_counter()
    ds = Phm2018Dataset(root)
    rows = 0
    for run in ds.iter_train(columns=columns):
        rows += run.signals.height
        del run
    return {"rows": rows, "seconds": time.perf_counter() - t0, "peak_rss": _peak_rss_bytes()}


def read_with_pandas(root: str) -> dict[str, float]:
    """Reference: pandas.read_csv of the same sensor, TTF and fault files (child process)."""
    import pandas as pd

    t0 = time.perf_counter()
    rows = 0
    train = Path(root) / "train"
    for sensors in sorted(train.glob("*_DC_train.csv")):
        frame = pd.read_csv(sensors)
        pd.read_csv(train / "train_ttf" / sensors.name)
        tool = sensors.name.removesuffix("_DC_train.csv")
        faults = train / "train_faults" / f"{tool}_train_fault_data.csv"
        if faults.exists():
            pd.read_csv(faults)
        rows += len(frame)
        del frame
    return {"rows": rows, "seconds": time.perf_counter() - t0, "peak_rss": _peak_rss_bytes()}


def _in_child(fn: object, *args: object) -> dict[str, float]:
    ctx = mp.get_context("spawn")  # a fresh interpreter: its peak RSS is this reader's alone
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)  # type: ignore[arg-type]


def ensure_dataset(rows: int, rows_per_tool: int, seed: int, cache: Path) -> Path:
    """A simulated dataset of about `rows` training rows, made once and reused."""
    from phm.sim.ion_mill_files import simulate_phm2018

    tools = max(1, math.ceil(rows / rows_per_tool))
    days = rows / tools / ROWS_PER_DAY_ESTIMATE
    root = cache / f"io-{rows}-{tools}-{seed}"
    if not (root / ".complete").exists():
        simulate_phm2018(
            root, tools=tools, days=days, seed=seed, test_tools=0, workers=2, progress=True
        )
        (root / ".complete").write_text("ok\n")
    return root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=2_000_000, help="training rows to read")
    parser.add_argument(
        "--rows-per-tool",
        type=int,
        default=4_000_000,
        help="rows per simulated tool (a real tool has ~4-5M)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="read this PHM 2018 dataset instead of simulating one",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("data/sim"),
        help="where simulated datasets are kept between runs",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/bench"))


def run(args: argparse.Namespace) -> int:
    if args.rows <= 0:
        raise PhmError("--rows must be positive")
    root = args.data or ensure_dataset(args.rows, args.rows_per_tool, args.seed, args.cache)
    if not (root / "train").is_dir():
        raise PhmError(f"{root}: no train/ folder (PHM 2018 layout)")
    size = sum(p.stat().st_size for p in (root / "train").rglob("*.csv"))
    print(f"reading {root} ({size / 2**30:.2f} GiB of CSV) ...", flush=True)
    from phm.features.process import ProcessFeatureConfig

    feature_columns = ProcessFeatureConfig().input_columns()[1:]
    results = {
        "pandas.read_csv": _in_child(read_with_pandas, str(root)),
        "phm loader": _in_child(read_with_phm, str(root), None),
        "phm loader, feature columns": _in_child(read_with_phm, str(root), feature_columns),
    }
    for r in results.values():
        r["rows_per_s"] = r["rows"] / r["seconds"]
    ref, ours = results["pandas.read_csv"], results["phm loader"]
    if ours["rows"] != ref["rows"]:
        raise PhmError(f"row counts differ: ours {ours['rows']}, pandas {ref['rows']}")
    ratio = ours["rows_per_s"] / ref["rows_per_s"]
    peak_gib = ours["peak_rss"] / 2**30
    rows_table = [
        [
            name,
            int(r["rows"]),
            r["seconds"],
            r["rows_per_s"],
            r["peak_rss"] / 2**30,
            r["rows_per_s"] / ref["rows_per_s"],
        ]
        for name, r in results.items()
    ]
    table = (
        f"## PHM 2018 loader throughput ({int(ours['rows']):,} rows, "
        f"{size / 2**30:.2f} GiB CSV)\n\n"
        + markdown_table(
            ["reader", "rows", "seconds", "rows/s", "peak RSS GiB", "x pandas"], rows_table
        )
        + f"\n\nOur loader's peak RSS {fmt(peak_gib)} GiB "
        + ("within" if peak_gib < PEAK_RSS_LIMIT_GIB else "OVER")
        + f" the {PEAK_RSS_LIMIT_GIB} GiB limit."
    )
    headline = {
        "rows": int(ours["rows"]),
        "readings_per_s": ours["rows_per_s"],
        "reference_rows_per_s": ref["rows_per_s"],
        "ratio": ratio,
        "peak_rss_gib": peak_gib,
    }
    write_result(
        args.out, "io", headline, {"readers": results, "data": str(root), "csv_bytes": size}, table
    )
    return 0 if peak_gib < PEAK_RSS_LIMIT_GIB else 1
