"""`phm export`: a checkpoint as an ONNX file (fp32, or INT8 with --int8).

phm export --model pump.pt --format onnx --out pump.onnx
phm export --model pump.pt --format onnx --int8 --out pump-int8.onnx [--calibration-pumps 4]
The file holds the checkpoint's header in its metadata: `phm monitor --runtime onnx --model
pump.onnx` scores with it alone (phm.models.onnx_graph, phm.models.export).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from phm.models.export import CALIBRATION_PUMPS, CALIBRATION_WINDOWS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm export`."""
    parser.add_argument("--model", type=Path, required=True, help="checkpoint (.pt) to export")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="export format")
    parser.add_argument("--out", type=Path, required=True, help="file to write (.onnx)")
    parser.add_argument(
        "--int8", action="store_true", help="static INT8, calibrated on training windows"
    )
    parser.add_argument(
        "--calibration-pumps",
        type=int,
        default=CALIBRATION_PUMPS,
        help="training pumps simulated for the INT8 calibration windows",
    )
    parser.add_argument(
        "--calibration-windows",
        type=int,
        default=CALIBRATION_WINDOWS,
        help="most calibration windows (evenly spaced over those pumps' lives)",
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: default)")


def run(args: argparse.Namespace) -> int:
    """Export, print what was written."""
    from phm.errors import ConfigError
    from phm.models.export import ExportOptions, export_model
    from phm.models.train import torch_runtime

    if args.out.suffix != ".onnx":
        raise ConfigError(f"--out {args.out}: an ONNX file name ends in .onnx")
    if args.calibration_pumps < 1 or args.calibration_windows < 1:
        raise ConfigError("--calibration-pumps and --calibration-windows must be at least 1")
    torch_runtime("cpu", args.threads)
    report = export_model(
        ExportOptions(
            model=args.model,
            out=args.out,
            int8=args.int8,
            calibration_pumps=args.calibration_pumps,
            calibration_windows=args.calibration_windows,
        )
    )
    print(json.dumps(report, indent=2))
    return 0
