"""`phm demo`: the main job end to end on embedded defaults, no external servers.

Today that is the PHM 2018 benchmark loop: simulate a small ion-mill fleet in the official
layout, train the gradient-boosting TTF baseline on the training tools, and score it with the
challenge's official S1 on the final-validation tools, beside the all-NaN submission.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_TOOLS = 8
DEMO_DAYS = 12.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("data/demo"),
        help="folder for the demo's data and results",
    )
    parser.add_argument("--tools", type=int, default=DEMO_TOOLS)
    parser.add_argument("--days", type=float, default=DEMO_DAYS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default="gbm", choices=("nan", "gbm", "survival"))


def run(args: argparse.Namespace) -> int:
    from phm.datasets.phm2018_sim import simulate_phm2018
    from phm.evaluation import bench_phm2018

    data = args.store / f"phm2018-{args.tools}x{args.days:g}d-seed{args.seed}"
    if not (data / ".complete").exists():
        print(f"simulating {args.tools} ion-mill tools x {args.days:g} days into {data}")
        simulate_phm2018(data, tools=args.tools, days=args.days, seed=args.seed, workers=2)
        (data / ".complete").write_text("ok\n")
    bench_args = argparse.Namespace(
        data=data,
        model=args.model,
        out=args.store / "bench",
        seed=args.seed,
        stride=15,
        near_stride=3,
        holdout=None,
        no_progress=False,
    )
    return bench_phm2018.run(bench_args)
