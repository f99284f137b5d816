"""Dynamic batching in the monitor: one forward pass for the due assets gives the predictions of
one pass each; max_batch and the latency bound cut the batches; a bad asset stays alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phm.bench.monitor import pump_plant, write_fleet
from phm.errors import ConfigError
from phm.models.model import save_checkpoint
from phm.models.onnx_graph import OnnxPredictor
from phm.monitor.batching import BatchPolicy, score_due
from phm.monitor.cli import load_scoring_model
from phm.monitor.pump_scorer import PumpScorer
from phm.monitor.scorer import Monitor
from phm.monitor.scorers import ScoringModel
from phm.store.lake import Lake
from phm.store.registry import ModelRegistry
from phm.store.state import Prediction, StateStore
from tests.demo_models import random_tiny_pump

N_PUMPS = 7


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pump checkpoint with random weights (its outputs differ between pumps)."""
    model, prep = random_tiny_pump(seed=1)
    path = tmp_path_factory.mktemp("ckpt") / "pump.pt"
    save_checkpoint(path, model, prep.header)
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A store of N_PUMPS pumps, each with its latest 3 snapshots and rows in the lake."""
    root = tmp_path_factory.mktemp("fleet")
    plant = pump_plant(N_PUMPS, root)
    write_fleet(root / "lake", plant, 3, 4)
    StateStore(root / "state.sqlite").register_assets(plant)
    return root, plant


def scorer_of(fleet, model) -> PumpScorer:
    root, plant = fleet
    return PumpScorer("pump", plant, Lake(root / "lake", plant), model)


def assert_same(a: Prediction, b: Prediction) -> None:
    assert a.asset_id == b.asset_id and a.time == b.time
    assert list(a.fault_probs) == list(b.fault_probs)
    np.testing.assert_allclose(
        list(a.fault_probs.values()), list(b.fault_probs.values()), atol=1e-6
    )
    for x, y in ((a.rul_median, b.rul_median), (a.rul_lower, b.rul_lower)):
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            assert x == pytest.approx(y, abs=1e-4)
    assert a.health == pytest.approx(b.health, abs=1e-6)
    np.testing.assert_allclose(a.expert_load, b.expert_load, atol=1e-6)
    assert a.details == b.details  # top mode, ISO 20816 velocity and zone


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_batched_predictions_are_those_of_one_at_a_time(fleet, checkpoint, runtime) -> None:
    model = (
        OnnxPredictor.from_checkpoint(checkpoint)
        if runtime == "onnx"
        else ScoringModel.load(checkpoint)
    )
    scorer = scorer_of(fleet, model)
    ids = sorted(fleet[1].assets)
    one = {a: scorer.score(a, -np.inf) for a in ids}
    batched = score_due(scorer, ids, {}, BatchPolicy(max_batch=4, max_wait_s=10.0))
    assert sorted(batched) == ids
    for a in ids:
        assert isinstance(batched[a], Prediction)
        assert_same(one[a], batched[a])  # type: ignore[arg-type]
    assert len({round(p.fault_probs["healthy"], 5) for p in one.values()}) > 1
    # nothing newer than the last prediction: nothing to score, in both ways
    after = {a: p.time for a, p in one.items()}  # type: ignore[union-attr]
    assert set(score_due(scorer, ids, after, BatchPolicy()).values()) == {None}


def test_onnx_runtime_scores_like_the_checkpoint(fleet, checkpoint) -> None:
    ids = sorted(fleet[1].assets)
    torch_scorer = scorer_of(fleet, ScoringModel.load(checkpoint))
    onnx_scorer = scorer_of(fleet, OnnxPredictor.from_checkpoint(checkpoint))
    for a in ids[:3]:
        p, q = torch_scorer.score(a, -np.inf), onnx_scorer.score(a, -np.inf)
        assert p is not None and q is not None
        for c in p.fault_probs:
            assert q.fault_probs[c] == pytest.approx(p.fault_probs[c], rel=1e-4, abs=1e-6)
        assert q.rul_median == pytest.approx(p.rul_median, rel=1e-4, abs=1e-3)


def count_passes(model) -> list[int]:
    """Batch sizes of the model's forward passes, recorded from now on."""
    sizes: list[int] = []
    predict = model.predict

    def counted(inputs, *args, **kwargs):
        sizes.append(len(inputs["vibration"]))
        return predict(inputs, *args, **kwargs)

    model.predict = counted
    return sizes


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (BatchPolicy(max_batch=3, max_wait_s=10.0), [3, 3, 1]),
        (BatchPolicy(max_batch=64, max_wait_s=10.0), [N_PUMPS]),
        (BatchPolicy(max_batch=64, max_wait_s=0.0), [1] * N_PUMPS),  # never waits for more
    ],
)
def test_max_batch_and_latency_bound_cut_the_batches(fleet, checkpoint, policy, expected) -> None:
    model = ScoringModel.load(checkpoint)
    scorer = scorer_of(fleet, model)
    sizes = count_passes(model)
    out = score_due(scorer, sorted(fleet[1].assets), {}, policy)
    assert sizes == expected
    assert all(isinstance(p, Prediction) for p in out.values())


