"""`phm report rul`: the batch RUL report for reliability engineers.

    phm report rul --data ../shared/data --subset FD001 --model cmapss.pt --out reports/fd001
    phm report rul --store data/demo/live --model data/demo/models/pump.pt --out reports/demo \
        --format html,pdf,csv --engine ray --ray-address auto
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from phm.reports.engines import CHUNK_SIZE, ENGINES
from phm.reports.render import DETAIL

if TYPE_CHECKING:
    from phm.models.predictor import Predictor
    from phm.reports.sources import ReportSource


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", type=Path, help="a live store (e.g. data/demo/live): its pumps")
    src.add_argument("--data", type=Path, help="C-MAPSS folder: each test unit is an asset")
    parser.add_argument("--subset", default="FD001", help="C-MAPSS subset with --data")
    parser.add_argument("--model", type=Path, required=True, help="checkpoint (phm train)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--format", default="html,pdf,csv", help="html,pdf,csv (csv adds Parquet)")
    parser.add_argument("--assets", nargs="+", help="only these asset ids (default: all)")
    parser.add_argument("--engine", choices=ENGINES, default="local")
    parser.add_argument("--ray-address", help="Ray cluster address (default: a local instance)")
    parser.add_argument("--workers", type=int, help="CPUs of a local Ray instance (default 2)")
    parser.add_argument("--chunk", type=int, default=CHUNK_SIZE, help="assets per batch / task")
    parser.add_argument("--detail", type=int, default=DETAIL, help="assets with a detail section")
    parser.add_argument("--plant", type=Path, help="plant config the store was made with")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from phm.models.checkpoint import CheckpointFormatError
    from phm.reports.render import fmt_num, parse_formats, write_report
    from phm.reports.report import build_report, checkpoint_model, read_checkpoint
    from phm.reports.sources import ReportInputError

    formats = parse_formats(args.format)
    checkpoint = read_checkpoint(args.model)
    try:
        predictor = checkpoint_model(checkpoint)
    except CheckpointFormatError as exc:
        raise ReportInputError(str(exc).replace("<checkpoint bytes>", str(args.model))) from None
    except Exception as exc:
        raise ReportInputError(f"{args.model}: not a phm checkpoint ({exc})") from None
    source = _source(args, predictor)
    report = build_report(
        source,
        checkpoint,
        args.model.name,
        engine=args.engine,
        address=args.ray_address,
        num_cpus=args.workers,
        chunk_size=args.chunk,
        progress=not args.no_progress,
    )
    written = write_report(report, args.out, formats, args.detail)
    top = report.assets[0]
    print(
        f"{len(report.assets)} assets; most urgent {top.asset_id}: RUL median "
        f"{fmt_num(top.median)} {report.unit} (90% {fmt_num(top.q05)}-{fmt_num(top.q95)})"
    )
    w = report.fleet.weibull
    if w is not None:
        print(
            f"fleet Weibull shape {w.shape.value:.2f} scale {w.scale.value:.1f} "
            f"B10 {w.b10.value:.1f} MTBF {w.mtbf.value:.1f} {w.unit}"
        )
    for note in report.notes:
        print(f"note: {note}")
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    return 0


def _source(args: argparse.Namespace, predictor: Predictor) -> ReportSource:
    """The source named by the arguments (--data/--subset or --store)."""
    from phm.reports.sources import cmapss_source, store_source

    assets = list(args.assets) if args.assets else None
    if args.data is not None:
        return cmapss_source(args.data, args.subset, predictor, args.model, assets)
    return store_source(args.store, predictor, args.model, assets, args.plant)
