"""Sparkplug B ingest: the Tahu schema, the plant mapping, the host's seq/bdSeq/rebirth rules,
and an edge node through a real Mosquitto into the lake (births, data, death, rebirth, a seq
gap, malformed protobuf, a SIGKILLed worker): every metric once under its asset."""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from phm.errors import ConfigError
from phm.ingest.sparkplug import SparkplugHost
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant, sparkplug_map
from phm.store.state import StateStore
from phm.wire import sparkplug as spb
from tests.ingest.conftest import WorkerProcess, counters, wait_until

PLANT_TOML = """
[plant]
name = "spb-test"

[types.motor.streams.temperature]
channels = ["winding_c", "ambient_c"]
nullable = ["ambient_c"]
sampling_hz = 1.0

[types.motor.streams.process]
channels = ["speed_rpm", "load_pct"]
sampling_hz = 1.0

[[assets]]
id = "m1"
type = "motor"
site = "s1"
line = "l1"

[[assets]]
id = "m2"
type = "motor"
site = "s1"
line = "l1"

[sparkplug]
group = "plantA"
edge_node = "gw-{site}"

[sparkplug.assets.m2]
device = "MOTOR-2"
[sparkplug.assets.m2.metrics]
"TT-201" = "temperature/winding_c"
"ST-201" = "process/speed_rpm"
"JT-201" = "process/load_pct"
"""


@pytest.fixture
def plant_path(tmp_path: Path) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(PLANT_TOML)
    return path


# --- schema and topics ---------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, wire: int, body: bytes) -> bytes:
    return _varint(number << 3 | wire) + body


def test_payload_field_numbers_are_tahus() -> None:
    """A payload encoded by hand from sparkplug_b.proto's field numbers decodes field for field."""
    metric = (
        _field(1, 2, _varint(2) + b"TT")  # name
        + _field(2, 0, _varint(5))  # alias
        + _field(3, 0, _varint(1_700_000_000_123))  # timestamp
        + _field(4, 0, _varint(int(spb.DataType.Float)))  # datatype
        + _field(7, 0, _varint(0))  # is_null
        + _field(12, 5, struct.pack("<f", 1.5))  # float_value
    )
    raw = (
        _field(1, 0, _varint(1_700_000_000_000))  # timestamp
        + _field(2, 2, _varint(len(metric)) + metric)  # metrics
        + _field(3, 0, _varint(7))  # seq
        + _field(4, 2, _varint(1) + b"u")  # uuid
    )
    p = spb.decode_payload(raw)
    assert (p.timestamp, p.seq, p.uuid) == (1_700_000_000_000, 7, "u")
    m = p.metrics[0]
    assert (m.name, m.alias, m.timestamp, m.datatype) == ("TT", 5, 1_700_000_000_123, 9)
    assert spb.numeric_value(m, m.datatype) == 1.5
    assert p.SerializeToString() == raw


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (spb.DataType.Int8, -3),
        (spb.DataType.Int32, -70000),
        (spb.DataType.Int64, -(2**40)),
        (spb.DataType.UInt32, 4_000_000_000),
        (spb.DataType.Double, 0.1),
        (spb.DataType.Boolean, True),
    ],
)
def test_numeric_values_round_trip(datatype: spb.DataType, value: float) -> None:
    m = spb.Metric()
    spb.set_value(m, datatype, value)
    back = spb.Metric()
    back.ParseFromString(m.SerializeToString())
    assert spb.numeric_value(back, back.datatype) == float(value)


def test_non_numeric_or_mismatched_metrics_are_refused() -> None:
    m = spb.Metric(datatype=int(spb.DataType.String), string_value="x")
    with pytest.raises(spb.SparkplugError, match="String is not numeric"):
        spb.numeric_value(m, m.datatype)
    m = spb.Metric(datatype=int(spb.DataType.Float), double_value=1.0)
    with pytest.raises(spb.SparkplugError, match="carries double_value"):
        spb.numeric_value(m, m.datatype)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("spBv1.0/g/NBIRTH/n", ("g", "NBIRTH", "n", None)),
        ("spBv1.0/g/DDATA/n/d", ("g", "DDATA", "n", "d")),
        ("spBv1.0/g/NDATA/n/d", None),  # node message with a device level
        ("spBv1.0/g/DDATA/n", None),  # device message without one
        ("spBv1.0/g/STATE/n", None),
        ("spAv1.0/g/NDATA/n", None),
        ("spBv1.0//NDATA/n", None),
    ],
)
def test_topics(topic: str, expected: tuple | None) -> None:
    if expected is None:
        with pytest.raises(spb.SparkplugError, match="topic"):
            spb.parse_sparkplug_topic(topic)
    else:
        t = spb.parse_sparkplug_topic(topic)
        assert (t.group, t.type, t.edge_node, t.device) == expected
        assert str(t) == topic


