"""`phm export`: a checkpoint as an ONNX file, fp32 or INT8 (static quantisation).

    phm export --model pump.pt --format onnx --out pump.onnx
    phm export --model pump.pt --format onnx --int8 --out pump-int8.onnx

The graph and its metadata: phm.models.onnx_graph. INT8 is onnxruntime's static quantisation
in the QDQ format of the feed-forward networks' matmuls (the dense SwiGLU blocks, the shared
and the routed experts: most of the weights): weights int8 per output channel, their input
activations uint8, ranges calibrated on training windows. Kept in fp32 (`fp32_nodes`): the
spectral front end (STFT and its pooling matmul: the log spectrum's range spans decades), the
MoE routers (a quantised affinity flips the top-k choice of near ties), attention, the
embeddings and the heads, and everything that is not a matmul. Chosen on validation pumps
against quantising every weight matmul but the front end and the routers (`phm bench export`
compares the two; docs/i20/onnx.md has the figures).

Calibration windows (`calibration_windows`): pump checkpoints (dataset plant or lake) rebuild
the training pumps of the checkpoint's own training run from its header (`training.seed`, the
first `CALIBRATION_PUMPS` pumps of `pump_scenarios` that were not validation pumps), simulated
and windowed with the header's feature scaling, at most `CALIBRATION_WINDOWS` windows; a
checkpoint whose header names no split (a distilled student) takes fresh pumps of its seed +
`CALIBRATION_SEED_OFFSET`, never the test pumps.
Other datasets are not supported for INT8 yet (a ConfigError says so).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.model import PhmModel, load_checkpoint
from phm.models.onnx_graph import model_input_names, onnx_graph, set_metadata

CALIBRATION_PUMPS = 4  # training pumps simulated for the INT8 calibration windows
CALIBRATION_WINDOWS = 256  # most windows the ranges are calibrated on (evenly spaced)
# a checkpoint without its training split calibrates on pumps of its seed + this (the test
# pumps of `prepare_plant` are seed + 10,000)
CALIBRATION_SEED_OFFSET = 20_000
QUANTISED_OPS = ("MatMul", "Gemm")
PUMP_DATASETS = ("plant", "lake")


@dataclass(frozen=True)
class ExportOptions:
    """`phm export`: checkpoint `model` -> ONNX file `out`, INT8 when `int8`."""

    model: Path
    out: Path
    int8: bool = False
    calibration_pumps: int = CALIBRATION_PUMPS
    calibration_windows: int = CALIBRATION_WINDOWS


def export_model(options: ExportOptions) -> dict[str, Any]:
    """Write the ONNX file; returns what was written (path, bytes, precision, excluded ops)."""
    model, header = load_checkpoint(options.model)
    data = onnx_graph(model, header)
    report: dict[str, Any] = {"model": str(options.model), "out": str(options.out)}
    if options.int8:
        windows, source = calibration_windows(
            header, options.calibration_pumps, options.calibration_windows
        )
        data, excluded = quantise_int8(data, model, header, windows)
        report["kept_fp32_nodes"] = excluded
        report["calibration"] = source
        report["calibration_windows"] = len(next(iter(windows.values())))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_bytes(data)
    report.update(precision="int8" if options.int8 else "fp32", bytes=len(data))
    return report


def calibration_windows(
    header: CheckpointHeader, pumps: int = CALIBRATION_PUMPS, most: int = CALIBRATION_WINDOWS
) -> tuple[dict[str, np.ndarray], str]:
    """Training windows of a pump checkpoint (see the module doc): graph inputs by name, and
    which pumps they come from."""
    from phm.models.prepare_plant import plant_windows, pump_history, pump_scenarios
    from phm.plant import load_plant, pump_spec

    if header.dataset not in PUMP_DATASETS:
        raise ConfigError(
            f"INT8 calibration rebuilds pump training windows; a checkpoint of dataset "
            f"{header.dataset!r} is not supported (export it without --int8)"
        )
    if header.snapshots is None or header.samples is None or header.feature_mean is None:
        raise ConfigError("the checkpoint header has no snapshots/samples/feature_mean")
    assert header.feature_scale is not None
    training = header.training
    seed = int(training.get("seed", 0))
    if "n_train_pumps" in training and "val_units" in training:
        val = set(training["val_units"])
        drawn = pump_scenarios(int(training["n_train_pumps"]), seed)
        scenarios = [s for i, s in enumerate(drawn) if i not in val][:pumps]
        source = f"the first {len(scenarios)} fit pumps of the training run (seed {seed})"
    else:  # e.g. a distilled student: its header names no split, so fresh pumps
        scenarios = pump_scenarios(pumps, seed + CALIBRATION_SEED_OFFSET)
        source = f"{pumps} pumps of seed {seed + CALIBRATION_SEED_OFFSET} (no split in header)"
    pump = pump_spec(load_plant(None))
    histories = [
        pump_history(a, pump, seed, f, life, int(header.samples)) for a, f, life in scenarios
    ]
    windows = plant_windows(
        histories, int(header.snapshots), header.feature_mean, header.feature_scale
    )
    n = len(windows.inputs["vibration"])
    keep = np.linspace(0, n - 1, min(most, n)).round().astype(int)
    return {k: v[keep] for k, v in windows.inputs.items()}, source


class _Reader:
    """onnxruntime's CalibrationDataReader over windows, a few at a time."""

    def __init__(self, windows: dict[str, np.ndarray], names: list[str], batch: int = 16) -> None:
        self.windows, self.names, self.batch = windows, names, batch
        self.items: Iterator[dict[str, np.ndarray]] = self._items()

    def _items(self) -> Iterator[dict[str, np.ndarray]]:
        n = len(self.windows[self.names[0]])
        for start in range(0, n, self.batch):
            yield {k: _as_input(k, self.windows[k][start : start + self.batch]) for k in self.names}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)

    def rewind(self) -> None:
        self.items = self._items()


def _as_input(name: str, x: np.ndarray) -> np.ndarray:
    if name.endswith("_mask"):
        return np.ascontiguousarray(x, dtype=bool)
    if name == "context":
        return np.ascontiguousarray(x, dtype=np.int64)
    return np.ascontiguousarray(x, dtype=np.float32)


def fp32_nodes(proto: Any) -> list[str]:
    """Quantisable nodes kept in fp32 (see the module doc): every MatMul / Gemm but those of
    the feed-forward networks, and the MoE routers' projections."""
    return [
        node.name
        for node in proto.graph.node
        if node.op_type in QUANTISED_OPS and ("/ffn/" not in node.name or "/ffn/gate/" in node.name)
    ]


def quantise_int8(
    data: bytes,
    model: PhmModel,
    header: CheckpointHeader,
    windows: dict[str, np.ndarray],
    keep_fp32: Callable[[Any], list[str]] = fp32_nodes,
) -> tuple[bytes, list[str]]:
    """Static INT8 (QDQ) of an fp32 graph, calibrated on `windows`; (bytes, fp32 nodes).
    `keep_fp32`: the graph -> the names of the matmul nodes to leave in fp32."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    proto = onnx.load_from_string(data)
    excluded = keep_fp32(proto)
    names = model_input_names(model.config)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(data)
        quantize_static(
            str(src),
            str(dst),
            _Reader(windows, names),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTISED_OPS),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            extra_options={"MatMulConstBOnly": True},
        )
        out = onnx.load(str(dst))
    set_metadata(out, model, header, precision="int8")
    onnx.checker.check_model(out)
    return out.SerializeToString(), excluded


__all__ = ["ExportOptions", "calibration_windows", "export_model", "quantise_int8"]
