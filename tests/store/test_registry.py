"""The store's model registry: versions, the active pointer, activation and rollback."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from phm.cli import main
from phm.models.checkpoint import CheckpointHeader
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.store.registry import ModelRegistry, RegistryError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "phm" / "configs" / "models" / "tiny.toml"


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    cfg = dataclasses.replace(load_config(TINY), process_channels=2, max_positions=4)
    path = tmp_path / "model.pt"
    save_checkpoint(path, PhmModel(cfg), CheckpointHeader(dataset="lake", asset_type="pump"))
    return path


def test_first_version_is_active_later_ones_wait_and_rollback_is_a_stack(
    tmp_path: Path, checkpoint: Path
) -> None:
    reg = ModelRegistry(tmp_path / "store")
    assert reg.versions() == [] and reg.active() is None
    v1 = reg.register(checkpoint, "test one", {"test": {"fault": {"accuracy": 0.5}}})
    assert (v1.version, v1.parent, reg.active()) == ("v0001", None, "v0001")
    v2 = reg.register(checkpoint, "test two")
    v3 = reg.register(checkpoint, "test three")
    assert (v2.version, v2.parent, reg.active()) == ("v0002", "v0001", "v0001")
    assert v3.checkpoint == tmp_path / "store" / "models" / "pump" / "v0003" / "model.pt"
    meta = json.loads((v1.path / "meta.json").read_text())
    assert meta["dataset"] == "lake" and meta["metrics"]["test"]["fault"]["accuracy"] == 0.5
    assert meta["source"] == "test one" and len(meta["sha256"]) == 64
    reg.activate("v0002")
    reg.activate("v0003")
    assert reg.rollback().version == "v0002" and reg.active() == "v0002"
    assert reg.rollback().version == "v0001" and reg.active() == "v0001"
    with pytest.raises(RegistryError, match="no earlier active version"):
        reg.rollback()
    assert [e["action"] for e in reg.activations()] == ["activate"] * 3 + ["rollback"] * 2


def test_unknown_broken_or_altered_checkpoints_are_refused(
    tmp_path: Path, checkpoint: Path
) -> None:
    reg = ModelRegistry(tmp_path / "store")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RegistryError, match=r"bad\.pt: not a loadable checkpoint"):
        reg.register(bad, "broken")
    assert reg.versions() == []
    reg.register(checkpoint, "one")
    v2 = reg.register(checkpoint, "two")
    with pytest.raises(RegistryError, match=r"no version 'v0009' \(registered: v0001, v0002\)"):
        reg.activate("v0009")
    v2.checkpoint.write_bytes(v2.checkpoint.read_bytes()[:-10])  # truncated on disk
    with pytest.raises(RegistryError, match="checksum differs"):
        reg.activate("v0002")
    assert reg.active() == "v0001"


def test_models_cli_lists_activates_and_rolls_back(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    reg = ModelRegistry(store)
    reg.register(checkpoint, "one", {"test": {"fault": {"accuracy": 0.75, "macro_f1": 0.5}}})
    assert main(["models", "register", str(checkpoint), "--store", str(store)]) == 0
    assert "v0002: registered, not active (dataset lake)" in capsys.readouterr().out
    assert reg.get("v0002").source == f"phm models register {checkpoint}"
    assert main(["models", "activate", "v0002", "--store", str(store)]) == 0
    assert reg.active() == "v0002"
    capsys.readouterr()
    assert main(["models", "list", "--store", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  v0001") and "test accuracy 0.750, macro-F1 0.500" in lines[1]
    assert lines[2].startswith("* v0002") and "parent v0001" in lines[2]
    assert main(["models", "rollback", "--store", str(store)]) == 0
    assert reg.active() == "v0001"
    assert main(["models", "rollback", "--store", str(store)]) == 2  # nothing before v0001
    assert "no earlier active version" in capsys.readouterr().err
