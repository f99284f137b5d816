"""`phm demo`: the main job end to end on embedded defaults, no external servers.

Today that is the PHM 2018 benchmark loop: simulate an ion-mill fleet in the official layout
(20 training tools x 30 days, 5 more tools in the final-validation layout), train the
gradient-boosting TTF baseline on the training tools, and score it with the challenge's
official S1 on the final-validation tools, beside the all-NaN submission. The simulated data
is kept under --store and reused by later runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_TOOLS = 20  # the challenge's training fleet size; 5 more tools are scored
DEMO_DAYS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("data/demo"),
        help="folder for the demo's data and results",
    )
    parser.add_argument("--tools", type=int, default=DEMO_TOOLS)
    parser.add_argument("--days", type=float, default=DEMO_DAYS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default="gbm", choices=("nan", "gbm", "survival"))


def run(args: argparse.Namespace) -> int:
    from phm.datasets.phm2018_sim import simulate_phm2018
    from phm.evaluation import bench_phm2018

    data = args.store / f"phm2018-{args.tools}x{args.days:g}d-seed{args.seed}"
    if not (data / ".complete").exists():
        print(f"simulating {args.tools} ion-mill tools x {args.days:g} days into {data}")
        simulate_phm2018(data, tools=args.tools, days=args.days, seed=args.seed, workers=2)
        (data / ".complete").write_text("ok\n")
    parser = argparse.ArgumentParser(prog="phm bench phm2018")
    bench_phm2018.add_arguments(parser)  # the bench's own defaults, so the two never drift
    bench_args = parser.parse_args(
        ["--data", str(data), "--model", args.model, "--out", str(args.store / "bench"),
         "--seed", str(args.seed)]
    )  # fmt: skip
    return bench_phm2018.run(bench_args)
