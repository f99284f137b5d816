"""`phm demo` end to end: embedded broker, simulator, ingest and monitor in one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from phm.store.state import StateStore
from tests.demo_models import place_demo_models

ROOT = Path(__file__).parents[1]


def test_live_demo_ingests_scores_and_stops_by_itself(tmp_path: Path) -> None:
    place_demo_models(tmp_path)  # the demo skips its first-start training
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
    assert any(a.startswith("pump-") for a in scored)
    assert any(a.startswith("ion_mill-") for a in scored)  # every asset type is scored
    assert (tmp_path / "live" / "truth.jsonl").read_text().count("\n") >= 8


def test_a_cached_model_of_an_older_checkpoint_format_is_set_aside_for_retraining(tmp_path):
    import torch

    from phm.demo import _cached

    old = tmp_path / "pump.pt"
    torch.save({"config": {}, "state_dict": {}, "extra": {"dataset": "plant"}}, old)
    assert not _cached(old)  # the demo then trains a new one under the same name
    assert not old.exists() and (tmp_path / "pump.old-format").exists()
    assert not _cached(tmp_path / "missing.pt")


def test_services_priority_idle_reaches_the_threads_started_after_it() -> None:
    """`--services-priority idle`: the simulator, ingest and monitor threads (started after
    lower_priority) run on SCHED_IDLE at nice 19; the thread that set it up elsewhere keeps
    its own priority (priorities are per thread on Linux)."""
    import os
    import threading

    from phm.demo import lower_priority

    seen: dict[str, int] = {}

    def service() -> None:
        seen["policy"] = os.sched_getscheduler(0)
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, 0)

    def demo_main() -> None:
        lower_priority("idle")
        worker = threading.Thread(target=service)
        worker.start()
        worker.join()

    before = os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)
    main = threading.Thread(target=demo_main)
    main.start()
    main.join()
    assert seen == {"policy": os.SCHED_IDLE, "nice": min(before[1] + 19, 19)}
    assert (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)) == before
