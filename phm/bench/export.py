"""`phm bench export --model CKPT`: PyTorch fp32 vs ONNX fp32 vs ONNX INT8 of one pump
checkpoint, in one run, on the same windows.

- held-out windows: the checkpoint's own test pumps (`--test-pumps` lives drawn as
  `prepare_plant` draws its test set: seed = the header's training seed + 10,000), windowed
  with the header's feature scaling; none of them trained, validated or calibrated anything;
- accuracy and macro-F1 of the most probable fault class, RUL RMSE (hours) of the point RUL
  clipped to [0, horizon] on windows whose RUL is known (`phm.models.train.rul_report`),
  and the INT8 change against ONNX fp32 (the largest probability difference, the share of
  windows whose top class differs);
- size: the checkpoint file and its weights (fp32) against the ONNX files;
- CPU latency of the forward pass alone (no decoding), one thread each (torch and the
  onnxruntime session), after a warm-up: p50 / p99 of `--latency-calls` batch-1 calls and
  windows/s over `--batch-calls` calls at batch 64; the runtimes are timed in interleaved
  rounds so that load from other processes falls on all of them alike;
- the INT8 recipe choice (`RECIPES`: which matmuls stay fp32) on the validation pumps of the
  checkpoint's training run (a student's: its teacher's), as the change against fp32;
- where onnxruntime spends its time at batch 64: the share of kernel time by operator type
  (its profiler), fp32 and INT8.
INT8: phm.models.export (static, QDQ, calibrated on training windows of the same checkpoint).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phm.bench.results import markdown_table, write_result
from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.export import (
    PUMP_DATASETS,
    QUANTISED_OPS,
    calibration_windows,
    fp32_nodes,
    quantise_int8,
)
from phm.models.model import PhmModel, load_checkpoint
from phm.models.onnx_graph import OnnxPredictor, onnx_graph
from phm.models.train import fault_report, rul_report

TEST_SEED_OFFSET = 10_000  # prepare_plant's test pumps: the training seed + this


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench export`."""
    parser.add_argument("--model", type=Path, required=True, help="pump checkpoint (.pt)")
    parser.add_argument("--test-pumps", type=int, default=10, help="held-out pumps simulated")
    parser.add_argument("--latency-calls", type=int, default=300, help="timed batch-1 calls")
    parser.add_argument("--batch-calls", type=int, default=30, help="timed batch-64 calls")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch and ORT)")
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    parser.add_argument("--name", default=None, help="result name (default: export-<model>)")


def held_out_windows(header: CheckpointHeader, n: int) -> tuple[dict[str, np.ndarray], Any]:
    """The checkpoint's test pumps' windows (inputs, targets), scaled by its header."""
    from phm.models.prepare_plant import plant_windows, pump_history, pump_scenarios
    from phm.plant import load_plant, pump_spec

    assert header.feature_mean is not None and header.feature_scale is not None
    seed = int(header.training.get("seed", 0))
    pump = pump_spec(load_plant(None))
    scenarios = pump_scenarios(n, seed + TEST_SEED_OFFSET)
    histories = [
        pump_history(a, pump, seed, f, life, int(header.samples or 0)) for a, f, life in scenarios
    ]
    w = plant_windows(
        histories, int(header.snapshots or 1), header.feature_mean, header.feature_scale
    )
    return w.inputs, w.targets


def validation_windows(header: CheckpointHeader) -> dict[str, np.ndarray] | None:
    """The validation pumps' windows of the checkpoint's training run (a distilled student:
    its teacher's, which it shares), scaled by its header; None where no split is recorded."""
    from phm.models.prepare_plant import plant_windows, pump_history, pump_scenarios
    from phm.plant import load_plant, pump_spec

    training = header.training
    teacher = training.get("distilled_from")
    if "val_units" not in training and teacher and Path(teacher).is_file():
        training = load_checkpoint(teacher)[1].training
    if "val_units" not in training or "n_train_pumps" not in training:
        return None
    assert header.feature_mean is not None and header.feature_scale is not None
    seed, val = int(training.get("seed", 0)), set(training["val_units"])
    pump = pump_spec(load_plant(None))
    drawn = pump_scenarios(int(training["n_train_pumps"]), seed)
    histories = [
        pump_history(a, pump, seed, f, life, int(header.samples or 0))
        for i, (a, f, life) in enumerate(drawn)
        if i in val
    ]
    k = int(header.snapshots or 1)
    return plant_windows(histories, k, header.feature_mean, header.feature_scale).inputs


