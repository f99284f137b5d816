"""`phm demo` end to end: embedded broker, simulator, ingest and monitor in one process."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

from phm.models.data import TrainConfig
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.models.prepare_plant import prepare_plant
from phm.store.state import StateStore

ROOT = Path(__file__).parents[1]


def test_live_demo_ingests_scores_and_stops_by_itself(tmp_path: Path) -> None:
    # a tiny pump checkpoint in place, so the demo skips its first-start training
    tcfg = TrainConfig(snapshots=3, snapshot=256)
    prep = prepare_plant(argparse.Namespace(pumps=3, test_pumps=0, plant=None), tcfg, 0)
    cfg = dataclasses.replace(load_config(ROOT / "configs/models/tiny.toml"), **prep.config_updates)
    (tmp_path / "models").mkdir()
    save_checkpoint(tmp_path / "models" / "pump.pt", PhmModel(cfg), prep.extra)
    done = subprocess.run(
        [sys.executable, "-m", "phm", "demo", "--store", str(tmp_path), "--duration", "12",
         "--speed", "20000", "--dashboard-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "embedded amqtt" in done.stdout
    state = StateStore(tmp_path / "live" / "state.sqlite")
    counters = state.counters()
    assert counters.get("ingest_readings", 0) > 100_000
    assert counters.get("dead_letters", 0) == 0
    scored = {p.asset_id for p in state.latest_predictions()}
    assert scored and all(a.startswith("pump-") for a in scored)
    assert (tmp_path / "live" / "truth.jsonl").read_text().count("\n") >= 8
