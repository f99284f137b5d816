"""The fleet simulation: scenarios, payload splitting, offline history, and a real Mosquitto run."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from phm.plant import load_plant
from phm.sim.plant import (
    IonMillRows,
    _split,
    default_rows_per_payload,
    parse_broker,
    pump_scenario,
    run_plant_simulation,
    simulate_history,
)
from phm.sim.rotating import FAULT_MODES
from phm.wire.codec import decode
from phm.wire.topics import parse_topic

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def test_scenarios_are_deterministic_and_mostly_faulty() -> None:
    ids = [f"pump-{i:03d}" for i in range(1, 201)]
    a = [pump_scenario(i, 5) for i in ids]
    assert a == [pump_scenario(i, 5) for i in ids]
    assert a != [pump_scenario(i, 6) for i in ids]
    healthy = sum(s is None for s in a)
    assert 20 < healthy < 80  # ~25% stay healthy
    assert {s.mode for s in a if s is not None} == set(FAULT_MODES)


def test_split_keeps_uniform_runs_and_holds_back_the_tail() -> None:
    t = np.array([0, 4, 8, 12, 16, 20, 25, 29, 33, 100, 104], float)
    slices, used = _split(t, 4.0, 3, final=False)
    assert [(s.start, s.stop) for s in slices] == [(0, 3), (3, 6), (6, 9)]
    assert used == 9  # the open run [100, 104] waits for more rows
    slices, used = _split(t, 4.0, 3, final=True)
    assert [(s.start, s.stop) for s in slices][-1] == (9, 11) and used == 11
    for s in slices:
        assert np.allclose(np.diff(t[s]), 4.0)


def test_rows_per_payload_follows_speed() -> None:
    assert default_rows_per_payload(1.0, 1.0) == 10
    assert default_rows_per_payload(4000.0, 1.0) == 1000
    assert default_rows_per_payload(1e9, 1.0) == 5000


def test_parse_broker() -> None:
    assert parse_broker("mqtt://example:1999") == ("example", 1999)
    assert parse_broker("mqtt://h") == ("h", 1883)
    with pytest.raises(Exception, match="mqtt://host:port"):
        parse_broker("http://h:1")


def test_ion_mill_rows_stream_phm2018_channels_in_order() -> None:
    plant = load_plant()
    spec = plant.stream("ion_mill-001", "process")
    src = IonMillRows(0, 0, 30 * 86_400.0, 50, spec.nullable)
    assert src.channels == spec.channels
    got = list(src.ready(20_000.0, final=False))
    assert got, "an ion mill runs lots within its first ~6 hours"
    t_prev = -1.0
    for t0, dt, values in got:
        assert dt == 4.0 and 1 <= len(values) <= 50 and values.shape[1] == 22
        assert t0 > t_prev and t0 + dt * (len(values) - 1) <= 20_000.0
        t_prev = t0 + dt * (len(values) - 1)
        keep = ~np.isin(spec.channels, spec.nullable)
        assert np.isfinite(values[:, keep]).all()
    assert src.faults() and all(0 <= a < b for _, a, b in src.faults())


def test_simulate_history_shapes_and_labels() -> None:
    plant = load_plant()
    aid = next(a for a in plant.assets if pump_scenario(a, 0) is not None)
    scen = pump_scenario(aid, 0)
    run = simulate_history(aid, plant, seed=0, step_s=scen.failure_s / 40)
    n = 41
    assert run.signals.height == n and run.labels.height == n
    assert run.signals.columns == [
        "time",
        *plant.stream(aid, "process").channels,
        *plant.stream(aid, "temperature").channels,
    ]
    assert run.waveforms.data.shape == (n, 2, 4096) and run.waveforms.data.dtype == np.float32
    assert run.fault_class == scen.mode and run.meta["root_cause"] == scen.root_cause
    rul = run.labels["rul_s"].to_numpy()
    assert rul[0] == pytest.approx(scen.failure_s) and rul[-1] == pytest.approx(0, abs=1e-6)
    assert np.all(np.diff(rul) < 0)
    classes = run.labels["fault_class"].to_list()
    assert classes[0] == "healthy" and classes[-1] == scen.mode
    sev = run.labels["severity"].to_numpy()
    assert np.all(np.diff(sev) >= 0) and sev[-1] == pytest.approx(1.0)
    assert run.events["fault_mode"].to_list() == [scen.mode]
    # the same generator as the live path: a snapshot at the same life time is identical
    from phm.sim.plant import pump_simulator

    sim = pump_simulator(aid, plant, 0)
    t = float(run.waveforms.times[5])
    np.testing.assert_array_equal(run.waveforms.data[5], sim.snapshot(t))


# --- integration against a real Mosquitto -------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A Mosquitto on a free local port, started and stopped by its own process handle."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            "max_queued_messages 100000\nmax_inflight_messages 1000\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def test_publishes_every_message_decodable_in_order(broker, tmp_path: Path) -> None:
    url, port = broker.url, broker.port
    plant = load_plant(assets=3)
    received: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t-sub", protocol=mqtt.MQTTv5)
    sub.on_connect = lambda c, *a: c.subscribe("phm/v1/#", qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, m: received.append((m.topic, m.payload))
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    assert subscribed.wait(5)
    truth = tmp_path / "truth.jsonl"
    began = time.time()
    stats = run_plant_simulation(plant, url, speed=4000, duration_s=3.0, seed=1, truth_path=truth)
    deadline = time.monotonic() + 10
    while len(received) < stats.published and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.loop_stop()
    sub.disconnect()

    assert stats.acked == stats.published > 50
    assert len(received) == stats.published  # nothing lost
    seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
    readings: dict[str, int] = defaultdict(int)
    now = time.time()
    for topic, payload in received:
        t = parse_topic(topic)
        batch = decode(payload, t.asset, t.stream, plant, now=now)  # raises on any defect
        assert batch.times[-1] <= now + 1.0  # backdated: never ahead of the clock
        seqs[t.asset, t.stream].append(batch.seq)
        readings[t.stream] += batch.readings
    assert readings == stats.readings
    assert {s for _, s in seqs} == {"process", "temperature", "vibration"}
    for key, values in seqs.items():
        assert np.all(np.diff(values) == 1), key  # strictly increasing, none missing
        assert values[0] >= int(began * 1e6)
    lines = [json.loads(x) for x in truth.read_text().splitlines()]
    assert {x["asset"] for x in lines} == set(plant.assets)
    for x in lines:
        if x["mode"] != "healthy":
            assert x["onset_time"] - x["onset_s"] == pytest.approx(now - 3 * 4000, abs=60)


class Subscriber:
    """A QoS 1 subscriber to phm/v1/# that subscribes again on every (re)connect; MQTT 5
    persistent session (clean_start false, 5 min expiry) when `persistent`."""

    def __init__(self, port: int, client_id: str, persistent: bool = False) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.received: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.on_connect = lambda c, *a: c.subscribe("phm/v1/#", qos=1)
        c.on_subscribe = lambda *a: self.subscribed.set()
        c.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        c.reconnect_delay_set(0.2, 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300 if persistent else 0
        c.connect("127.0.0.1", port, clean_start=not persistent, properties=props)
        c.loop_start()
        assert self.subscribed.wait(5)
        self.client = c

    def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_survives_a_broker_restart(broker) -> None:
    """The broker dies and comes back on the same port: every message is still delivered
    (what was answered "no matching subscribers" before the subscriber came back is sent again)."""
    plant = load_plant(assets=2)
    sub = Subscriber(broker.port, "t-restart")

    def bounce() -> None:
        time.sleep(1.0)
        broker.stop()
        time.sleep(1.0)
        broker.start()

    thread = threading.Thread(target=bounce)
    thread.start()
    try:
        stats = run_plant_simulation(plant, broker.url, speed=2000, duration_s=4.0, seed=2)
    finally:
        thread.join()
        sub.close()
    assert stats.published > 20 and stats.acked == stats.published
    assert stats.undelivered == 0


def test_stop_event_ends_an_open_ended_run_and_flushes(broker) -> None:
    plant = load_plant(assets=1)  # one pump
    sub = Subscriber(broker.port, "t-stop")
    stop = threading.Event()
    progress: list[float] = []

    def on_progress(s) -> None:
        progress.append(s.life_s)

    threading.Timer(1.5, stop.set).start()
    began = time.monotonic()
    stats = run_plant_simulation(plant, broker.url, speed=500, stop=stop, on_progress=on_progress)
    sub.close()
    assert time.monotonic() - began < 5
    assert progress and stats.acked == stats.published
    # the partial blocks were flushed: process rows cover the simulated time reached
    assert stats.readings["process"] == 5 * (int(stats.life_s) + 1)


def _seqs(received: list[tuple[str, bytes]], plant) -> dict[tuple[str, str], set[int]]:
    out: dict[tuple[str, str], set[int]] = defaultdict(set)
    for topic, payload in received:
        t = parse_topic(topic)
        out[t.asset, t.stream].add(decode(payload, t.asset, t.stream, plant, now=time.time()).seq)
    return out


def test_no_matching_subscribers_is_not_delivered_and_is_sent_again(broker) -> None:
    """MQTT 5 PUBACK reason 16 (nobody subscribed) is not a delivery: the simulator republishes
    with a backoff until a subscriber (a persistent session, as ingest's) has it."""
    plant = load_plant(assets=1)
    result: dict = {}

    def simulate() -> None:
        result["stats"] = run_plant_simulation(plant, broker.url, speed=500, duration_s=2.5)

    thread = threading.Thread(target=simulate)
    thread.start()
    time.sleep(1.5)  # everything published so far found no subscriber
    sub = Subscriber(broker.port, "t-late", persistent=True)
    thread.join(30)
    stats = result["stats"]
    sub.wait(stats.published)
    sub.close()
    assert stats.no_subscribers > 0  # the broker said so, and those were sent again
    assert stats.undelivered == 0 and stats.acked == stats.published > 5
    got = _seqs(sub.received, plant)
    assert sum(len(v) for v in got.values()) == stats.published  # every payload arrived
    for key, values in got.items():
        assert max(values) - min(values) + 1 == len(values), key  # none missing


def test_simulate_plant_exits_non_zero_when_nobody_subscribed(broker, capsys) -> None:
    import argparse

    from phm.sim.plant_cli import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--broker", broker.url, "--assets", "1", "--duration", "0.5", "--speed", "100"]
    )
    assert run(args) == 1
    out = capsys.readouterr().out
    assert "0 delivered" in out and "messages reached no subscriber" in out
