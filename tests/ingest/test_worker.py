"""The ingest worker in-process against a real Mosquitto (and the embedded amqtt broker)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from phm.bench.ingest import Publisher
from phm.errors import ConfigError
from phm.ingest.broker import EmbeddedBroker, free_port
from phm.ingest.worker import IngestWorker, parse_broker_url
from tests.ingest.conftest import PLANT, assert_lake_exactly, counters, valid_corpus, wait_until

pytestmark = pytest.mark.integration


def _subscribed(worker: IngestWorker) -> bool:
    return worker.subscribed


def _publish(url: str, items, protocol: str = "5") -> None:
    pub = Publisher(url, protocol=protocol)
    try:
        for it in items:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(30), "the broker did not acknowledge every publish"
    finally:
        pub.close()


def test_parse_broker_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHM_MQTT_USERNAME", raising=False)
    monkeypatch.delenv("PHM_MQTT_PASSWORD", raising=False)
    a = parse_broker_url("mqtt://u:p%40ss@broker.plant:8883")
    assert (a.host, a.port, a.username, a.password) == ("broker.plant", 8883, "u", "p@ss")
    assert parse_broker_url("localhost").port == 1883
    monkeypatch.setenv("PHM_MQTT_USERNAME", "ingest")
    assert parse_broker_url("tcp://h:1").username == "ingest"
    for bad in ("http://h:1", "mqtt://h:port"):
        with pytest.raises(ConfigError, match="--broker"):
            parse_broker_url(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shared": True, "protocol": "3.1.1"}, "needs MQTT 5"),
        ({"batch_max": 0}, "batch-max"),
        ({"client_id": ""}, "client-id"),
        ({"protocol": "4"}, "protocol"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        IngestWorker("mqtt://127.0.0.1:1", tmp_path, PLANT, **kwargs).start()


def test_ingests_every_stream_once_and_acks_after_commit(mosquitto, tmp_path: Path) -> None:
    store = tmp_path / "store"
    commits: list[list] = []
    worker = IngestWorker(
        mosquitto.url,
        store,
        PLANT,
        client_id="w1",
        batch_max=25,
        batch_ms=20,
        on_commit=lambda keys, t: commits.append(keys),
    ).start()
    try:
        wait_until(lambda: _subscribed(worker), 10, "subscription")
        items = valid_corpus(per_stream=4)
        _publish(mosquitto.url, items)
        _publish(mosquitto.url, items[:10])  # redelivered/duplicate payloads: dropped by key
        wait_until(lambda: worker.stats.messages == len(items) + 10, 30, "all messages")
        wait_until(lambda: counters(store).get("broker_connected") == 1, 10, "status")
    finally:
        worker.stop()
    assert_lake_exactly(store, PLANT, items)
    c = counters(store)
    assert c["ingest_messages"] == len(items) + 10
    assert c["ingest_duplicates"] == 10
    assert c["ingest_readings"] == sum(it.values.size for it in items)
    assert c.get("dead_letters", 0) == 0
    assert c["broker_connected"] == 0  # written on the clean stop
    assert sum(len(k) for k in commits) == len(items)
    assert worker.stats.acked == len(items) + 10 and worker.stats.commit_failures == 0


def test_failed_commit_is_not_acked_and_comes_again(
    mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    worker = IngestWorker(mosquitto.url, store, PLANT, client_id="w2", batch_max=500, batch_ms=50)
    worker.start()
    wait_until(lambda: _subscribed(worker), 10, "subscription")
    real_write = worker._lake.write
    failures = []

    def flaky(batches):  # the disk fails once, after half the batch's files are written
        if not failures:
            failures.append(1)
            real_write(batches[: len(batches) // 2])
            raise OSError(28, "No space left on device")
        return real_write(batches)

    worker._lake.write = flaky
    items = valid_corpus(per_stream=3, seed=1)
    try:
        _publish(mosquitto.url, items)
        wait_until(lambda: worker.stats.messages >= len(items), 30, "redelivery after failure")
    finally:
        worker.stop()
    assert worker.stats.commit_failures == 1
    assert any("COMMIT FAILED" in r.getMessage() for r in caplog.records)
    # the half-written files of the failed batch are orphans until the next start removes them
    IngestWorker(mosquitto.url, store, PLANT, client_id="w2")._open_store()
    assert_lake_exactly(store, PLANT, items)
    assert counters(store)["ingest_readings"] == sum(it.values.size for it in items)


def test_clean_stop_keeps_the_session_for_the_next_run(mosquitto, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = IngestWorker(mosquitto.url, store, PLANT, client_id="w3").start()
    wait_until(lambda: _subscribed(first), 10, "subscription")
    first.stop()
    items = valid_corpus(per_stream=2, seed=2)
    _publish(mosquitto.url, items)  # nobody connected: the broker queues them for w3
    stop = threading.Event()
    second = IngestWorker(mosquitto.url, store, PLANT, client_id="w3", batch_ms=10)
    thread = threading.Thread(target=second.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: second.stats.messages == len(items), 30, "queued messages")
    finally:
        stop.set()
        thread.join(30)
    assert_lake_exactly(store, PLANT, items)


def test_shared_subscription_splits_the_load(mosquitto, tmp_path: Path) -> None:
    store = tmp_path / "store"
    workers = [
        IngestWorker(mosquitto.url, store, PLANT, client_id=f"s{i}", shared=True, batch_ms=10)
        for i in range(2)
    ]
    for w in workers:
        w.start()
    items = valid_corpus(per_stream=4, seed=3)
    try:
        for w in workers:
            wait_until(lambda w=w: _subscribed(w), 10, "subscription")
        _publish(mosquitto.url, items)
        wait_until(lambda: sum(w.stats.messages for w in workers) == len(items), 30, "all messages")
    finally:
        for w in workers:
            w.stop()
    assert all(w.stats.messages > 0 for w in workers), [w.stats.messages for w in workers]
    assert_lake_exactly(store, PLANT, items)


def test_orphan_segments_are_deleted_at_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    orphan = store / "lake/process/asset=pump-001/date=2026-01-01/part-dead.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half a file")
    IngestWorker("mqtt://127.0.0.1:1", store, PLANT)._open_store()
    assert not orphan.exists()


def test_embedded_broker_mqtt311(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with EmbeddedBroker(free_port()) as broker:
        worker = IngestWorker(
            broker.url, store, PLANT, client_id="e1", protocol="3.1.1", batch_ms=10
        ).start()
        try:
            wait_until(lambda: _subscribed(worker), 10, "subscription")
            items = valid_corpus(per_stream=2, seed=4)
            _publish(broker.url, items, protocol="3.1.1")
            wait_until(lambda: worker.stats.messages == len(items), 30, "all messages")
        finally:
            worker.stop()
    assert_lake_exactly(store, PLANT, items)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"seq": 1, "t0": 10**400, "dt": 1.0, "n": 0, "channels": []}, "bad_value"),
        ({"seq": 1, "t0": 1.0, "dt": "x", "n": 0, "channels": []}, "bad_type"),
    ],
)
def test_header_numbers_out_of_range_or_type_are_dead_letters(header: dict, reason: str) -> None:
    import json
    import struct
    import time

    from phm.ingest.commit import decode_message
    from phm.ingest.worker import _Message
    from phm.wire.codec import MAGIC

    head = json.dumps(header).encode()
    payload = MAGIC + struct.pack("<I", len(head)) + head
    msg = _Message("phm/v1/site1/line1/pump-001/temperature", payload, 1, 1, 0, time.time())
    assert decode_message(msg, PLANT, time.time())[0] == reason


def test_an_unforeseen_decode_error_is_a_dead_letter_not_poison(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """decode raising something other than PayloadError must not block the batch forever."""
    import time

    from phm.ingest import commit
    from phm.ingest.worker import _Message

    def broken(*args: object, **kwargs: object) -> None:
        raise OverflowError("a gap in the codec")

    monkeypatch.setattr(commit, "decode", broken)
    msg = _Message("phm/v1/site1/line1/pump-001/temperature", b"x", 1, 1, 0, time.time())
    reason, detail = commit.decode_message(msg, PLANT, time.time())
    assert reason == "decode_error" and detail.startswith("OverflowError")


def test_a_retained_bad_message_is_dead_lettered_once_across_restarts(
    mosquitto, tmp_path: Path
) -> None:
    """The broker hands a retained message again at every subscribe: the second time it is
    recognised as already dead-lettered (counted as a repeat, not stored again)."""
    import paho.mqtt.publish as publish

    store = tmp_path / "store"
    topic = "phm/v1/site1/line1/pump-001/temperature"
    publish.single(topic, b"not a frame", qos=1, retain=True, hostname="127.0.0.1",
                   port=mosquitto.port, protocol=5)  # fmt: skip
    for run in (1, 2):
        worker = IngestWorker(mosquitto.url, store, PLANT, client_id="w-retained", batch_ms=20)
        worker.start()
        try:
            wait_until(
                lambda n=run: counters(store).get("ingest_messages", 0) >= n, 15, "the retained one"
            )
        finally:
            worker.stop()
    c = counters(store)
    assert c["ingest_messages"] == 2 and c["dead_letters"] == 1 and c["dead_letter_repeats"] == 1
    from phm.store.state import StateStore

    with StateStore(store / "state.sqlite", readonly=True) as state:
        (letter,) = state.dead_letters()
    assert letter.reason == "bad_frame" and letter.topic == topic