# --- the mapping ---------------------------------------------------------------------------------
def test_mapping_defaults_and_overrides(plant_path: Path) -> None:
    m = sparkplug_map(load_plant(plant_path))
    assert m.group == "plantA"
    assert sorted(m.devices) == [("gw-s1", "MOTOR-2"), ("gw-s1", "m1")]
    assert m.devices["gw-s1", "m1"].metrics["temperature/winding_c"] == ("temperature", "winding_c")
    assert m.devices["gw-s1", "MOTOR-2"].metrics == {
        "TT-201": ("temperature", "winding_c"),
        "ST-201": ("process", "speed_rpm"),
        "JT-201": ("process", "load_pct"),
    }
    shipped = sparkplug_map(load_plant())  # no [sparkplug] table: every default
    assert shipped.group == "phm" and ("site1-line1", "pump-001") in shipped.devices


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ('"TT-201" = "temperature/winding_c"', None),
        ('"TT-201" = "temperature/nope"', "has channels"),
        ('"TT-201" = "vibration/x"', "rows stream"),
        ('"JT-201" = "process/load_pct"', "\\['speed_rpm'\\] have no metric and are not nullable"),
    ],
)
def test_mapping_errors_name_file_and_key(tmp_path: Path, edit: str, message: str | None) -> None:
    head = PLANT_TOML[: PLANT_TOML.index("[sparkplug.assets.m2.metrics]")]
    text = head + f"[sparkplug.assets.m2.metrics]\n{edit}\n"
    path = tmp_path / "p.toml"
    path.write_text(text)
    if message is None:
        assert sparkplug_map(load_plant(path)).devices["gw-s1", "MOTOR-2"].metrics
        return
    with pytest.raises(ConfigError, match=message) as err:
        load_plant(path)
    assert str(path) in str(err.value) and "[sparkplug.assets.m2] metrics" in str(err.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('group = "a/b"', "group = 'a/b'"),
        ('device = "same"', "also asset 'm1'"),
        ('edge_node = "{plant}"', "bad placeholder"),
        ("colour = 1", "unknown keys \\['colour'\\]"),
    ],
)
def test_bad_sparkplug_tables(tmp_path: Path, table: str, message: str) -> None:
    head = PLANT_TOML[: PLANT_TOML.index("[sparkplug]")]
    path = tmp_path / "p.toml"
    path.write_text(head + "[sparkplug]\n" + table + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_plant(path)
    assert str(path) in str(err.value)


# --- the host's rules, without a broker ----------------------------------------------------------
@dataclass
class Msg:
    topic: str
    payload: bytes
    redelivered: bool = False
    received: float = 0.0
    decoded: Any = None


T0 = int(time.time() * 1000) - 60_000


def _nbirth(bdseq: int = 1) -> bytes:
    p = spb.Payload(timestamp=T0, seq=0)
    spb.set_value(p.metrics.add(name=spb.BDSEQ_METRIC), spb.DataType.Int64, bdseq)
    return p.SerializeToString()


def _ndeath(bdseq: int) -> bytes:
    p = spb.Payload(timestamp=T0)
    spb.set_value(p.metrics.add(name=spb.BDSEQ_METRIC), spb.DataType.Int64, bdseq)
    return p.SerializeToString()


M1 = ["temperature/winding_c", "temperature/ambient_c", "process/speed_rpm", "process/load_pct"]


def _dbirth(seq: int) -> bytes:
    p = spb.Payload(timestamp=T0, seq=seq)
    for i, name in enumerate([*M1, "Properties/Serial"]):
        m = p.metrics.add(name=name, alias=i + 1, timestamp=T0)
        spb.set_value(m, spb.DataType.Float, None)
    return p.SerializeToString()


def _ddata(seq: int, stamp: int, values: list[float | None], aliases=(1, 2, 3, 4)) -> bytes:
    p = spb.Payload(timestamp=stamp, seq=seq)
    for alias, v in zip(aliases, values, strict=True):
        m = p.metrics.add(alias=alias, timestamp=stamp)
        spb.set_value(m, spb.DataType.Float, v)
    return p.SerializeToString()


def _topic(kind: str, device: str | None = None, node: str = "gw-s1") -> str:
    return spb.sparkplug_topic("plantA", kind, node, device)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_at(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A state.sqlite path, or a fresh database of a real PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    return request.getfixturevalue("postgres_server").database()


def test_host_births_data_gap_rebirth_and_deaths(plant_path: Path, state_at: str | Path) -> None:
    plant = load_plant(plant_path)
    state = StateStore(state_at)
    host = SparkplugHost(plant, state)
    msgs = [
        Msg(_topic("DDATA", "m1"), _ddata(1, T0, [1, 2, 3, 4])),  # before any birth
        Msg(_topic("NBIRTH"), _nbirth(bdseq=1)),
        Msg(_topic("DBIRTH", "m1"), _dbirth(1)),
        Msg(_topic("DDATA", "m1"), _ddata(2, T0 + 1000, [10, None, 30, 40])),
        Msg(_topic("NDEATH"), _ndeath(bdseq=0)),  # a late will of an earlier session
        Msg(_topic("DDATA", "m1"), _ddata(3, T0 + 2000, [11, 21, 31, 41])),
        Msg(_topic("DDATA", "m1"), _ddata(6, T0 + 5000, [12, 22, 32, 42])),  # 4, 5 lost
        Msg(_topic("DDATA", "m1"), _ddata(7, T0 + 6000, [13, 23, 33, 43])),  # stale
        Msg(_topic("DDATA", "m1"), _ddata(3, T0 + 2000, [11, 21, 31, 41]), redelivered=True),
        Msg(_topic("DDATA", "m1"), b"\x0a\xff\xff"),  # malformed protobuf
        Msg(_topic("DDATA", "m1"), _ddata(8, T0 + 7000, [1, 2, 3, 4], aliases=(1, 2, 3, 9))),
    ]
    host.translate(msgs)
    reasons = [m.decoded[0] if isinstance(m.decoded, tuple) else len(m.decoded) for m in msgs]
    assert reasons == [
        "sparkplug_before_birth",
        0,
        0,  # a birth whose metrics hold no value: definitions only
        2,  # temperature and process rows
        0,
        2,
        "sparkplug_seq_gap",
        "sparkplug_stale",
        "sparkplug_stale",  # a redelivery off sequence while stale is not trusted either
        "sparkplug_bad_protobuf",
        "sparkplug_stale",
    ]
    rows = {(b.stream, b.seq): b.values.tolist() for b in msgs[3].decoded}
    assert rows[("temperature", T0 + 1000)][0][0] == 10.0
    assert np.isnan(rows[("temperature", T0 + 1000)][0][1])  # nullable ambient_c: null
    assert rows[("process", T0 + 1000)] == [[30.0, 40.0]]
    assert msgs[3].decoded[0].asset == "m1"
    assert _topic("DDATA", "m1") in msgs[9].decoded[1]
    assert "seq 6, expected 4 (2 messages missing)" in msgs[6].decoded[1]
    rebirths = host.rebirths()
    assert [t for t, _ in rebirths] == ["spBv1.0/plantA/NCMD/gw-s1"]  # once: rate-limited
    assert spb.is_rebirth_request(spb.decode_payload(rebirths[0][1]))
    host.persist()
    c = state.counters()
    assert c["sparkplug_seq_gaps"] == 1 and c["sparkplug_missing_messages"] == 2
    assert c["sparkplug_stale_deaths"] == 1 and c["sparkplug_unmapped_metrics"] == 2

    # a restarted host resumes from the persisted state: stale until the NBIRTH
    host = SparkplugHost(plant, state)
    again = [
        Msg(_topic("DDATA", "m1"), _ddata(9, T0 + 8000, [1, 2, 3, 4])),
        Msg(_topic("NBIRTH"), _nbirth(bdseq=2)),
        Msg(_topic("DDATA", "m1"), _ddata(1, T0 + 9000, [1, 2, 3, 4])),  # device not reborn
        Msg(_topic("DBIRTH", "m1"), _dbirth(2)),
        Msg(_topic("DDATA", "m1"), _ddata(3, T0 + 9000, [5, 6, 7, 8])),
        Msg(_topic("NDEATH"), _ndeath(bdseq=2)),
        Msg(_topic("DDATA", "m1"), _ddata(4, T0 + 10_000, [5, 6, 7, 8])),
    ]
    host.translate(again)
    reasons = [m.decoded[0] if isinstance(m.decoded, tuple) else len(m.decoded) for m in again]
    assert reasons == [
        "sparkplug_stale",
        0,
        "sparkplug_before_birth",
        0,
        2,
        0,
        "sparkplug_before_birth",
    ]
    state.close()


# --- through Mosquitto ---------------------------------------------------------------------------
def _rows(store: Path, plant, asset: str, stream: str) -> pl.DataFrame:
    from phm.store.lake import Lake

    return Lake(store / "lake", plant).read_rows(stream, asset)


def _raw_repeats(store: Path) -> int:
    keys: dict[tuple, int] = {}
    for f in (store / "lake").glob("*/asset=*/date=*/part-*.parquet"):
        for row in pl.read_parquet(f, columns=["seq", "row"]).iter_rows():
            key = (f.parts[-4], f.parts[-3], *row)
            keys[key] = keys.get(key, 0) + 1
    return sum(n > 1 for n in keys.values())


def _publish(node, asset: str, stamps_ms: list[int], rng) -> dict[int, np.ndarray]:
    """One DDATA per stamp on each stream of `asset`; the rows sent, by stamp."""
    sent = {}
    for stamp in stamps_ms:
        temp = rng.uniform(20, 90, (1, 2)).astype(np.float32)
        proc = rng.uniform(0, 100, (1, 2)).astype(np.float32)
        times = np.array([stamp / 1000.0])
        node.publish_rows(asset, "temperature", ("winding_c", "ambient_c"), times, temp)
        node.publish_rows(asset, "process", ("speed_rpm", "load_pct"), times, proc)
        sent[stamp] = np.concatenate([temp[0], proc[0]])
    return sent


def _assert_landed(store: Path, plant, asset: str, sent: dict[int, np.ndarray]) -> None:
    """Exactly the rows `sent` are in the lake under `asset`, with their values."""
    temp = _rows(store, plant, asset, "temperature").sort("seq")
    proc = _rows(store, plant, asset, "process").sort("seq")
    stamps = sorted(sent)
    assert temp["seq"].to_list() == stamps
    assert proc["seq"].to_list() == stamps
    want = np.stack([sent[s] for s in stamps])
    if asset == "m2":  # TT-201, ST-201, JT-201: ambient_c is not mapped, so NaN
        want[:, 1] = np.nan
    np.testing.assert_array_equal(temp.select("winding_c", "ambient_c").to_numpy(), want[:, :2])
    np.testing.assert_array_equal(proc.select("speed_rpm", "load_pct").to_numpy(), want[:, 2:])
    np.testing.assert_allclose(temp["time"].to_numpy(), np.array(stamps) / 1000.0)


@pytest.mark.integration
def test_edge_node_births_data_death_gap_rebirth_land_once(
    mosquitto, plant_path: Path, tmp_path: Path
) -> None:
    from phm.sim.sparkplug_node import SparkplugEdgeNode
    from phm.wire.mqtt import make_client, parse_broker_url

    plant = load_plant(plant_path)
    mapping = sparkplug_map(plant)
    devices = list(mapping.devices.values())
    store = tmp_path / "store"
    worker = IngestWorker(
        mosquitto.url, store, plant, batch_max=16, batch_ms=20, compact_every_s=0, sparkplug=True
    ).start()
    rng = np.random.default_rng(0)
    base = int(time.time() * 1000) - 120_000
    sent: dict[str, dict[int, np.ndarray]] = {"m1": {}, "m2": {}}
    try:
        wait_until(lambda: worker.subscribed, 15, "the worker to subscribe")
        node = SparkplugEdgeNode(mosquitto.url, "plantA", "gw-s1", devices, bdseq=1)
        sent["m1"] |= _publish(node, "m1", [base + i * 1000 for i in range(5)], rng)
        sent["m2"] |= _publish(node, "m2", [base + i * 1000 for i in range(5)], rng)
        wait_until(lambda: node.acked >= node.published, 10, "PUBACKs")
        node.drop()  # the broker publishes the will: NDEATH bdSeq 1
        wait_until(lambda: counters(store).get("sparkplug_deaths", 0) == 1, 10, "the NDEATH")

        node = SparkplugEdgeNode(mosquitto.url, "plantA", "gw-s1", devices, bdseq=2)
        sent["m1"] |= _publish(node, "m1", [base + 10_000 + i * 1000 for i in range(5)], rng)
        wait_until(lambda: node.acked >= node.published, 10, "PUBACKs")
        node.seq = (node.seq + 3) % 256  # three messages lost on the way
        lost = _publish(node, "m1", [base + 20_000], rng)  # the gap shows here: dead-lettered
        wait_until(lambda: node.rebirths == 1, 10, "the rebirth request to reach the node")
        wait_until(
            # NBIRTH + 2 DBIRTH: at the first connect, the second, and the rebirth
            lambda: counters(store).get("sparkplug_births", 0) == 9,
            10,
            "the rebirth",
        )
        sent["m1"] |= lost  # the DBIRTH of the rebirth carries these last values: they land
        sent["m2"] |= _publish(node, "m2", [base + 30_000 + i * 1000 for i in range(3)], rng)
        bad = make_client(parse_broker_url(mosquitto.url), "bad-publisher")
        bad.connect("127.0.0.1", mosquitto.port)
        bad.loop_start()
        bad.publish(_topic("DDATA", "m1"), b"\x0a\x05garbage", qos=1).wait_for_publish(5)
        bad.disconnect()
        bad.loop_stop()
        assert node.close() == 0
        wait_until(lambda: counters(store).get("sparkplug_deaths", 0) == 2, 10, "the NDEATH")
    finally:
        worker.stop()
    for asset in ("m1", "m2"):
        _assert_landed(store, plant, asset, sent[asset])
    assert _raw_repeats(store) == 0
    c = counters(store)
    assert c["sparkplug_seq_gaps"] == 1 and c["sparkplug_missing_messages"] == 3
    assert c["sparkplug_rebirth_requests"] == 1
    # the two DDATA of the gap (temperature, then process: stale), and the garbage
    state = StateStore(store / "state.sqlite", readonly=True)
    letters = {(d.reason, d.topic) for d in state.dead_letters()}
    state.close()
    assert letters == {
        ("sparkplug_seq_gap", _topic("DDATA", "m1")),
        ("sparkplug_stale", _topic("DDATA", "m1")),
        ("sparkplug_bad_protobuf", _topic("DDATA", "m1")),
    }
    assert c["dead_letters"] == 3


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkilled_worker_loses_and_repeats_no_sparkplug_metric(
    mosquitto, plant_path: Path, tmp_path: Path, backend: str, request, monkeypatch
) -> None:
    """As the native reliability suite: on SQLite, and on PostgreSQL (the node states in the
    server, the worker as partition 0 of 2)."""
    from phm.sim.sparkplug_node import SparkplugEdgeNode

    extra: tuple[str, ...] = ()
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_server").database()
        monkeypatch.setenv("PHM_STATE_URL", url)  # the worker and the checks inherit it
        extra = ("--partition", "0/2")

    plant = load_plant(plant_path)
    devices = list(sparkplug_map(plant).devices.values())
    store = tmp_path / "store"
    args = ("--plant", str(plant_path), "--sparkplug", "--batch-max", "16", "--batch-ms", "20")
    worker = WorkerProcess(mosquitto.url, store, "ingest-spb", *args, *extra).start()
    rng = np.random.default_rng(1)
    base = int(time.time() * 1000) - 600_000
    sent: dict[int, np.ndarray] = {}
    node = None
    try:
        worker.wait_subscribed()
        node = SparkplugEdgeNode(mosquitto.url, "plantA", "gw-s1", devices, bdseq=5)
        stamps = [base + i * 1000 for i in range(240)]
        for part in (stamps[:80], stamps[80:160]):
            done = counters(store).get("ingest_messages", 0)
            sent |= _publish(node, "m1", part, rng)
            wait_until(
                lambda done=done: counters(store).get("ingest_messages", 0) >= done + 20,
                30,
                "the worker to commit part of the stream",
                every=0.005,
            )
            worker.kill()  # mid-stream: some committed, more in flight or queued
            worker.start()
            worker.wait_subscribed()
        sent |= _publish(node, "m1", stamps[160:], rng)
        wait_until(lambda: node.acked >= node.published, 30, "PUBACKs")
        wait_until(
            lambda: counters(store).get("ingest_readings", 0) == 4 * len(sent), 60, "every row"
        )
        assert worker.terminate() == 0
    finally:
        if node is not None:
            node.close()
        worker.kill()
    _assert_landed(store, plant, "m1", sent)
    assert _raw_repeats(store) == 0
    c = counters(store)
    assert c.get("dead_letters", 0) == 0, c
    assert c["ingest_messages"] >= 3 + 2 * len(stamps)  # births, DDATA; redeliveries on top
    assert c.get("sparkplug_seq_gaps", 0) == 0 and c.get("sparkplug_rebirth_requests", 0) == 0


@pytest.mark.parametrize(
    ("kwargs", "refused"),
    [({"shared": True}, True), ({"partition": (1, 2)}, True), ({"partition": (0, 2)}, False)],
)
def test_sparkplug_needs_one_worker(
    plant_path: Path, tmp_path: Path, kwargs: dict, refused: bool
) -> None:
    plant = load_plant(plant_path)
    worker = IngestWorker("mqtt://127.0.0.1:1", tmp_path, plant, sparkplug=True, **kwargs)
    if refused:
        with pytest.raises(ConfigError, match="--sparkplug needs one worker"):
            worker._validate()
    else:
        worker._validate()
        assert "spBv1.0/plantA/DDATA/+/+" in worker.subscriptions


@pytest.mark.integration
def test_simulated_plant_as_edge_nodes_lands_once(mosquitto, tmp_path: Path) -> None:
    """`phm simulate plant --sparkplug`: rows streams as DDATA, vibration stays native; every
    reading published lands, none dead-lettered."""
    from phm.sim.plant import run_plant_simulation

    plant = load_plant(assets=3)
    store = tmp_path / "store"
    worker = IngestWorker(mosquitto.url, store, plant, compact_every_s=0, sparkplug=True).start()
    try:
        wait_until(lambda: worker.subscribed, 15, "the worker to subscribe")
        stats = run_plant_simulation(
            plant, mosquitto.url, speed=200.0, duration_s=2.0, sparkplug=True
        )
        total = stats.sparkplug_readings + sum(stats.readings.values())
        wait_until(lambda: worker.stats.readings == total, 20, "every reading committed")
    finally:
        worker.stop()
    assert stats.undelivered == 0 and stats.sparkplug_messages > 0
    assert set(stats.readings) == {"vibration"}  # the rows streams went as Sparkplug
    c = counters(store)
    assert c.get("dead_letters", 0) == 0 and c["sparkplug_deaths"] == len(
        sparkplug_map(plant).edge_nodes
    )
    rows = sum(
        _rows(store, plant, a, s).height * len(plant.stream(a, s).channels)
        for a in plant.assets
        for s in ("process", "temperature")
        if s in plant.types[plant.assets[a].type].streams
    )
    assert rows == stats.sparkplug_readings
    assert _raw_repeats(store) == 0


_CRASHING_WORKER = """
import logging, os, sys
from phm.ingest.sparkplug import SparkplugHost
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.store.state import StateStore

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
where, url, store, client_id, plant = sys.argv[1:6]
real_commit, real_persist = StateStore.commit_ingest, SparkplugHost.persist
calls = [0]

def commit_ingest(self, *args, **kwargs):  # the 3rd commit dies around its steps
    calls[0] += 1
    if calls[0] == 3 and where == "before_commit":  # lake files written, not committed
        os._exit(9)
    real_commit(self, *args, **kwargs)

def persist(self):
    if calls[0] == 3 and where == "before_persist":  # committed, node state not kept
        os._exit(9)
    real_persist(self)
    if calls[0] == 3 and where == "before_ack":  # committed and kept, never acknowledged
        os._exit(9)

StateStore.commit_ingest = commit_ingest
SparkplugHost.persist = persist
IngestWorker(
    url, store, load_plant(plant), client_id, batch_max=8, batch_ms=20, sparkplug=True
).run()
"""


@pytest.mark.integration
@pytest.mark.parametrize("where", ["before_commit", "before_persist", "before_ack"])
def test_worker_dying_around_commit_and_persist_loses_nothing(
    mosquitto, plant_path: Path, tmp_path: Path, where: str
) -> None:
    """The windows a random SIGKILL rarely hits: before the lake commit (orphans, all
    redelivered in sequence), between the commit and the node state (redelivered in sequence,
    duplicates), between the node state and the acks (redelivered off sequence: replays)."""
    from phm.sim.sparkplug_node import SparkplugEdgeNode

    plant = load_plant(plant_path)
    devices = list(sparkplug_map(plant).devices.values())
    store = tmp_path / "store"
    crashing = WorkerProcess(mosquitto.url, store, "ingest-crash")
    crashing.args = [crashing.args[0], "-c", _CRASHING_WORKER, where, mosquitto.url, str(store)]
    crashing.args += ["ingest-crash", str(plant_path)]
    crashing.start()
    args = ("--plant", str(plant_path), "--sparkplug", "--batch-max", "8", "--batch-ms", "20")
    worker = WorkerProcess(mosquitto.url, store, "ingest-crash", *args)
    rng = np.random.default_rng(2)
    base = int(time.time() * 1000) - 600_000
    node = None
    try:
        crashing.wait_subscribed()
        node = SparkplugEdgeNode(mosquitto.url, "plantA", "gw-s1", devices, bdseq=3)
        sent = _publish(node, "m1", [base + i * 1000 for i in range(30)], rng)
        assert crashing.proc.wait(30) == 9, crashing.output()[-3000:]
        worker._subscriptions = crashing.output().count("ingest: subscribed")  # same log file
        worker.start().wait_subscribed()
        wait_until(
            lambda: counters(store).get("ingest_readings", 0) == 4 * len(sent), 30, "every row"
        )
        assert worker.terminate() == 0
    finally:
        if node is not None:
            node.close()
        crashing.kill()
        worker.kill()
    _assert_landed(store, plant, "m1", sent)
    assert _raw_repeats(store) == 0
    c = counters(store)
    assert c.get("dead_letters", 0) == 0 and c.get("sparkplug_seq_gaps", 0) == 0, c
    if where == "before_ack":
        assert c["sparkplug_replays"] > 0 and c["ingest_duplicates"] > 0
    elif where == "before_persist":
        assert c["ingest_duplicates"] > 0 and c.get("sparkplug_replays", 0) == 0


def _bad_string(seq: int) -> bytes:
    p = spb.Payload(timestamp=T0, seq=seq)
    m = p.metrics.add(alias=3, timestamp=T0, datatype=int(spb.DataType.String))
    m.string_value = "fast"
    return p.SerializeToString()


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (_topic("DDATA", "m1"), _ddata(2, T0, [1.0, 2.0], aliases=(2, 3)), "partial_row"),
        (_topic("DDATA", "m1"), _bad_string(2), "sparkplug_bad_metric"),
        (_topic("DBIRTH", "ghost"), _dbirth(2), "sparkplug_unknown_device"),
        (_topic("DDATA", "m1"), _ddata(2, T0 + 10**9, [1, 2, 3, 4]), "future_timestamp"),
        (_topic("DDATA", "m1"), _ddata(2, T0, [math.inf, 2, 3, 4]), "not_finite"),
        (_topic("DDATA", "m1"), _ddata(2, 0, [1, 2, 3, 4]), "sparkplug_no_timestamp"),
        (_topic("DDATA", "m1"), _ddata(2, T0, [1, None, 3, 4]), None),  # ambient_c: nullable
    ],
    ids=["partial", "string", "ghost", "future", "inf", "no_time", "null_nullable"],
)
def test_rows_are_checked_as_native_payloads(
    plant_path: Path, tmp_path: Path, topic: str, payload: bytes, reason: str | None
) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    host = SparkplugHost(load_plant(plant_path), state)
    msgs = [
        Msg(_topic("NBIRTH"), _nbirth()),
        Msg(_topic("DBIRTH", "m1"), _dbirth(1)),
        Msg(topic, payload),
    ]
    host.translate(msgs)
    state.close()
    result = msgs[-1].decoded
    if reason is None:
        assert [(b.stream, b.seq) for b in result] == [("process", T0), ("temperature", T0)]
    else:
        assert isinstance(result, tuple) and result[0].endswith(reason), result
        assert topic in result[1]
