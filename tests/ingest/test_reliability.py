"""No loss, no repeats: the ingest worker (a real `phm ingest` process) against a real
Mosquitto while the worker is SIGKILLed, the broker restarts, and malformed data arrives.

Every scenario runs twice: one worker on a state.sqlite file, and two workers (two
hosts' workers, one lake) on a real PostgreSQL server (`--state` through PHM_STATE_URL); the
scenario's worker is the one killed or crashed, the second keeps working beside it. The two
split the assets (`--partition 0/2`, `1/2`).

After each scenario every valid reading published is in the lake exactly once (values and
(seq, row) counts, raw files included) and every bad payload is a dead letter with its reason.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from phm.bench.ingest import Publisher
from phm.store.lake import DAY_S
from phm.store.state import open_state
from phm.wire.codec import MAGIC, Batch, PayloadError, decode, encode
from phm.wire.topics import TopicError, parse_topic, topic_for
from tests.ingest.conftest import (
    PLANT,
    Item,
    WorkerProcess,
    assert_lake_exactly,
    counters,
    valid_corpus,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER_ARGS = ("--batch-max", "16", "--batch-ms", "20")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The state store of the scenario: "sqlite" (one worker) or "postgresql" (two)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").database()
        monkeypatch.setenv("PHM_STATE_URL", url)  # the workers and the checks inherit it
    return request.param


def _args(backend: str, args: tuple[str, ...] = WORKER_ARGS) -> tuple[str, ...]:
    return (*args, "--partition", "0/2") if backend == "postgresql" else args


def _second(
    backend: str, url: str, store: Path, args: tuple[str, ...] = WORKER_ARGS
) -> WorkerProcess | None:
    """On PostgreSQL, a second worker on the same lake and state (the other partition of two:
    `--shared` loses messages at a Mosquitto restart, docs/deployment.md), subscribed."""
    if backend == "sqlite":
        return None
    second = WorkerProcess(url, store, "ingest-second", *args, "--partition", "1/2").start()
    second.wait_subscribed()
    return second


def _stop_second(second: WorkerProcess | None, store: Path) -> None:
    """Stop the second worker cleanly; it must have committed segments of its own."""
    if second is None:
        return
    _stop_clean(second)
    from phm.store.lake import own_segment, writer_tag

    tag = writer_tag("ingest-second")
    with open_state(store, readonly=True) as state:
        assert any(own_segment(p, tag) for p in state.segment_paths()), "the second idled"


def _readings(items: list[Item]) -> int:
    return sum(it.values.size for it in items if it.values is not None)


def _all_committed(store: Path, items: list[Item]) -> bool:
    return counters(store).get("ingest_readings", -1) == _readings(items)


def _stop_clean(worker: WorkerProcess) -> None:
    rc = worker.terminate()
    assert rc == 0, worker.output()[-3000:]
    assert "Traceback" not in worker.output(), worker.output()[-3000:]


def test_worker_sigkilled_mid_stream_loses_and_repeats_nothing(
    mosquitto, tmp_path: Path, backend: str
) -> None:
    store = tmp_path / "store"
    items = valid_corpus(per_stream=12, seed=10)
    cuts = [len(items) // 3, 2 * len(items) // 3, len(items)]
    worker = WorkerProcess(mosquitto.url, store, "ingest-kill", *_args(backend)).start()
    pub = Publisher(mosquitto.url, client_id="pub-kill")
    second = None
    try:
        worker.wait_subscribed()
        second = _second(backend, mosquitto.url, store)
        done = 0
        for cut in cuts[:2]:
            for it in items[done:cut]:
                pub.publish(it.topic, it.payload)
            # kill while the worker is busy with this part: some committed, more in flight
            wait_until(
                lambda done=done: counters(store).get("ingest_messages", 0) >= done + 5,
                30,
                "the worker to commit part of the stream",
                every=0.005,
            )
            worker.kill()
            done = cut
            worker.start()  # deletes the orphans of the killed run, gets the rest again
            worker.wait_subscribed()
        for it in items[done:]:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(30)
        wait_until(lambda: _all_committed(store, items), 60, "every reading committed")
        _stop_clean(worker)
        _stop_second(second, store)
    finally:
        pub.close()
        worker.kill()
        if second is not None:
            second.kill()
    assert_lake_exactly(store, PLANT, items)
    c = counters(store)
    assert c.get("dead_letters", 0) == 0
    assert c["ingest_messages"] >= len(items)  # redeliveries counted as messages


_CRASHING_WORKER = """
import logging, os, sys
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.store.state import StateStore

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
where, url, store, client_id, part = sys.argv[1:6]
real_commit = StateStore.commit_ingest
calls = [0]

