"""BatchCommitter against a real lake and SQLite state store: poisoned commits split, duplicates
told apart by content, dead letters capped, retained repeats recognised, retention."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from phm.ingest.commit import BatchCommitter, store_fault
from phm.store.lake import LakeWriter
from phm.store.state import DeadLetter, StateStore
from phm.wire.codec import encode
from phm.wire.topics import topic_for
from tests.ingest.conftest import PLANT, Item, assert_lake_exactly, counters, valid_corpus

TEMP = PLANT.stream("pump-001", "temperature")
TOPIC = topic_for("site1", "line1", "pump-001", "temperature")


@dataclass
class Msg:
    topic: str
    payload: bytes
    received: float
    redelivered: bool = False


def committer(store: Path, plant=PLANT) -> BatchCommitter:
    state = StateStore(store / "state.sqlite")
    state.register_assets(plant)
    return BatchCommitter(LakeWriter(store / "lake", plant), state, plant)


def msgs(items: list[Item], redelivered: bool = False) -> list[Msg]:
    return [Msg(it.topic, it.payload, time.time(), redelivered) for it in items]


def temp_item(seq: int, value: float, t0: float | None = None) -> Item:
    t0 = time.time() - 120 if t0 is None else t0
    values = np.full((3, len(TEMP.channels)), value, np.float32)
    return Item(TOPIC, encode(seq, t0, values, TEMP.channels, dt=1.0), "pump-001",
                "temperature", seq, t0, values)  # fmt: skip


def dead(store: Path) -> list[DeadLetter]:
    with StateStore(store / "state.sqlite", readonly=True) as state:
        return state.dead_letters(limit=1000)


def test_a_message_the_store_cannot_take_is_split_out_and_the_rest_commits(tmp_path: Path):
    """A value the codec let through but the lake refuses (any non-store error) must not
    stall the batch: only that message becomes a `commit_error` dead letter."""
    store = tmp_path / "store"
    c = committer(store)
    items = valid_corpus(per_stream=3, seed=3)
    poison = items[len(items) // 2]
    key = (poison.asset, poison.stream, poison.seq)
    real_write = c.lake.write

    def refusing(batches):
        if any((b.asset, b.stream, b.seq) == key for b in batches):
            raise ValueError("a value the lake cannot store")
        return real_write(batches)

    c.lake.write = refusing
    out = c.commit(msgs(items))
    good = [it for it in items if it is not poison]
    assert out.dead_letters == 1 and out.messages == len(items)
    assert sorted(out.keys) == sorted((it.asset, it.stream, it.seq) for it in good)
    (letter,) = dead(store)
    assert letter.reason == "commit_error" and letter.payload == poison.payload
    assert "cannot store" in letter.detail
    c.state.close()
    assert_lake_exactly(store, PLANT, good)  # no orphan files of the failed attempts either


def test_a_store_fault_is_never_blamed_on_a_message(tmp_path: Path):
    store = tmp_path / "store"
    c = committer(store)

    def full(batches):
        raise OSError(28, "No space left on device")

    c.lake.write = full
    with pytest.raises(OSError, match="No space"):
        c.commit(msgs(valid_corpus(per_stream=1, seed=4)))
    assert dead(store) == [] and counters(store).get("ingest_messages", 0) == 0
    assert store_fault(OSError(30, "Read-only file system"))
    assert not store_fault(OverflowError("Python int too large to convert to SQLite INTEGER"))


def test_conflicting_duplicate_is_a_dead_letter_and_the_first_copy_stays(tmp_path: Path):
    store = tmp_path / "store"
    c = committer(store)
    first, forged, later = temp_item(7, 1.0), temp_item(7, 99.0), temp_item(8, 2.0)
    forged2 = temp_item(8, -5.0)
    c.commit(msgs([first]))
    # across batches (first is committed), an exact copy, and within one batch (later, forged2)
    out = c.commit(msgs([forged, first, later, forged2]))
    assert out.duplicates == 1 and out.dead_letters == 2
    letters = sorted(dead(store), key=lambda d: d.payload)
    assert {d.reason for d in letters} == {"conflicting_duplicate"}
    assert sorted(d.payload for d in letters) == sorted([forged.payload, forged2.payload])
    assert all("already stored with other content" in d.detail for d in letters)
    c.state.close()
    assert_lake_exactly(store, PLANT, [first, later])
    got = counters(store)
    assert got["dead_letter_conflicting_duplicate"] == 2 and got["ingest_duplicates"] == 1


def test_dead_letter_keeps_a_capped_prefix_with_hash_and_size(tmp_path: Path):
    store = tmp_path / "store"
    plant = replace(PLANT, dead_letter_keep_bytes=1000)
    c = committer(store, plant)
    big = b"PHM1" + bytes(range(256)) * 40_000  # 10 MB: over the plant's payload limit
    c.commit([Msg(TOPIC, big, time.time())])
    (letter,) = dead(store)
    assert letter.reason == "oversize" and letter.truncated
    assert letter.payload == big[:1000] and letter.size == len(big)
    assert letter.sha256 == hashlib.sha256(big).hexdigest()


def test_a_retained_or_resent_dead_letter_is_not_stored_again(tmp_path: Path):
    store = tmp_path / "store"
    c = committer(store)
    bad = Msg(TOPIC, b"not a frame", time.time())
    c.commit([bad])
    out = c.commit([replace(bad, redelivered=True), replace(bad, redelivered=True)])
    assert out.repeats == 2 and out.dead_letters == 0
    assert len(dead(store)) == 1
    assert counters(store)["dead_letter_repeats"] == 2
    # the same bytes published again as a new message (not retained, not resent) count again
    c.commit([bad])
    assert len(dead(store)) == 2


def test_topic_site_and_line_must_be_the_registered_ones(tmp_path: Path):
    store = tmp_path / "store"
    c = committer(store)
    item = temp_item(11, 3.0)
    other_site = topic_for("site2", "line1", "pump-001", "temperature")
    out = c.commit([Msg(other_site, item.payload, time.time())])
    assert out.keys == [] and out.dead_letters == 1
    (letter,) = dead(store)
    assert letter.reason == "wrong_site" and "site1" in letter.detail


def test_retention_by_age_then_by_size(tmp_path: Path):
    state = StateStore(tmp_path / "state.sqlite")
    now = time.time()
    letters = [DeadLetter(now - 40 * 86400, "t/old", "bad_frame", "", b"x" * 100)] + [
        DeadLetter(now - 100 + i, f"t/{i}", "bad_frame", "", b"y" * 100) for i in range(5)
    ]
    state.commit_ingest([], [], letters, {"dead_letters": len(letters)})
    assert state.prune_dead_letters(now - 30 * 86400, max_bytes=10_000) == 1
    assert state.prune_dead_letters(now - 30 * 86400, max_bytes=250) == 3  # the oldest go
    assert [d.topic for d in state.dead_letters()] == ["t/4", "t/3"]
    assert state.counters()["dead_letters"] == 6  # the totals stay
