"""The state store against a real SQLite file in tmp_path, and (the tests taking `state_at`)
against a real PostgreSQL server too."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from phm.errors import PhmError
from phm.plant import load_plant
from phm.store.lake import Lake, LakeWriter, Segment, compact
from phm.store.state import DeadLetter, Prediction, StateStore, UnknownAlertError
from phm.wire.codec import Batch

PLANT = load_plant()
T0 = 1_772_366_400.0  # 2026-03-01 12:00 UTC


def batch(seq: int, t0: float = T0, n: int = 5) -> Batch:
    spec = PLANT.stream("pump-001", "process")
    values = np.full((n, len(spec.channels)), seq, np.float32)
    return Batch("pump-001", "process", seq, t0, 1.0, spec.channels, values)


def seg(path: str, rows: int = 1) -> Segment:
    return Segment(path, "process", "pump-001", rows, T0, T0 + rows)


def test_schema_pragmas_and_assets(tmp_path):
    store = StateStore(tmp_path / "state.db")
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables >= {
        "assets",
        "segments",
        "ingest_seen",
        "dead_letters",
        "counters",
        "predictions",
        "alerts",
        "acknowledgements",
    }
    assert store._conn().execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.register_assets(PLANT)
    store.register_assets(PLANT)  # upsert: no duplicates, no error
    assets = store.assets()
    assert len(assets) == 8
    assert ("pump-001", "pump", "site1", "line1") in assets


def test_commit_ingest_and_seen(tmp_path, state_at):
    store = StateStore(state_at)
    keys = [("pump-001", "process", 1_000_000 + k) for k in range(3000)]
    dead = DeadLetter(T0, "phm/v1/site1/line1/pump-009/process", "unknown_asset", "x", b"\x00ab")
    store.commit_ingest(
        [seg("process/asset=pump-001/date=2026-03-01/part-a.parquet", 7)],
        keys[::2],
        [dead],
        {"messages": 5, "dead": 1},
    )
    store.commit_ingest([], keys[:2], [], {"messages": 2})  # a seen key again is no error
    got = store.seen([*keys, ("pump-002", "process", 1_000_000)])
    assert got == set(keys[::2]) | {keys[1]}
    assert store.counters() == {"dead": 1, "messages": 7}
    (letter,) = store.dead_letters()
    assert letter == dead and isinstance(letter.payload, bytes)
    assert store.segment_paths() == {"process/asset=pump-001/date=2026-03-01/part-a.parquet"}


def test_commit_ingest_is_atomic(tmp_path, state_at):
    store = StateStore(state_at)
    store.commit_ingest([], [("pump-001", "process", 1)], [], {"messages": 1})
    dup = "process/asset=pump-001/date=2026-03-01/part-x.parquet"
    dead = DeadLetter(T0, "t", "bad_frame", "d", b"")
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_ingest(
            [seg(dup), seg(dup)], [("pump-001", "process", 2)], [dead], {"messages": 10}
        )
    assert store.counters() == {"messages": 1}
    assert store.seen([("pump-001", "process", 2)]) == set()
    assert store.dead_letters() == []
    assert store.segment_paths() == set()
    # the connection is usable again after the rollback
    store.commit_ingest([seg(dup)], [], [], {"messages": 1})
    assert store.counters() == {"messages": 2}


def test_orphan_segments(tmp_path, state_at):
    root = tmp_path / "lake"
    store = StateStore(state_at)
    writer = LakeWriter(root, PLANT)
    committed = writer.write([batch(1)])
    store.commit_ingest(committed, [("pump-001", "process", 1)])
    (orphan,) = writer.write([batch(2, T0 + 100)])  # the worker died before its commit
    tmp = orphan.path.parent / ".part-0123.parquet.tmp"
    tmp.write_bytes(b"partial")
    assert store.orphan_segments(root) == sorted([orphan.path, tmp])


def test_compaction_keeps_state_in_step(tmp_path, state_at):
    root = tmp_path / "lake"
    store = StateStore(state_at)
    writer = LakeWriter(root, PLANT)
    for s in range(3):
        store.commit_ingest(writer.write([batch(s, T0 + 10 * s)]), [])
    new = compact(root, "process", "pump-001", "2026-03-01", on_commit=store.replace_segments)
    assert store.orphan_segments(root) == []
    assert len(store.segment_paths()) == 1 and new.name in next(iter(store.segment_paths()))
    assert Lake(root, PLANT).read_rows("process", "pump-001").height == 15


def test_wal_reader_during_open_write_transaction(tmp_path):
    writer = StateStore(tmp_path / "state.db")
    reader = StateStore(tmp_path / "state.db")
    writer.commit_ingest([], [], [], {"messages": 1})
    with writer.transaction() as conn:
        conn.execute("UPDATE counters SET value = 99 WHERE name = 'messages'")
        # the reader is neither blocked nor sees uncommitted data
        assert reader.counters() == {"messages": 1}
        done = []
        t = threading.Thread(target=lambda: done.append(reader.counters()))
        t.start()
        t.join(5)
        assert done == [{"messages": 1}]  # another thread of the same object: its own conn
    assert reader.counters() == {"messages": 99}


def test_predictions(tmp_path, state_at):
    store = StateStore(state_at)

    def pred(asset, t, rul):
        return Prediction(
            asset,
            t,
            "v1",
            {"normal": 0.9, "inner_race": 0.1},
            rul,
            rul - 5,
            rul + 5,
            0.8,
            [[0.5, 0.5]],
            {"window": 60},
        )

    for t, rul in ((T0, 100.0), (T0 + 60, 90.0), (T0 + 30, 95.0)):
        store.write_prediction(pred("pump-001", t, rul))
    store.write_prediction(pred("pump-002", T0, 50.0))
    latest = store.latest_predictions()
    assert [(p.asset_id, p.time, p.rul_median) for p in latest] == [
        ("pump-001", T0 + 60, 90.0),
        ("pump-002", T0, 50.0),
    ]
    assert latest[0] == pred("pump-001", T0 + 60, 90.0)
    assert [p.time for p in store.predictions("pump-001")] == [T0, T0 + 30, T0 + 60]
    assert [p.time for p in store.predictions("pump-001", start=T0 + 30)] == [T0 + 30, T0 + 60]


def test_alert_lifecycle_and_acknowledgement(tmp_path, state_at):
    store = StateStore(state_at)
    a = store.open_alert("pump-001", "bearing", "watch", "BPFO rising", {"p": 0.6}, at=T0)
    b = store.open_alert("pump-002", "rul", "alarm", "RUL < 24 h", at=T0)
    assert [x.alert_id for x in store.alerts(status="open")] == [a, b]
    store.acknowledge(a, "ana", "checking the bearing", at=T0 + 10)
    store.update_alert(a, message="BPFO still rising", at=T0 + 20)  # stays acknowledged
    (alert,) = store.alerts(asset="pump-001")
    assert (alert.status, alert.severity, alert.message) == (
        "acknowledged",
        "watch",
        "BPFO still rising",
    )
    assert alert.details == {"p": 0.6} and alert.updated_at == T0 + 20
    assert [(k.by, k.note, k.at) for k in alert.acknowledgements] == [
        ("ana", "checking the bearing", T0 + 10)
    ]
    store.update_alert(a, severity="alarm", details={"p": 0.9}, at=T0 + 30)  # escalation
    (alert,) = store.alerts(asset="pump-001")
    assert (alert.status, alert.severity, alert.details) == ("open", "alarm", {"p": 0.9})
    store.clear_alert(a, at=T0 + 40)
    (alert,) = store.alerts(status="cleared")
    assert (alert.alert_id, alert.cleared_at) == (a, T0 + 40)
    assert [x.alert_id for x in store.alerts(status="open")] == [b]
    with pytest.raises(ValueError, match="cleared"):
        store.update_alert(a, message="again")


@pytest.mark.parametrize(
    ("by", "note", "field"), [("", "n", "by"), ("ana", "  ", "note"), (None, "n", "by")]
)
def test_acknowledge_requires_by_and_note(tmp_path, by, note, field, state_at):
    store = StateStore(state_at)
    a = store.open_alert("pump-001", "bearing", "watch", "m", at=T0)
    with pytest.raises(ValueError, match=f"'{field}'"):
        store.acknowledge(a, by, note)
    assert store.alerts()[0].status == "open" and store.alerts()[0].acknowledgements == []


def test_unknown_alert_and_bad_severity(tmp_path, state_at):
    store = StateStore(state_at)
    with pytest.raises(UnknownAlertError, match="no alert with id 42") as info:
        store.acknowledge(42, "ana", "note")
    assert isinstance(info.value, PhmError) and isinstance(info.value, KeyError)
    with pytest.raises(KeyError):
        store.clear_alert(42)
    with pytest.raises(ValueError, match="severity 'critical'"):
        store.open_alert("pump-001", "bearing", "critical", "m")


def test_writer_commits_while_a_reader_holds_a_snapshot(tmp_path):
    # WAL only: with a rollback journal the commit would wait for the reader (busy_timeout)
    writer = StateStore(tmp_path / "state.db")
    reader = StateStore(tmp_path / "state.db")
    writer.commit_ingest([], [], [], {"messages": 1})
    conn = reader._conn()
    conn.execute("BEGIN")
    assert conn.execute("SELECT value FROM counters").fetchone()[0] == 1
    writer.commit_ingest([], [], [], {"messages": 1})
    assert conn.execute("SELECT value FROM counters").fetchone()[0] == 1  # its snapshot
    conn.execute("COMMIT")
    assert reader.counters() == {"messages": 2}


def test_readers_open_read_only_while_a_writer_holds_the_lock(tmp_path):
    """The dashboard, reports and `phm kg explain` open with readonly=True: no schema write,
    so a writer holding BEGIN IMMEDIATE (ingest mid-commit) never makes them wait or fail."""
    path = tmp_path / "state.sqlite"
    StateStore(path).commit_ingest([], [], [], {"ingest_messages": 3})
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        reader = StateStore(path, readonly=True)
        assert reader.counters() == {"ingest_messages": 3}
        assert reader.alerts() == [] and reader.latest_predictions() == []
        assert time.monotonic() - started < 2.0  # the writer's busy timeout is 10 s
        with pytest.raises(PhmError, match="read-only"):
            reader.acknowledge(1, "op", "note")
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            reader._conn().execute("DELETE FROM counters")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with pytest.raises(PhmError, match="no state store"):
        StateStore(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_an_older_file_gets_the_new_columns(tmp_path):
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE ingest_seen (asset TEXT NOT NULL, stream TEXT NOT NULL, "
            "seq BIGINT NOT NULL, PRIMARY KEY (asset, stream, seq))"
        )
        conn.execute(
            "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, received_at REAL NOT NULL, "
            "topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB)"
        )
        conn.execute("INSERT INTO ingest_seen VALUES ('pump-001', 'process', 5)")
        conn.execute("INSERT INTO dead_letters VALUES (1, 1.0, 't', 'bad_frame', '', x'00ff')")
    state = StateStore(path)
    assert state.seen_digests([("pump-001", "process", 5)]) == {("pump-001", "process", 5): None}
    (letter,) = state.dead_letters()
    assert letter.payload == b"\x00\xff" and letter.size == 2 and not letter.truncated