def _matmuls(proto: Any) -> list[Any]:
    return [n for n in proto.graph.node if n.op_type in QUANTISED_OPS]


# INT8 recipes compared on validation windows: the graph -> the matmul nodes left in fp32
RECIPES: dict[str, Callable[[Any], list[str]]] = {
    "FFNs only (shipped)": fp32_nodes,
    "all weight matmuls but the front end and the routers": lambda proto: [
        n.name
        for n in _matmuls(proto)
        if ("/vibration/" in n.name and "/proj/" not in n.name) or "/ffn/gate/" in n.name
    ],
}


def compare_recipes(
    fp32: bytes,
    model: PhmModel,
    header: CheckpointHeader,
    calibration: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    threads: int,
) -> dict[str, dict[str, float]]:
    """Each recipe's change against fp32 on the validation windows: the share of windows
    whose top class changes and the RMS change of the point RUL (h)."""
    base = OnnxPredictor(fp32, "fp32.onnx", threads)
    ref = _decoded(base, base.run, val)
    out = {}
    for name, keep in RECIPES.items():
        data, kept = quantise_int8(fp32, model, header, calibration, keep)
        p = OnnxPredictor(data, "int8.onnx", threads)
        got = _decoded(p, p.run, val)
        out[name] = {
            "top_class_changed_share": float(
                (got["fault_prob"].argmax(1) != ref["fault_prob"].argmax(1)).mean()
            ),
            "rul_rms_change_h": float(np.sqrt(np.mean((got["point"] - ref["point"]) ** 2))),
            "kept_fp32": len(kept),
        }
    return out


def _decoded(
    p: OnnxPredictor, forward: Callable[[dict[str, np.ndarray]], Any], x: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Probabilities and RUL summary of all windows, decoded by `p`'s heads."""
    parts = []
    for b in _batches(x, 64):
        raw = forward(b)
        d = p.decode({k: torch.from_numpy(np.asarray(raw[k])) for k in ("fault", "rul")})
        assert d.fault is not None and d.rul is not None
        parts.append({"fault_prob": d.fault, **d.rul})
    return {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}


def _batches(inputs: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(inputs.values())))
    return [{k: v[i : i + size] for k, v in inputs.items()} for i in range(0, n, size)]


