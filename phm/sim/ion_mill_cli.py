"""`phm simulate phm2018`: the command over `simulate_phm2018` (rows, speed, faults, memory)."""

from __future__ import annotations

import argparse
import resource
from pathlib import Path

from phm.sim.ion_mill_files import simulate_phm2018


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm simulate phm2018`."""
    parser.add_argument("--out", type=Path, required=True, help="dataset root to write")
    parser.add_argument("--tools", type=int, default=20, help="training tools (default 20)")
    parser.add_argument("--days", type=float, default=30.0, help="days per tool (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--test-tools", type=int, help="test tools (default max(1, tools // 4))")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the simulation and print rows, speed, fault counts and peak memory."""
    s = simulate_phm2018(
        args.out, args.tools, args.days, args.seed, args.test_tools, args.workers,
        progress=not args.no_progress,
    )  # fmt: skip
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    faults = ", ".join(f"{m} {n}" for m, n in s.fault_counts.items())
    print(f"wrote {len(s.rows)} files under {s.out}: {len(s.train_tools)} train tools, "
          f"{len(s.test_tools)} test tools")  # fmt: skip
    print(f"rows: {s.sensor_rows:,} in {s.seconds:.1f} s ({s.sensor_rows / s.seconds:,.0f} rows/s)")
    print(f"faults (deduplicated): {faults}; raw fault-log rows {s.raw_fault_rows}")
    print(f"peak RSS: main process {own:.0f} MiB, largest worker {child:.0f} MiB")
    return 0