def commit_ingest(self, *args, **kwargs):  # the 3rd commit dies right before or after
    calls[0] += 1
    if calls[0] == 3 and where == "before_commit":  # lake files written, not committed
        os._exit(9)
    real_commit(self, *args, **kwargs)
    if calls[0] == 3 and where == "before_ack":  # committed, never acknowledged
        os._exit(9)

StateStore.commit_ingest = commit_ingest
partition = None if part == "-" else tuple(int(x) for x in part.split("/"))
IngestWorker(
    url, store, load_plant(), client_id, batch_max=16, batch_ms=20, partition=partition
).run()
"""


@pytest.mark.parametrize("where", ["before_commit", "before_ack"])
def test_worker_dying_around_its_commit_loses_and_repeats_nothing(
    mosquitto, tmp_path: Path, where: str, backend: str
) -> None:
    """The two windows a random SIGKILL rarely hits: lake written but not committed (orphan
    files, deleted at the restart, messages redelivered) and committed but not acked
    (redelivered, dropped as duplicates)."""
    store = tmp_path / "store"
    items = valid_corpus(per_stream=3, seed=40)
    crashing = WorkerProcess(mosquitto.url, store, "ingest-crash")
    crashing.args = [crashing.args[0], "-c", _CRASHING_WORKER, where, mosquitto.url, str(store)]
    crashing.args += ["ingest-crash", "0/2" if backend == "postgresql" else "-"]
    crashing.start()
    worker = WorkerProcess(mosquitto.url, store, "ingest-crash", *_args(backend))
    pub = Publisher(mosquitto.url, client_id="pub-crash")
    second = None
    try:
        crashing.wait_subscribed()
        second = _second(backend, mosquitto.url, store)
        for it in items:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(30)
        assert crashing.proc.wait(30) == 9, crashing.output()[-3000:]
        state = open_state(store)
        orphans = state.orphan_segments(store / "lake")
        state.close()
        assert bool(orphans) == (where == "before_commit")
        worker._subscriptions = crashing.output().count("ingest: subscribed")  # same log file
        worker.start().wait_subscribed()
        wait_until(lambda: _all_committed(store, items), 60, "every reading committed")
        _stop_clean(worker)
        if second is not None:
            _stop_clean(second)  # (it may have got none of these few messages)
    finally:
        pub.close()
        crashing.kill()
        worker.kill()
        if second is not None:
            second.kill()
    assert_lake_exactly(store, PLANT, items)
    if where == "before_commit":
        assert "orphan segment" in worker.output()
    else:
        assert counters(store)["ingest_duplicates"] > 0


def test_broker_restart_mid_stream_loses_and_repeats_nothing(
    mosquitto, tmp_path: Path, backend: str
) -> None:
    store = tmp_path / "store"
    items = valid_corpus(per_stream=10, seed=20)
    a, b = len(items) // 3, 2 * len(items) // 3
    worker = WorkerProcess(mosquitto.url, store, "ingest-restart", *_args(backend)).start()
    pub = Publisher(mosquitto.url, client_id="pub-restart")
    second = None
    try:
        worker.wait_subscribed()
        second = _second(backend, mosquitto.url, store)
        for it in items[:a]:
            pub.publish(it.topic, it.payload)
        wait_until(lambda: counters(store).get("ingest_messages", 0) >= 5, 30, "first commits")
        mosquitto.stop()  # SIGTERM: Mosquitto saves the queued messages and sessions
        for it in items[a:b]:  # the publisher keeps them until the broker is back
            pub.publish(it.topic, it.payload)
        wait_until(lambda: counters(store).get("broker_connected") == 0, 15, "status: offline")
        mosquitto.start()
        for it in items[b:]:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(45), "the publisher's queue did not drain after the restart"
        wait_until(lambda: _all_committed(store, items), 60, "every reading committed")
        wait_until(lambda: counters(store).get("broker_connected") == 1, 15, "status: online")
        _stop_clean(worker)
        _stop_second(second, store)
    finally:
        pub.close()
        worker.kill()
        if second is not None:
            second.kill()
    assert "connection lost" in worker.output()
    assert_lake_exactly(store, PLANT, items)


# ---------------------------------------------------------------- malformed payloads
PUMP = PLANT.assets["pump-001"]
MILL = PLANT.assets["ion_mill-001"]
TEMP = PLANT.stream("pump-001", "temperature")
VIB = PLANT.stream("pump-001", "vibration")


def _topic(asset, stream: str) -> str:
    return topic_for(asset.site, asset.line, asset.asset_id, stream)


def _frame(header: dict, body: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + body


def expected_reason(topic: str, payload: bytes) -> str | None:
    """What the worker must make of a payload: None (valid) or its dead-letter reason."""
    try:
        t = parse_topic(topic)
        asset = PLANT.assets.get(t.asset)
        if asset is not None and (t.site, t.line) != (asset.site, asset.line):
            return "wrong_site"
        b = decode(payload, t.asset, t.stream, PLANT, now=time.time())
    except TopicError:
        return "bad_topic"
    except PayloadError as exc:
        return exc.reason
    except Exception:
        return "decode_error"
    assert isinstance(b, Batch)
    return "too_long" if b.dt * max(b.values.shape[0] - 1, 0) >= DAY_S else None


def malformed_corpus() -> list[tuple[str, bytes, str]]:
    """(topic, payload, reason) for every PayloadError reason of the codec, bad topics,
    oversize, and rows spanning more than a day."""
    now = time.time()
    rows = np.ones((3, len(TEMP.channels)), np.float32)
    good = {"seq": 1, "t0": now - 60, "dt": 1.0, "n": 3, "channels": list(TEMP.channels)}
    temp, vib = _topic(PUMP, "temperature"), _topic(PUMP, "vibration")
    nan_rows = rows.copy()
    nan_rows[1, 0] = np.nan
    ok = encode(1, now, rows, TEMP.channels)
    no_seq = {k: v for k, v in good.items() if k != "seq"}
    bad_event = _frame({"seq": 1, "t0": now, "n": 0, "event": {"x": 1}})
    short_vib = encode(4, now - 60, np.ones((1, 2, 128), "f4"), VIB.channels, fs=VIB.sampling_hz)
    cases = [
        (temp, b"x" * (PLANT.max_payload_bytes + 1), "oversize"),
        (topic_for("site1", "line1", "pump-999", "temperature"), ok, "unknown_asset"),
        (_topic(MILL, "vibration"), ok, "unknown_stream"),
        (temp, b"JSON{}", "bad_frame"),
        (temp, MAGIC + struct.pack("<I", 999) + b"{}", "bad_frame"),
        (temp, MAGIC + struct.pack("<I", 5) + b"{nope", "bad_header"),
        (temp, MAGIC + struct.pack("<I", 2) + b"[]", "bad_header"),
        (temp, _frame(no_seq, rows.tobytes()), "missing_field"),
        (temp, _frame(good | {"seq": "1"}, rows.tobytes()), "bad_type"),
        (temp, _frame(good | {"seq": -1}, rows.tobytes()), "bad_value"),
        (temp, _frame(good | {"dt": -1.0}, rows.tobytes()), "bad_value"),
        (temp, encode(2, now + 3600, rows, TEMP.channels), "future_timestamp"),
        (_topic(PUMP, "event"), bad_event, "bad_event"),
        (temp, encode(3, now - 60, rows, TEMP.channels[::-1]), "bad_channels"),
        (vib, short_vib, "bad_shape"),
        (temp, _frame(good, rows.tobytes()[:-4]), "bad_length"),
        (temp, encode(5, now - 60, nan_rows, TEMP.channels), "not_finite"),
        (temp, encode(6, now - 3 * DAY_S, rows, TEMP.channels, dt=DAY_S), "too_long"),
        ("phm/v1/site1/line1/pump-001/pressure", ok, "bad_topic"),
        ("phm/v1//line1/pump-001/temperature", ok, "bad_topic"),
        # poison that once passed the codec and failed every commit of its batch, and more
        (temp, encode(7, -1e12, rows, TEMP.channels), "past_timestamp"),
        (temp, encode(8, -6.0e10, rows, TEMP.channels), "past_timestamp"),  # year 68
        (temp, encode(9, 0.0, rows, TEMP.channels), "past_timestamp"),
        (temp, _frame(good | {"seq": 2**63}, rows.tobytes()), "bad_value"),
        (temp, _frame(good | {"t0": 1e300}, rows.tobytes()), "future_timestamp"),
        (_topic(PUMP, "event"), _frame({"seq": 10, "t0": now, "n": 0, "event": {"kind": "\ud800"}}),
         "bad_text"),
        (_topic(PUMP, "event"), _frame({"seq": 11, "t0": now, "n": 0, "event": {"kind": "x",
         "note": ["\udfff"]}}), "bad_text"),
        (topic_for("site2", "line1", "pump-001", "temperature"),
         encode(12, now - 60, rows, TEMP.channels), "wrong_site"),
    ]  # fmt: skip
    for topic, payload, reason in cases:
        assert expected_reason(topic, payload) == reason, (reason, payload[:60])
    return cases


_VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.sampled_from(list(TEMP.channels)), max_size=5),
    st.none(),
    st.booleans(),
    st.dictionaries(st.sampled_from(["kind", "x"]), st.text(max_size=3), max_size=2),
)
_HEADERS = st.dictionaries(
    st.sampled_from(["seq", "t0", "dt", "n", "channels", "fs", "samples", "event", "extra"]),
    _VALUES,
    max_size=3,
)


def _random_payloads(n: int) -> list[tuple[str, bytes]]:
    """Hypothesis-made payloads: random bytes, and valid temperature frames with some header
    keys replaced by random values and a right or random body."""
    topics = [_topic(PUMP, s) for s in ("temperature", "vibration", "event", "process")]
    temp = _topic(PUMP, "temperature")
    now = time.time()
    out: list[tuple[str, bytes]] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        kind=st.sampled_from(["bytes", "frame", "mutated", "mutated"]),
        topic=st.sampled_from(topics),
        raw=st.binary(max_size=200),
        header=_HEADERS,
        seq=st.integers(0, 2**40),
        values=st.lists(st.floats(width=32, allow_nan=True), min_size=12, max_size=12),
        right_body=st.booleans(),
    )
    def collect(kind, topic, raw, header, seq, values, right_body) -> None:
        if kind == "bytes":
            out.append((topic, raw))
        elif kind == "frame":
            out.append((topic, _frame(header, raw[: 4 * (len(raw) // 4)])))
        else:
            base = {"seq": seq, "t0": now - 60, "dt": 1.0, "n": 3, "channels": list(TEMP.channels)}
            body = np.array(values, "<f4").tobytes() if right_body else raw
            out.append((temp, _frame(base | header, body)))

    collect()
    return out


def test_malformed_payloads_become_dead_letters_with_their_reason(
    mosquitto, tmp_path: Path, backend: str
) -> None:
    store = tmp_path / "store"
    valid = valid_corpus(per_stream=2, seed=30)
    top = np.ones((2, len(TEMP.channels)), np.float32)  # the largest seq SQLite can hold
    t_top = time.time() - 30
    valid.append(Item(_topic(PUMP, "temperature"), encode(2**63 - 1, t_top, top, TEMP.channels),
                      PUMP.asset_id, "temperature", 2**63 - 1, t_top, top))  # fmt: skip
    bad = malformed_corpus()
    random, taken = [], {(it.asset, it.stream, it.seq) for it in valid}
    for t, p in _random_payloads(150):
        reason = expected_reason(t, p)
        if reason is None:  # a random frame that is valid: it must land like any other
            topic = parse_topic(t)
            b = decode(p, topic.asset, topic.stream, PLANT)
            if (b.asset, b.stream, b.seq) in taken:
                continue  # the same key with other values: which one wins is not defined
            taken.add((b.asset, b.stream, b.seq))
            valid.append(Item(t, p, b.asset, b.stream, b.seq, b.t0, b.values))
        random.append((t, p, reason))
    worker = WorkerProcess(mosquitto.url, store, "ingest-bad", *_args(backend)).start()
    pub = Publisher(mosquitto.url, client_id="pub-bad")
    second = None
    try:
        worker.wait_subscribed()
        second = _second(backend, mosquitto.url, store)
        stream = [(it.topic, it.payload) for it in valid] + [
            (t, p) for t, p, r in bad + random if r is not None
        ]
        rng = np.random.default_rng(0)
        for k in rng.permutation(len(stream)):  # bad ones between good ones
            pub.publish(*stream[k])
        assert pub.wait_acked(30)
        wait_until(
            lambda: counters(store).get("ingest_messages", 0) == len(stream), 60, "all messages"
        )
        _stop_clean(worker)
        _stop_second(second, store)
    finally:
        pub.close()
        worker.kill()
        if second is not None:
            second.kill()
    assert_lake_exactly(store, PLANT, valid)
    state = open_state(store)
    try:
        letters = state.dead_letters(limit=100_000)
    finally:
        state.close()
    # each kept whole up to the plant's cap, with the whole payload's hash and size
    keep = PLANT.dead_letter_keep_bytes
    assert all(d.payload == d.payload[:keep] and len(d.payload) <= keep for d in letters)
    got = Counter((d.topic, d.payload, d.size, d.sha256, d.reason) for d in letters)
    want = Counter(
        (t, p[:keep], len(p), hashlib.sha256(p).hexdigest(), r)
        for t, p, r in bad + random
        if r is not None
    )
    assert got == want, (got - want, want - got)
    assert any(d.truncated for d in letters)  # the oversize one
    c = counters(store)
    assert c["dead_letters"] == sum(want.values())
    for reason, n in Counter(k[-1] for k in want.elements()).items():
        assert c[f"dead_letter_{reason}"] == n, reason
    assert {r for _t, _p, r in bad} <= {k.removeprefix("dead_letter_") for k in c}
    assert c["ingest_readings"] == _readings(valid)


def test_worker_compacts_while_ingesting_and_after_a_kill(
    mosquitto, tmp_path: Path, backend: str
) -> None:
    """Compaction every 0.3 s with at most 3 files per partition, one message per commit
    (one segment each), and the worker SIGKILLed mid-stream: every reading once, the state
    store lists exactly the files on disk, and no partition keeps more than the bound."""
    from collections import Counter as FileCount

    store = tmp_path / "store"
    items = valid_corpus(per_stream=10, seed=60)
    args = ("--batch-max", "1", "--batch-ms", "0", "--compact-every", "0.3", "--max-files", "3")
    worker = WorkerProcess(mosquitto.url, store, "ingest-compact", *_args(backend, args)).start()
    pub = Publisher(mosquitto.url, client_id="pub-compact")
    second = None
    try:
        worker.wait_subscribed()
        second = _second(backend, mosquitto.url, store, args)
        half = len(items) // 2
        for it in items[:half]:
            pub.publish(it.topic, it.payload)
        wait_until(lambda: counters(store).get("ingest_messages", 0) >= half // 2, 30, "commits")
        worker.kill()
        worker.start()
        worker.wait_subscribed()
        for it in items[half:]:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(30)
        wait_until(lambda: _all_committed(store, items), 60, "every reading committed")

        def bounded() -> bool:
            files = (store / "lake").glob("*/asset=*/date=*/part-*.parquet")
            return max(FileCount(f.parent for f in files).values()) <= 3

        wait_until(bounded, 20, "compaction to bring every partition to 3 files or fewer")
        _stop_clean(worker)
        if second is not None:
            _stop_clean(second)  # (compaction may have merged its segments away)
    finally:
        pub.close()
        worker.kill()
        if second is not None:
            second.kill()
    assert "compaction:" in worker.output()
    assert_lake_exactly(store, PLANT, items)