def _torch_forward(model: PhmModel) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    def forward(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = model({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in x.items()})
        return {k: v.numpy() for k, v in out.items()}

    return forward


def _scores(
    forward: Callable[[dict[str, np.ndarray]], Any],
    decoder: OnnxPredictor,
    inputs: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    horizon: float,
) -> tuple[dict[str, Any], np.ndarray]:
    """Fault and RUL scores on all windows, and the fault probabilities (N, C)."""
    pred = _decoded(decoder, forward, inputs)
    fault = fault_report(pred, targets["fault"])
    rul = rul_report(pred, targets["rul_true"], horizon)
    return {
        "accuracy": fault["accuracy"],
        "macro_f1": fault["macro_f1"],
        "rul_rmse": rul.get("rmse", float("nan")),
        "rul_coverage": rul.get("coverage", float("nan")),
        "n": fault["n"],
        "n_rul": rul["n"],
    }, pred["fault_prob"]


def _timings(
    forwards: dict[str, Callable[[dict[str, np.ndarray]], Any]],
    inputs: dict[str, np.ndarray],
    calls: int,
    batch_calls: int,
    rounds: int,
) -> dict[str, dict[str, float]]:
    """Batch-1 latency (ms) and batch-64 windows/s of each forward, interleaved rounds."""
    n = len(next(iter(inputs.values())))
    ones = [{k: v[i : i + 1] for k, v in inputs.items()} for i in range(min(n, calls))]
    b64 = {k: v[:64] for k, v in inputs.items()}
    lat: dict[str, list[float]] = {k: [] for k in forwards}
    per_batch: dict[str, list[float]] = {k: [] for k in forwards}
    for f in forwards.values():  # warm-up
        for x in ones[:20]:
            f(x)
        f(b64)
    for _ in range(rounds):
        for name, f in forwards.items():
            for i in range(max(1, calls // rounds)):
                x = ones[i % len(ones)]
                t0 = time.perf_counter()
                f(x)
                lat[name].append(time.perf_counter() - t0)
            for _ in range(max(1, batch_calls // rounds)):
                t0 = time.perf_counter()
                f(b64)
                per_batch[name].append(time.perf_counter() - t0)
    size = len(b64[next(iter(b64))])
    return {
        name: {
            "p50_ms_batch1": 1000 * float(np.percentile(lat[name], 50)),
            "p99_ms_batch1": 1000 * float(np.percentile(lat[name], 99)),
            "windows_per_s_batch64": size / float(np.median(per_batch[name])),
        }
        for name in forwards
    }


def op_shares(data: bytes, inputs: dict[str, np.ndarray], threads: int, runs: int = 10) -> dict:
    """Share of onnxruntime's kernel time by operator type over `runs` batch-64 runs (the
    session's profiler), largest first: where the forward pass spends its time."""
    import json

    import onnxruntime as ort

    b64 = {k: _as_ort(k, v[:64]) for k, v in inputs.items()}
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            session.run(None, b64)
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e["args"]["op_name"]
            by_op[op] = by_op.get(op, 0.0) + e["dur"]
    total = sum(by_op.values()) or 1.0
    return {k: v / total for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])}


def _as_ort(name: str, x: np.ndarray) -> np.ndarray:
    if name.endswith("_mask"):
        return np.ascontiguousarray(x, dtype=bool)
    return np.ascontiguousarray(x, dtype=np.float32)


def bench_export(
    ckpt: Path, test_pumps: int, calls: int, batch_calls: int, rounds: int, threads: int
) -> dict[str, Any]:
    """The three runtimes' scores, sizes and timings (see the module doc)."""
    torch.set_num_threads(threads)
    model, header = load_checkpoint(ckpt)
    if header.dataset not in PUMP_DATASETS:
        raise ConfigError(f"{ckpt}: a {header.dataset!r} checkpoint; the bench takes pump ones")
    t0 = time.perf_counter()
    fp32 = onnx_graph(model, header)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    windows, calibration = calibration_windows(header)
    int8, excluded = quantise_int8(fp32, model, header, windows)
    quantise_s = time.perf_counter() - t0
    runtimes = {
        "onnx_fp32": OnnxPredictor(fp32, "fp32.onnx", threads),
        "onnx_int8": OnnxPredictor(int8, "int8.onnx", threads),
    }
    torch_predictor = OnnxPredictor(fp32, "decode.onnx", threads)  # its heads decode torch too
    inputs, targets = held_out_windows(header, test_pumps)
    horizon = float(header.rul_horizon or model.config.rul_horizon)

    forwards: dict[str, Callable[[dict[str, np.ndarray]], Any]] = {
        "torch_fp32": _torch_forward(model)
    }
    for name, p in runtimes.items():
        forwards[name] = p.run
    results: dict[str, Any] = {}
    probs = {}
    for name, f in forwards.items():
        p = torch_predictor if name == "torch_fp32" else runtimes[name]
        results[name], probs[name] = _scores(f, p, inputs, targets, horizon)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    results["torch_fp32"]["bytes"] = ckpt.stat().st_size
    results["torch_fp32"]["weights_bytes"] = len(buffer.getvalue())
    results["onnx_fp32"]["bytes"] = len(fp32)
    results["onnx_int8"]["bytes"] = len(int8)
    timing = _timings(forwards, inputs, calls, batch_calls, rounds)
    for name in forwards:
        results[name].update(timing[name])
    val = validation_windows(header)
    recipes = None if val is None else compare_recipes(fp32, model, header, windows, val, threads)
    base, q = results["onnx_fp32"], results["onnx_int8"]
    shares = {
        "onnx_fp32": op_shares(fp32, inputs, threads),
        "onnx_int8": op_shares(int8, inputs, threads),
    }
    return {
        "op_time_share_batch64": shares,
        "int8_recipes_validation": recipes,
        "model": str(ckpt),
        "config": model.config.name,
        "n_params": model.n_params(),
        "threads": threads,
        "runtimes": results,
        "int8": {
            "kept_fp32_nodes": excluded,
            "calibration": calibration,
            "accuracy_change": q["accuracy"] - base["accuracy"],
            "rmse_change_share": q["rul_rmse"] / base["rul_rmse"] - 1.0,
            "max_prob_diff": float(np.abs(probs["onnx_int8"] - probs["onnx_fp32"]).max()),
            "top_class_changed_share": float(
                (probs["onnx_int8"].argmax(1) != probs["onnx_fp32"].argmax(1)).mean()
            ),
            "speedup_batch1": base["p50_ms_batch1"] / q["p50_ms_batch1"],
            "speedup_batch64": q["windows_per_s_batch64"] / base["windows_per_s_batch64"],
        },
        "onnx_fp32_vs_torch_max_prob_diff": float(
            np.abs(probs["onnx_fp32"] - probs["torch_fp32"]).max()
        ),
        "export_s": export_s,
        "quantise_s": quantise_s,
    }


def run(args: argparse.Namespace) -> int:
    """Run the bench, print the table, write JSON and markdown under --out."""
    if args.test_pumps < 1 or args.latency_calls < 1 or args.batch_calls < 1 or args.rounds < 1:
        raise ConfigError("--test-pumps, --latency-calls, --batch-calls, --rounds must be >= 1")
    result = bench_export(
        args.model, args.test_pumps, args.latency_calls, args.batch_calls, args.rounds, args.threads
    )
    rows = [
        [
            name,
            r["accuracy"],
            r["macro_f1"],
            r["rul_rmse"],
            r["bytes"],
            r["p50_ms_batch1"],
            r["p99_ms_batch1"],
            r["windows_per_s_batch64"],
        ]
        for name, r in result["runtimes"].items()
    ]
    table = markdown_table(
        [
            "runtime",
            "accuracy",
            "macro-F1",
            "RUL RMSE (h)",
            "file bytes",
            "p50 ms (b=1)",
            "p99 ms (b=1)",
            "windows/s (b=64)",
        ],
        rows,
    )
    q = result["int8"]
    table += (
        f"\n\nINT8 vs ONNX fp32: accuracy {q['accuracy_change']:+.4f}, RMSE "
        f"{100 * q['rmse_change_share']:+.2f}%, max probability difference "
        f"{q['max_prob_diff']:.4f}, top class changed on {100 * q['top_class_changed_share']:.2f}% "
        f"of windows; speed-up {q['speedup_batch1']:.2f}x (b=1), {q['speedup_batch64']:.2f}x "
        f"(b=64); {len(q['kept_fp32_nodes'])} matmuls kept fp32 (all but the FFNs')"
    )
    if result["int8_recipes_validation"] is not None:
        table += "\n\nINT8 recipes on the validation pumps (change against fp32):"
        for recipe, r in result["int8_recipes_validation"].items():
            table += (
                f"\n- {recipe}: top class changed {100 * r['top_class_changed_share']:.2f}%, "
                f"RUL RMS change {r['rul_rms_change_h']:.2f} h"
            )
    table += "\n"
    for name, shares in result["op_time_share_batch64"].items():
        top = ", ".join(f"{op} {100 * v:.0f}%" for op, v in list(shares.items())[:5])
        table += f"\n{name} time by operator (b=64): {top}"
    name = args.name or f"export-{args.model.stem}"
    write_result(args.out, name, {"model": result["model"]}, result, table)
    return 0
