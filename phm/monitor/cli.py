"""`phm monitor --store DIR [--model CKPT]`: score the plant's assets from the store, raise alerts.

phm monitor --store data/demo/store --model data/demo/store/models/pump.pt [--interval 2]
            [--plant phm/configs/plant.toml] [--assets N] [--once]
            [--runtime torch|onnx] [--max-batch 64] [--max-wait-ms 50]
phm monitor --store DIR --runtime onnx --model pump.onnx   (`phm export`: fp32 or INT8)
phm monitor --store DIR --plant replay.toml   (replayed rigs: healthy baselines, no checkpoint)

Without --model the pumps score with the store's active registry version (STORE/models/pump,
`phm train --dataset lake`, `phm models`); an active version replaces --model's checkpoint, and
a version activated while the monitor runs is swapped in on its next pass.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from phm.errors import ConfigError
from phm.models.onnx_graph import OnnxPredictor
from phm.monitor.batching import DEFAULT_BATCHING, BatchPolicy
from phm.monitor.scorer import Monitor, ScoringModel
from phm.plant import load_plant
from phm.store.registry import ModelRegistry
from phm.store.state import STATE_HELP, state_exists, state_location, use_state_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm monitor`."""
    parser.add_argument("--store", type=Path, required=True, help="store folder (lake, state)")
    parser.add_argument("--state", default=None, metavar="URL", help=STATE_HELP)
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="pump checkpoint (plant or lake); default: the store's active registry version; a "
        "plant without pumps (e.g. replayed rigs, scored against healthy baselines) needs none",
    )
    parser.add_argument(
        "--ion-mill-model", type=Path, default=None, help="ion mill checkpoint (phm2018)"
    )
    parser.add_argument("--plant", type=Path, default=None, help="plant TOML")
    parser.add_argument("--assets", type=int, default=None, help="resize the plant's fleet")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between passes")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument(
        "--runtime",
        choices=("torch", "onnx"),
        default="torch",
        help="onnx: --model is an ONNX file of `phm export` (fp32 or INT8), run by onnxruntime; "
        "registry versions are converted to ONNX fp32 when swapped in",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=DEFAULT_BATCHING.max_batch,
        help="most assets scored in one forward pass (1: one at a time)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=DEFAULT_BATCHING.max_wait_s * 1000,
        help="latency bound: a window waits at most this long for more assets to batch with",
    )


def load_scoring_model(path: Path, runtime: str) -> ScoringModel | OnnxPredictor:
    """The pump model of `--model` for `--runtime`: a checkpoint for torch, an exported .onnx
    file for onnx (a ConfigError naming the flag for the other)."""
    is_onnx = path.suffix == ".onnx"
    if runtime == "onnx" and not is_onnx:
        raise ConfigError(
            f"--runtime onnx: --model {path} is not an .onnx file; export it first with "
            f"`phm export --model {path} --format onnx [--int8] --out FILE.onnx`"
        )
    if runtime == "torch" and is_onnx:
        raise ConfigError(f"--model {path} is an ONNX file: add --runtime onnx")
    return OnnxPredictor.load(path) if is_onnx else ScoringModel.load(path, None)


def run(args: argparse.Namespace) -> int:
    """Score until Ctrl-C (or once)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    use_state_url(args.state)
    if not state_exists(state_location(args.store)):
        raise ConfigError(f"{args.store}: no state.sqlite here; is ingest writing to this store?")
    ion_mill = None
    if args.ion_mill_model is not None:
        ion_mill = ScoringModel.load(args.ion_mill_model, "phm2018")
    plant = load_plant(args.plant, args.assets)
    has_pumps = any(t.scorer == "pump" for t in plant.types.values())
    if has_pumps and args.model is None and ModelRegistry(args.store, "pump").active() is None:
        raise ConfigError(
            f"{args.store}: no --model and no active version in {args.store}/models/pump "
            "(`phm train --dataset lake` registers one; `phm models list` shows them)"
        )
    pump = None if args.model is None else load_scoring_model(args.model, args.runtime)
    if pump is not None and pump.header.dataset not in ("plant", "lake"):
        pump.require("plant", str(args.model))
    if args.max_batch < 1 or args.max_wait_ms < 0:
        raise ConfigError("--max-batch must be at least 1 and --max-wait-ms at least 0")
    batching = BatchPolicy(args.max_batch, args.max_wait_ms / 1000) if args.max_batch > 1 else None
    load_model = OnnxPredictor.from_checkpoint if args.runtime == "onnx" else None
    monitor = Monitor(
        args.store,
        plant,
        pump,  # type: ignore[arg-type]
        ion_mill_model=ion_mill,
        batching=batching,
        load_model=load_model,  # type: ignore[arg-type]
    )
    if args.once:
        print(f"{len(monitor.evaluate())} predictions written")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    monitor.run(args.interval, stop)
    return 0
