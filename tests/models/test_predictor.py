"""The typed checkpoint header and the Predictor that decodes a checkpoint's outputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from phm.errors import ConfigError
from phm.models.checkpoint import FORMAT_VERSION, CheckpointFormatError, CheckpointHeader
from phm.models.heads import hazard_survival, survival_quantile
from phm.models.model import PhmModel, load_checkpoint, load_config, save_checkpoint
from phm.models.predictor import Predictor

TINY = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"
CLASSES = ("healthy", "bearing", "misalignment", "cavitation")


def model() -> PhmModel:
    torch.manual_seed(5)
    cfg = dataclasses.replace(
        load_config(TINY),
        process_channels=3,
        vibration_channels=2,
        context_cardinalities=(),
        n_classes=4,
        n_fault_modes=3,
        max_positions=4,
        rul_horizon=200.0,
        ttf_horizon=7200.0,
    )
    return PhmModel(cfg).eval()


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    mask = np.ones((2, 4), bool)
    mask[1, :2] = False
    return {
        "process": rng.normal(size=(2, 4, 3)).astype(np.float32),
        "process_mask": mask,
        "vibration": rng.normal(size=(2, 4, 2, 64)).astype(np.float32),
        "vibration_mask": mask.copy(),
    }


def header(**changes: object) -> CheckpointHeader:
    base = CheckpointHeader(
        dataset="plant",
        asset_type="pump",
        classes=CLASSES,
        channels=("a", "b", "c"),
        feature_mean=np.array([1.0, 2.0, 3.0], np.float32),
        feature_scale=np.array([0.5, 1.5, 2.5], np.float32),
        snapshots=4,
        samples=64,
        rul_unit="hours",
        rul_unit_s=3600.0,
        rul_horizon=200.0,
        training={"seed": 3, "val_units": [1, 2]},
    )
    return dataclasses.replace(base, **changes)


def test_header_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    saved = header(condition_centres=np.arange(6.0).reshape(2, 3), subset="FD001", rul_cap=125.0)
    save_checkpoint(path, model(), saved)
    _, got = load_checkpoint(path)
    assert got.format_version == FORMAT_VERSION == 2
    for f in dataclasses.fields(CheckpointHeader):
        a, b = getattr(saved, f.name), getattr(got, f.name)
        if isinstance(a, np.ndarray):
            assert b.dtype == a.dtype
            np.testing.assert_array_equal(b, a)
        else:
            assert a == b, f.name
    assert isinstance(got.classes, tuple) and isinstance(got.channels, tuple)


def test_old_checkpoint_without_header_is_refused_clearly(tmp_path: Path) -> None:
    m = model()
    path = tmp_path / "old.pt"
    torch.save(
        {
            "format": 1,
            "config": dataclasses.asdict(m.config),
            "state_dict": m.state_dict(),
            "extra": {"dataset": "plant", "classes": list(CLASSES)},
        },
        path,
    )
    with pytest.raises(CheckpointFormatError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert str(path) in text and "format 1" in text and "phm train" in text
    with pytest.raises(CheckpointFormatError, match="format 1"):
        Predictor.load(path)


def test_checkpoint_of_another_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.pt"
    save_checkpoint(path, model(), header())
    state = torch.load(path, weights_only=True)
    state["format"] = 3
    torch.save(state, path)
    with pytest.raises(CheckpointFormatError, match=r"new\.pt: checkpoint format 3.*phm train"):
        load_checkpoint(path)


def test_predictor_decodes_as_the_scorers_did(tmp_path: Path) -> None:
    """Predictor's numbers equal the scorers' former hand decoding on a fixed input: the pump
    scorer's softmax and RUL summary, the ion mill scorer's TTF quantiles per mode."""
    path = tmp_path / "m.pt"
    save_checkpoint(path, model(), header())
    predictor = Predictor.load(path, dataset="plant")
    x = inputs()
    got = predictor.predict(x)
    m = model()  # the same weights, decoded by hand as phm/monitor did before
    with torch.no_grad():
        out = m({k: torch.from_numpy(v) for k, v in x.items()})
        probs = out["fault"].float().softmax(-1).numpy()
        rul = {k: v.numpy() for k, v in m.rul.summary(out["rul"]).items()}
        surv = hazard_survival(out["ttf"])
        grid = m.ttf.grid
        median = survival_quantile(surv, grid, 0.5).numpy()
        lower = survival_quantile(surv, grid, 0.05).numpy()
        upper = survival_quantile(surv, grid, 0.95).numpy()
        no_fault = surv[:, :, -1].numpy()
        official = m.ttf.predict(out["ttf"]).numpy()
    np.testing.assert_array_equal(got.fault, probs)
    assert got.fault_probs(1) == {c: float(p) for c, p in zip(CLASSES, probs[1], strict=True)}
    assert got.rul is not None and got.ttf is not None
    for k in ("point", "median", "mean", "lower", "upper"):
        np.testing.assert_array_equal(got.rul[k], rul[k])
    np.testing.assert_array_equal(got.ttf["median"], median)
    np.testing.assert_array_equal(got.ttf["lower"], lower)
    np.testing.assert_array_equal(got.ttf["upper"], upper)
    np.testing.assert_array_equal(got.ttf["no_fault"], no_fault)
    np.testing.assert_array_equal(official, np.where(no_fault >= 0.5, np.nan, median))


def test_predictor_refuses_another_dataset_and_builds_pump_windows(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, model(), header())
    with pytest.raises(ConfigError, match=r"dataset 'plant'.*phm train --dataset phm2018"):
        Predictor.load(path, dataset="phm2018")
    predictor = Predictor.load(path)
    rng = np.random.default_rng(0)
    snaps = rng.normal(size=(2, 2, 100)).astype(np.float32)  # two snapshots, longer than samples
    rows = rng.normal(size=(2, 3)).astype(np.float32)
    got = predictor.pump_inputs(snaps, rows)
    assert got["vibration"].shape == (1, 4, 2, 64)
    assert got["vibration_mask"].tolist() == [[False, False, True, True]]
    np.testing.assert_allclose(got["process"][0, 2:], (rows - [1.0, 2.0, 3.0]) / [0.5, 1.5, 2.5])
