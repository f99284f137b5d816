"""`phm kg check|export|explain`."""

from __future__ import annotations

import pytest

from phm.cli import main
from phm.store.state import Prediction, StateStore


def test_check_ok_and_bad_file_exits_2_naming_the_edge(tmp_path, capsys):
    assert main(["kg", "check", "phm/configs/kg/turbofan.yaml"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - {id: c, type: cause, to: {ghost: 0.5}}\n")
    assert main(["kg", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "c -> ghost" in err and str(bad) in err


def test_export_writes_the_file(tmp_path):
    out = tmp_path / "g.cypher"
    assert (
        main(["kg", "export", "--graph", "turbofan", "--format", "cypher", "--out", str(out)]) == 0
    )
    assert out.read_text().count("CREATE (:") > 10


def test_explain_prints_ranked_causes_of_the_open_alert(tmp_path, capsys):
    with StateStore(tmp_path / "state.sqlite") as state:
        probs = {"healthy": 0.05, "outer_race": 0.9, "inner_race": 0.05}
        state.write_prediction(Prediction("pump-001", 100.0, "m", probs, 10.0, 5.0, 20.0, 0.05))
        state.open_alert(
            "pump-001",
            "condition",
            "alarm",
            "alarm: outer_race",
            {"fault_probs": probs, "symptoms": {"oil.particles": 0.95}},
            at=100.0,
        )
    assert main(["kg", "explain", "--asset", "pump-001", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1. contamination" in out
    assert "outer-race spall" in out and "do:" in out
    assert main(["kg", "explain", "--asset", "pump-404", "--store", str(tmp_path)]) == 2


@pytest.mark.parametrize("argv", [["kg", "explain", "--asset", "x"], ["kg", "export"]])
def test_missing_flags_are_errors(argv):
    assert main(argv) == 2


def test_explain_with_a_fault_history_reorders_the_causes(tmp_path, capsys):
    with StateStore(tmp_path / "state.sqlite") as state:
        probs = {"healthy": 0.05, "outer_race": 0.9, "inner_race": 0.05}
        state.write_prediction(Prediction("pump-001", 100.0, "m", probs, 10.0, 5.0, 20.0, 0.05))
    history = tmp_path / "history.csv"
    rows = [f"pump-{k:03d},2025-0{1 + k % 9}-11,brinelling from shipping" for k in range(60)]
    history.write_text("asset,failed_at,cause\n" + "\n".join(rows) + "\n")
    argv = ["kg", "explain", "--asset", "pump-001", "--store", str(tmp_path)]
    assert main(argv) == 0
    assert "1. brinelling" not in capsys.readouterr().out
    assert main([*argv, "--history", str(history)]) == 0
    assert "1. brinelling from shipping" in capsys.readouterr().out
    history.write_text("asset,failed_at,cause\npump-001,2025-01-01,gremlins\n")
    assert main([*argv, "--history", str(history)]) == 2
    err = capsys.readouterr().err
    assert f"{history}:2" in err and "'gremlins'" in err


def test_explain_and_the_dashboard_read_while_ingest_holds_the_write_lock(tmp_path, capsys):
    """Both once opened the state store with a schema write and failed with "database is
    locked" while a writer held the lock; they now open it read-only."""
    import sqlite3
    import time

    from phm.dashboard.queries import fleet, open_store

    with StateStore(tmp_path / "state.sqlite") as state:
        probs = {"healthy": 0.1, "outer_race": 0.9}
        state.write_prediction(Prediction("pump-001", 100.0, "m", probs, 10.0, 5.0, 20.0, 0.1))
        state.open_alert("pump-001", "condition", "alarm", "alarm", {"fault_probs": probs})
    holder = sqlite3.connect(tmp_path / "state.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert main(["kg", "explain", "--asset", "pump-001", "--store", str(tmp_path)]) == 0
        assert "pump-001" in capsys.readouterr().out
        assert fleet(open_store(tmp_path)).height >= 1
        assert time.monotonic() - started < 5.0  # a writer's busy timeout alone is 10 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
