"""ONNX export: the graph computes the PyTorch model's outputs (fp32 to 1e-4, INT8 to a looser
bound on probabilities), with a dynamic batch axis, and the file carries its header."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from phm.cli import main
from phm.errors import ConfigError
from phm.models.export import calibration_windows, fp32_nodes, quantise_int8
from phm.models.model import load_checkpoint, save_checkpoint
from phm.models.onnx_graph import OnnxPredictor, onnx_graph
from phm.models.predictor import Predictor
from tests.demo_models import random_tiny_pump

INT8_PROB_TOL = 0.1  # INT8: largest allowed change of a class probability against fp32


@pytest.fixture(scope="module")
def pump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny pump checkpoint with random (not initial) weights and a conformal factor, and
    windows of its simulated pumps (some front-padded)."""
    model, prep = random_tiny_pump(seed=0)
    with torch.no_grad():
        assert model.rul is not None
        model.rul.conformal_factor.fill_(0.2)
    prep.header.training = {"seed": 0, "n_train_pumps": 3, "val_units": [2]}
    path = tmp_path_factory.mktemp("onnx") / "pump.pt"
    save_checkpoint(path, model, prep.header)
    windows = {k: v[:24] for k, v in prep.fit.inputs.items()}  # the first windows are padded
    return path, windows


def torch_outputs(path: Path, windows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    model, _ = load_checkpoint(path)
    with torch.no_grad():
        out = model({k: torch.from_numpy(v) for k, v in windows.items()})
    return {k: v.numpy() for k, v in out.items()}


def probabilities(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_fp32_graph_matches_pytorch_at_any_batch_size(pump) -> None:
    path, windows = pump
    model, header = load_checkpoint(path)
    predictor = OnnxPredictor(onnx_graph(model, header), "pump.onnx")
    ref = torch_outputs(path, windows)
    assert not windows["vibration_mask"].all()  # padded windows are among them
    for size in (1, 5, 24):
        part = {k: v[:size] for k, v in windows.items()}
        got = predictor.run(part)
        for name in ("fault", "rul"):
            np.testing.assert_allclose(got[name], ref[name][:size], rtol=1e-4, atol=1e-5)
        assert got["expert_load"].shape == (size, 1, model.config.n_routed_experts)
    # decoded the same way as the checkpoint: probabilities and the calibrated RUL summary
    a = Predictor(model, header, "pt").predict(windows)
    b = predictor.predict(windows)
    assert a.fault is not None and b.fault is not None and a.rul is not None and b.rul is not None
    np.testing.assert_allclose(b.fault, a.fault, rtol=1e-4, atol=1e-6)
    for key in ("median", "lower", "upper", "mean"):
        np.testing.assert_allclose(b.rul[key], a.rul[key], rtol=1e-4, atol=1e-3)
    assert len(set(np.round(a.fault[:, 0], 4))) > 5  # the windows' outputs differ: a real check


def test_each_rows_expert_load_is_that_of_a_batch_of_one(pump) -> None:
    path, windows = pump
    model, header = load_checkpoint(path)
    rows = OnnxPredictor(onnx_graph(model, header), "pump.onnx").run(windows)["expert_load"]
    for i in (0, 7, 20):
        with torch.no_grad():
            model({k: torch.from_numpy(v[i : i + 1]) for k, v in windows.items()})
        np.testing.assert_allclose(rows[i], np.stack(model.expert_load()), atol=1e-6)


def test_the_file_carries_its_header_and_checks(pump, tmp_path: Path) -> None:
    path, _ = pump
    out = tmp_path / "pump.onnx"
    assert main(["export", "--model", str(path), "--format", "onnx", "--out", str(out)]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    header = json.loads(meta["phm.header"])
    _, ckpt_header = load_checkpoint(path)
    assert header["classes"] == list(ckpt_header.classes)
    assert header["rul_unit"] == "hours" and header["snapshots"] == 3
    np.testing.assert_allclose(header["feature_scale"], ckpt_header.feature_scale, rtol=1e-6)
    loaded = OnnxPredictor.load(out, "plant")  # usable alone: no checkpoint needed
    assert loaded.header.samples == 256 and loaded.precision == "fp32"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"


def test_int8_stays_within_its_tolerance_of_fp32(pump) -> None:
    path, windows = pump
    model, header = load_checkpoint(path)
    fp32 = onnx_graph(model, header)
    calibration, source = calibration_windows(header, pumps=2, most=64)
    assert "fit pumps" in source
    int8, kept = quantise_int8(fp32, model, header, calibration)
    proto = onnx.load_from_string(int8)
    assert any(n.op_type == "DequantizeLinear" for n in proto.graph.node)
    quantised = {n.input[0] for n in proto.graph.node if n.op_type == "QuantizeLinear"}
    assert quantised and all("/ffn/gate/" not in name for name in quantised)
    assert kept == fp32_nodes(onnx.load_from_string(fp32))
    a = OnnxPredictor(fp32, "a.onnx").run(windows)
    b = OnnxPredictor(int8, "b.onnx").run(windows)
    assert OnnxPredictor(int8, "b.onnx").precision == "int8"
    diff = np.abs(probabilities(a["fault"]) - probabilities(b["fault"]))
    assert 0 < diff.max() < INT8_PROB_TOL


def test_bad_input_is_named(pump, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, _ = pump
    assert main(["export", "--model", str(path), "--out", str(tmp_path / "x.pt")]) == 2
    assert "--out" in capsys.readouterr().err
    junk = tmp_path / "junk.onnx"
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])), str(junk))
    with pytest.raises(ConfigError, match="phm export"):
        OnnxPredictor.load(junk)
    with pytest.raises(ConfigError, match="not found"):
        OnnxPredictor.load(tmp_path / "missing.onnx")
