"""Lake compaction (phm.store.compaction) on real Parquet files and a real state store: the
file bound, size tiers, concurrent readers and writers, and a crash at every step."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.store import lake as lake_mod
from phm.store.compaction import compact_lake, plan_merge
from phm.store.lake import Lake, LakeWriter
from phm.store.state import StateStore, lake_key
from phm.wire.codec import Batch

PLANT = load_plant()
REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()
ROWS = ("pump-001", "process")


def rows_batch(seq: int, t0: float, n: int = 4, asset: str = "pump-001") -> Batch:
    spec = PLANT.stream(asset, "process")
    values = np.full((n, len(spec.channels)), seq % 1000, np.float32)
    return Batch(asset, "process", seq, t0, 1.0, spec.channels, values)


def wave_batch(seq: int, t0: float) -> Batch:
    spec = PLANT.stream("pump-001", "vibration")
    values = np.random.default_rng(seq).normal(size=(1, len(spec.channels), spec.samples))
    return Batch("pump-001", "vibration", seq, t0, 10.0, spec.channels, values.astype("f4"), 1e4)


def event_batch(seq: int, t0: float) -> Batch:
    empty = np.zeros((0, 0), np.float32)
    return Batch("pump-001", "event", seq, t0, 0.0, (), empty, event={"kind": "k", "n": seq})


def fill(store: Path, seqs: range, day_s: float = 0.0) -> None:
    """One committed segment per batch, as ingest writes them: rows, waveforms, events."""
    state = StateStore(store / "state.sqlite")
    writer = LakeWriter(store / "lake", PLANT)
    for s in seqs:
        t = T0 + day_s + 10 * s
        batches = [rows_batch(s, t), rows_batch(s, t, asset="pump-002")]
        batches += [wave_batch(s, t)] if s % 3 == 0 else [event_batch(s, t)]
        state.commit_ingest(writer.write(batches), [(b.asset, b.stream, b.seq) for b in batches])
    state.close()


def files_of(store: Path) -> list[Path]:
    return sorted((store / "lake").glob("*/asset=*/date=*/part-*.parquet"))


def check_exactly_once(store: Path, seqs: list[int]) -> None:
    """Every (stream, asset, seq, row) in one file only, readers see all, state == disk."""
    files = files_of(store)
    state = StateStore(store / "state.sqlite")
    try:
        assert {lake_key(f) for f in files} == state.segment_paths()
    finally:
        state.close()
    assert not list((store / "lake").rglob("*.tmp"))
    keys: Counter = Counter()
    for f in files:
        cols = ["seq"] if f.parts[-4] == "event" else ["seq", "row"]
        for r in pl.read_parquet(f, columns=cols).iter_rows():
            keys[(f.parts[-4], f.parts[-3], *r)] += 1
    assert not [k for k, n in keys.items() if n > 1]
    lake = Lake(store / "lake", PLANT)
    for asset in ("pump-001", "pump-002"):
        df = lake.read_rows("process", asset)
        assert sorted(set(df["seq"].to_list())) == sorted(seqs) and df.height == 4 * len(seqs)
    times, _fs, _data = lake.read_waveforms("pump-001")
    assert len(times) == len([s for s in seqs if s % 3 == 0])
    assert lake.read_events("pump-001").height == len([s for s in seqs if s % 3])


def restart_cleanup(store: Path) -> None:
    """What an ingest worker does when it starts: delete files `segments` does not list."""
    worker = IngestWorker("mqtt://127.0.0.1:1", store, PLANT, write_threads=1)
    worker._open_store()
    worker._state.close()


def test_plan_merge_is_size_tiered() -> None:
    p = [Path(f"f{i}") for i in range(40)]
    assert plan_merge({f: 10 for f in p[:16]}, max_files=16) == []  # within the bound
    equal = plan_merge({f: 10 for f in p[:17]}, max_files=16)
    assert len(equal) == 17  # equal sizes: all merge at once
    # a merged file joins only when the new small files add up to its size
    sizes = {p[0]: 1000, **{f: 10 for f in p[1:18]}}
    assert set(plan_merge(sizes, max_files=16)) == set(p[1:18])
    sizes = {p[0]: 150, **{f: 10 for f in p[1:18]}}
    assert set(plan_merge(sizes, max_files=16)) == set(p[:18])
    # final files (target_bytes or more) are never rewritten
    sizes = {**{f: 100 for f in p[:20]}, p[20]: 5, p[21]: 7}
    assert set(plan_merge(sizes, max_files=16, target_bytes=100)) == {p[20], p[21]}
    assert plan_merge({f: 100 for f in p[:20]}, max_files=16, target_bytes=100) == []


def test_compaction_bounds_files_per_partition_and_keeps_every_row_once(tmp_path) -> None:
    store = tmp_path / "store"
    fill(store, range(0, 60))
    fill(store, range(60, 90), day_s=86400.0)  # a second day
    before = len(files_of(store))
    state = StateStore(store / "state.sqlite")
    stats = compact_lake(state, store / "lake", max_files=4)
    assert stats.merges >= 8 and stats.conflicts == 0 and stats.files_in > before / 2
    check_exactly_once(store, list(range(90)))
    per_partition = Counter(f.parent for f in files_of(store))
    assert max(per_partition.values()) <= 4, per_partition
    # more segments in the partition: only the small files are merged again, and the bytes
    # rewritten stay bounded by a few times the bytes written
    written = sum(f.stat().st_size for f in files_of(store))
    rewritten = stats.bytes_in
    for k in range(9):
        fill(store, range(90 + 10 * k, 100 + 10 * k), day_s=86400.0)
        written += sum(f.stat().st_size for f in files_of(store) if "date=2026-03-02" in str(f))
        rewritten += compact_lake(state, store / "lake", max_files=4).bytes_in
    state.close()
    check_exactly_once(store, list(range(180)))
    assert max(Counter(f.parent for f in files_of(store)).values()) <= 4
    assert rewritten < 3 * written


def test_uncommitted_segment_of_a_running_writer_is_left_alone(tmp_path) -> None:
    store = tmp_path / "store"
    fill(store, range(20))
    pending = LakeWriter(store / "lake", PLANT).write([rows_batch(99, T0)])  # not committed
    state = StateStore(store / "state.sqlite")
    compact_lake(state, store / "lake", max_files=2)
    assert pending[0].path.exists()
    assert lake_key(pending[0].path) not in state.segment_paths()
    state.commit_ingest(pending, [("pump-001", "process", 99)])  # its commit still lands
    assert {lake_key(f) for f in files_of(store)} == state.segment_paths()
    state.close()
    df = Lake(store / "lake", PLANT).read_rows("process", "pump-001")
    assert sorted(set(df["seq"].to_list())) == [*range(20), 99] and df.height == 4 * 21


def test_readers_and_a_writer_during_compaction_see_every_row_once(tmp_path) -> None:
    """A reader loops over today's partition while a writer commits new segments to it and
    compaction merges it in many small steps; no error, no repeat, no loss."""
    store = tmp_path / "store"
    fill(store, range(40))
    committed = [40]  # seqs < committed[0] are committed before each read starts
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_loop() -> None:
        lake = Lake(store / "lake", PLANT)
        while not stop.is_set():
            low = committed[0]
            try:
                df = lake.read_rows("process", "pump-001")
            except BaseException as exc:  # reported by the test
                errors.append(exc)
                return
            seqs = df["seq"].to_list()
            if df.select(["seq", "row"]).is_duplicated().any():
                errors.append(AssertionError("a row read twice"))
                return
            if not set(range(low)) <= set(seqs):
                errors.append(AssertionError(f"rows missing: {set(range(low)) - set(seqs)}"))
                return

    def write_loop() -> None:
        for s in range(40, 100):
            fill(store, range(s, s + 1))
            committed[0] = s + 1

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    writer = threading.Thread(target=write_loop)
    for t in [*readers, writer]:
        t.start()
    state = StateStore(store / "state.sqlite")
    try:
        passes = 0
        while writer.is_alive() or passes < 3:
            compact_lake(state, store / "lake", max_files=3, target_bytes=12_000)
            passes += 1
    finally:
        stop.set()
        writer.join()
        for t in readers:
            t.join()
    compact_lake(state, store / "lake", max_files=3, target_bytes=12_000)
    state.close()
    assert not errors, errors[0]
    check_exactly_once(store, list(range(100)))


class _Crash(BaseException):
    """Stands for a kill: nothing after the injected step runs."""


STEPS = [
    (pl.DataFrame, "write_parquet", "before"),
    (lake_mod, "_fsync_path", "before"),
    (lake_mod.os, "replace", "before"),
    (StateStore, "replace_segments", "before"),
    (StateStore, "replace_segments", "after"),
    (Path, "unlink", "before"),
]


@pytest.mark.parametrize("nth", [1, 2, 3])
@pytest.mark.parametrize("step", range(len(STEPS)))
def test_a_crash_at_any_step_is_repaired_by_the_worker_restart(tmp_path, step, nth) -> None:
    """Compaction dies at the `nth` call of one step (write the merged file, fsync, rename,
    commit, remove the old files); the ingest worker's start-up cleanup repairs the store, and
    a later pass completes it."""
    store = tmp_path / "store"
    fill(store, range(30))
    owner, name, when = STEPS[step]
    real = getattr(owner, name)
    calls = [0]

    def crashing(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth and when == "before":
            raise _Crash
        out = real(*args, **kwargs)
        if calls[0] == nth and when == "after":
            raise _Crash
        return out

    state = StateStore(store / "state.sqlite")
    setattr(owner, name, crashing)
    try:
        with pytest.raises(_Crash):
            compact_lake(state, store / "lake", max_files=2)
    finally:
        setattr(owner, name, real)
        state.close()
    restart_cleanup(store)
    check_exactly_once(store, list(range(30)))
    state = StateStore(store / "state.sqlite")
    compact_lake(state, store / "lake", max_files=2)
    state.close()
    check_exactly_once(store, list(range(30)))
    assert len(files_of(store)) <= 4 * 2


_COMPACT_FOREVER = """
import sys
from phm.store.compaction import compact_lake
from phm.store.state import StateStore
from tests.store.test_compaction import fill
store = __import__("pathlib").Path(sys.argv[1])
k = int(sys.argv[2])  # seqs of earlier runs are not written again
state = StateStore(store / "state.sqlite")
print("ready", flush=True)
while True:  # new segments and merges, until killed
    fill(store, range(k, k + 5))
    k += 5
    compact_lake(state, store / "lake", max_files=2)
"""


def test_sigkill_at_random_points_of_compaction_keeps_every_row_once(tmp_path) -> None:
    store = tmp_path / "store"
    fill(store, range(30))
    rng = np.random.default_rng(7)
    proc = None
    for run in range(1, 7):
        proc = subprocess.Popen(
            [sys.executable, "-c", _COMPACT_FOREVER, str(store), str(1000 * run)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(float(rng.uniform(0.05, 0.6)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        restart_cleanup(store)
        state = StateStore(store / "state.sqlite")
        seen = {s for (_a, _s, s) in _seen_keys(state)}
        state.close()
        check_exactly_once(store, sorted(seen))
    assert max(seen) > 6000, "the killed runs wrote and merged segments"


def _seen_keys(state: StateStore) -> list[tuple[str, str, int]]:
    return list(
        state._conn().execute(
            "SELECT asset, stream, seq FROM ingest_seen WHERE asset = 'pump-001' "
            "AND stream = 'process'"
        )
    )