def test_a_bad_asset_does_not_stop_its_batch(fleet, checkpoint, monkeypatch) -> None:
    scorer = scorer_of(fleet, ScoringModel.load(checkpoint))
    ids = sorted(fleet[1].assets)
    prepare, finish = scorer.prepare, scorer.finish

    def bad_prepare(asset_id: str, after: float):
        if asset_id == ids[1]:
            raise ValueError("corrupt segment")
        return prepare(asset_id, after)

    def bad_finish(window, out, row, load, velocity=None):
        if window.asset_id == ids[4]:
            raise ValueError("bad row")
        return finish(window, out, row, load, velocity)

    monkeypatch.setattr(scorer, "prepare", bad_prepare)
    monkeypatch.setattr(scorer, "finish", bad_finish)
    out = score_due(scorer, ids, {}, BatchPolicy(max_batch=64, max_wait_s=10.0))
    assert isinstance(out[ids[1]], ValueError) and isinstance(out[ids[4]], ValueError)
    good = [a for a in ids if a not in (ids[1], ids[4])]
    assert all(isinstance(out[a], Prediction) for a in good)


def test_monitor_batches_by_default_and_writes_every_pump(fleet, checkpoint, tmp_path) -> None:
    root, plant = fleet
    (tmp_path / "lake").symlink_to(root / "lake")
    StateStore(tmp_path / "state.sqlite").register_assets(plant)
    default = Monitor(tmp_path, plant, ScoringModel.load(checkpoint)).batching
    assert default is not None and default.max_batch > 1
    # a wait bound longer than the test: one pass however slow the machine is
    policy = BatchPolicy(max_batch=64, max_wait_s=60.0)
    monitor = Monitor(tmp_path, plant, ScoringModel.load(checkpoint), batching=policy)
    sizes = count_passes(monitor.scorers["pump"].model)
    preds = monitor.evaluate(now=2e9)
    assert sorted(p.asset_id for p in preds) == sorted(plant.assets)
    assert sizes == [N_PUMPS]
    assert len(StateStore(tmp_path / "state.sqlite").latest_predictions()) == N_PUMPS


def test_runtime_and_model_file_must_agree(checkpoint, tmp_path) -> None:
    with pytest.raises(ConfigError, match="--runtime onnx"):
        load_scoring_model(checkpoint, "onnx")
    with pytest.raises(ConfigError, match="add --runtime onnx"):
        load_scoring_model(tmp_path / "pump.onnx", "torch")
    with pytest.raises(ValueError, match="max_batch"):
        BatchPolicy(max_batch=0)


def test_onnx_runtime_converts_a_registry_version_when_swapped_in(
    fleet, checkpoint, tmp_path
) -> None:
    root, plant = fleet
    (tmp_path / "lake").symlink_to(root / "lake")
    StateStore(tmp_path / "state.sqlite").register_assets(plant)
    ModelRegistry(tmp_path, "pump").register(checkpoint, "test")  # v0001, active
    monitor = Monitor(tmp_path, plant, None, load_model=OnnxPredictor.from_checkpoint)
    model = monitor.scorers["pump"].model
    assert isinstance(model, OnnxPredictor) and model.name == "pump/v0001:tiny"
    preds = monitor.evaluate(now=2e9)
    assert len(preds) == N_PUMPS and {p.model for p in preds} == {"pump/v0001:tiny"}
