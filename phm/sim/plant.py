"""`phm simulate plant`: a simulated plant publishing its sensors over MQTT, in accelerated time.

Every asset of `load_plant(path, assets=N)` gets a scenario fixed by the seed: most pumps
develop one fault (`phm.sim.rotating`: random mode, cause, onset and time to failure), some
stay healthy; ion mill tools stream PHM 2018 process rows with their flow-cool faults, rendered
by the PHM 2018 simulator (`phm.sim.ion_mill`). Ground truth never travels over MQTT;
`truth_path` receives it as JSON lines at start.

Time. Simulated life time runs `speed` times faster than the wall clock, but a receiver rejects
timestamps more than `max_future_s` ahead of its clock. So payload times are *backdated*: the
simulated span H (duration x speed, or without a duration the longest pump life to its
repair, + 5%) is laid out to end at the wall-clock time the run would end, `anchor =
wall_start - H`, and a reading at
life time t carries the Unix time `anchor + t`. The simulator publishes a reading only once
life time has reached it, with life(e) = min(e x speed, H + e) after e wall seconds, so every
timestamp is at most `now`: replay runs fast while behind the present, then goes on in real
time (after H a run without a duration continues at 1x). Spacing between rows is the true
simulated one (1 s for pump process rows), so features computed on the lake see real rates.
The truth file gives each onset and failure both in life seconds and in payload Unix time.

Repairs. A pump that reaches its failure keeps its failed signature (it is left running, worn
out) for `repair_after_s` of simulated time (default REPAIR_AFTER_S; `phm simulate plant
--repair-after-h`; None: never), then is repaired: from then on it renders as the same pump
without its fault (`RepairedPump`), so a long demo does not end with a fleet of failed pumps
and the repaired pump's alert clears. The truth file gives `repaired_s` / `repaired_time`.

Payloads: rows streams carry `rows_per_payload` rows (uniformly spaced; an ion mill's gaps
between lots and its rare jittered rows split a payload), vibration one snapshot per payload
every `snapshot_every_s` simulated seconds. `seq` starts at the start time in microseconds and
grows by one per payload per (asset, stream).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from phm.datasets.phm2018_layout import FAULT_MODES as ION_MILL_MODES
from phm.datasets.phm2018_layout import SAMPLE_PERIOD_S, SENSOR_COLUMNS
from phm.datasets.run import Run, Waveforms
from phm.errors import ConfigError
from phm.plant import Asset, Plant, pump_spec
from phm.sim.ion_mill import SimulatedTool
from phm.sim.publisher import MAX_INFLIGHT, PlantPublisher
from phm.sim.rotating import FaultScenario, PumpSimulator
from phm.wire.codec import encode
from phm.wire.topics import topic_for

HEALTHY_FRACTION = 0.25  # pumps that stay healthy
REPAIR_AFTER_S = 8 * 3600.0  # simulated time from a pump's failure to its repair
PUMP_LIFE_RANGE_S = (86_400.0, 4 * 86_400.0)  # time to failure, log-uniform
ION_MILL_CAUSES = {
    "pressure_low": "clogged flow-cool filter",
    "pressure_high": "flow restriction / failing flow-cool pump",
    "leak": "flow-cool line or seal leak",
}
ION_MILL_EXTRA_S = 7 * 86_400  # schedule drawn this far past H; the tool then goes quiet
TICK_S = 0.05  # wall seconds between publishing rounds
PAYLOADS_PER_WALL_S = 4.0  # default rows per payload aims at this many payloads per stream
MAX_ROWS_PER_PAYLOAD = 5000

log = logging.getLogger(__name__)


@dataclass
class SimStats:
    """What a simulation run published: messages and readings per stream, acknowledgements."""

    messages: dict[str, int] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    acked: int = 0  # delivered: PUBACK success (MQTT 5: not "no matching subscribers")
    no_subscribers: int = 0  # PUBACKs "no matching subscribers": republished after a backoff
    undelivered: int = 0  # at the end: published but never delivered
    wall_s: float = 0.0
    life_s: float = 0.0  # simulated seconds reached
    # --sparkplug: rows sent as Sparkplug B DDATA (not in `messages`), and births answered
    sparkplug_messages: int = 0
    sparkplug_readings: int = 0
    sparkplug_acked: int = 0
    sparkplug_rebirths: int = 0

    @property
    def published(self) -> int:
        return sum(self.messages.values())

    def add(self, stream: str, readings: int, size: int) -> None:
        self.messages[stream] = self.messages.get(stream, 0) + 1
        self.readings[stream] = self.readings.get(stream, 0) + readings
        self.bytes += size


# --- scenarios ----------------------------------------------------------------------------------
def _asset_rng(seed: int, asset_id: str, purpose: int) -> np.random.Generator:
    key = (zlib.crc32(asset_id.encode()), purpose)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def pump_scenario(asset_id: str, seed: int) -> FaultScenario | None:
    """The fault a pump develops under this seed, or None for one that stays healthy."""
    rng = _asset_rng(seed, asset_id, 99)
    if rng.random() < HEALTHY_FRACTION:
        return None
    return FaultScenario.draw(rng, PUMP_LIFE_RANGE_S)


def pump_simulator(asset: Asset | str, plant: Plant, seed: int) -> PumpSimulator:
    """The PumpSimulator of one pump of the plant, with its scenario under this seed."""
    asset = plant.assets[asset] if isinstance(asset, str) else asset
    if asset.type != "pump":
        raise ConfigError(f"asset {asset.asset_id!r} is a {asset.type!r}, not a pump")
    spec = plant.stream(asset.asset_id, "vibration")
    pump = pump_spec(plant)
    fault = pump_scenario(asset.asset_id, seed)
    return PumpSimulator(asset.asset_id, pump, seed, fault, spec.sampling_hz, spec.samples)


class RepairedPump:
    """A failing pump repaired `repair_after_s` after its failure: rows and snapshots at life
    t come from `failing` before the repair and from `healthy` (the same pump without its
    fault, life restarted at the repair) from then on. Quacks like the PumpSimulator the
    row sources render from."""

    def __init__(self, failing: PumpSimulator, healthy: PumpSimulator, repair_after_s: float):
        assert failing.fault is not None
        if repair_after_s < 0:
            raise ConfigError(f"repair_after_s must be >= 0, got {repair_after_s}")
        self.failing, self.healthy, self.fault = failing, healthy, failing.fault
        self.repaired_s = failing.fault.failure_s + float(repair_after_s)

    def _rows(self, name: str, times: np.ndarray, tick: int | None) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        after = times >= self.repaired_s
        if not after.any():
            return getattr(self.failing, name)(times, tick)
        if after.all():
            return getattr(self.healthy, name)(times - self.repaired_s, tick)
        before = getattr(self.failing, name)(times[~after], tick)
        out = np.empty((len(times), before.shape[1]), dtype=before.dtype)
        out[~after] = before
        out[after] = getattr(self.healthy, name)(times[after] - self.repaired_s, tick)
        return out

    def process_rows(self, times: np.ndarray, tick: int | None = None) -> np.ndarray:
        return self._rows("process_rows", times, tick)

    def temperature_rows(self, times: np.ndarray, tick: int | None = None) -> np.ndarray:
        return self._rows("temperature_rows", times, tick)

    def snapshot(self, t: float) -> np.ndarray:
        if t >= self.repaired_s:
            return self.healthy.snapshot(t - self.repaired_s)
        return self.failing.snapshot(t)


def repaired_pump(
    asset: Asset, plant: Plant, seed: int, repair_after_s: float | None
) -> PumpSimulator | RepairedPump:
    """The pump's simulator, repaired `repair_after_s` after its failure (None: never)."""
    sim = pump_simulator(asset, plant, seed)
    if sim.fault is None or repair_after_s is None:
        return sim
    healthy = PumpSimulator(asset.asset_id, sim.spec, seed, None, sim.fs, sim.samples)
    return RepairedPump(sim, healthy, repair_after_s)


def default_horizon_s(
    plant: Plant, seed: int, repair_after_s: float | None = REPAIR_AFTER_S
) -> float:
    """Simulated span of a run without a duration: the longest pump life (to its repair when
    pumps are repaired), plus 5%."""
    extra = 0.0 if repair_after_s is None else float(repair_after_s)
    lives = [
        s.failure_s + extra
        for a in plant.assets.values()
        if a.type == "pump" and (s := pump_scenario(a.asset_id, seed)) is not None
    ]
    return 1.05 * max(lives, default=PUMP_LIFE_RANGE_S[1])


# --- row sources --------------------------------------------------------------------------------
class _Source:
    """Payloads of one (asset, stream): `ready(life_now, final)` yields (life t0, dt, values)."""

    def ready(self, life_now: float, final: bool) -> Iterator[tuple[float, float, np.ndarray]]:
        raise NotImplementedError


class _PumpRows(_Source):
    """Uniform rows in fixed blocks of `rpp` rows; block k is noise-keyed by k (deterministic)."""

    def __init__(self, render: Callable[..., np.ndarray], dt: float, rpp: int) -> None:
        self.render, self.dt, self.rpp, self.block, self.done_rows = render, dt, rpp, 0, 0

    def ready(self, life_now: float, final: bool) -> Iterator[tuple[float, float, np.ndarray]]:
        while True:
            first = self.block * self.rpp
            start = max(first, self.done_rows)
            last_full = first + self.rpp - 1
            if last_full * self.dt <= life_now:
                stop = last_full + 1
            elif final and start * self.dt <= life_now:
                stop = int(life_now // self.dt) + 1
            else:
                return
            times = np.arange(start, stop) * self.dt
            values = self.render(times, tick=self.block)
            self.done_rows = stop
            if stop == last_full + 1:
                self.block += 1
            yield float(times[0]), self.dt, values
            if final and stop != last_full + 1:
                return


class _Snapshots(_Source):
    def __init__(self, sim: PumpSimulator | RepairedPump, every_s: float) -> None:
        self.sim, self.every, self.k = sim, every_s, 0

    def ready(self, life_now: float, final: bool) -> Iterator[tuple[float, float, np.ndarray]]:
        while self.k * self.every <= life_now:
            t = self.k * self.every
            self.k += 1
            yield t, 0.0, self.sim.snapshot(t)[None]


def _split(times: np.ndarray, dt: float, rpp: int, final: bool) -> tuple[list[slice], int]:
    """Payload slices of uniformly spaced runs of at most rpp rows, and rows consumed. The last
    run's partial tail waits for more rows unless `final`."""
    breaks = np.flatnonzero(np.abs(np.diff(times) - dt) > 1e-6) + 1
    bounds = [0, *breaks.tolist(), len(times)]
    out: list[slice] = []
    for a, b in itertools.pairwise(bounds):
        for s in range(a, b, rpp):
            e = min(s + rpp, b)
            if e - s < rpp and b == len(times) and not final:
                return out, s
            out.append(slice(s, e))
    return out, len(times)


def _hold_last(values: np.ndarray) -> np.ndarray:
    """NaN replaced by the channel's previous value (0 before any), as a historian would hold it."""
    bad = np.isnan(values)
    if not bad.any():
        return values
    idx = np.where(bad, 0, np.arange(len(values))[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    held = values[idx, np.arange(values.shape[1])]
    return np.where(np.isnan(held), 0.0, held)


class IonMillRows(_Source):
    """A PHM 2018 tool's process rows (22 channels, 4 s apart within lots) from the PHM 2018
    simulator, in life seconds since the tool's first row; `faults` are its fault cycles."""

    def __init__(self, index: int, seed: int, horizon_s: float, rpp: int, nullable=()) -> None:
        sim = SimulatedTool.draw(seed, index, int(horizon_s) + ION_MILL_EXTRA_S)
        self.tool, self.cycles = sim.tool, sim.cycles
        self._groups = sim.render()
        self.channels = SENSOR_COLUMNS[2:]
        self._nullable = np.array([c in nullable for c in self.channels])
        self.rpp, self.dt = rpp, float(SAMPLE_PERIOD_S)
        self._times = np.zeros(0)
        self._values = np.zeros((0, len(self.channels)))
        self._exhausted = False

    def faults(self) -> list[tuple[str, float, float]]:
        """(mode, onset life s, failure life s) of every fault cycle in the schedule."""
        t0 = self.tool.t_start
        return [
            (ION_MILL_MODES[c.mode], float(c.t_pre - t0), float(c.tf - t0))
            for c in self.cycles
            if c.mode >= 0
        ]

    def _render_more(self) -> bool:
        cols = next(self._groups, None)
        if cols is None:
            self._exhausted = True
            return False
        values = np.stack([np.asarray(cols[c], np.float64) for c in self.channels], axis=1)
        keep = values[:, ~self._nullable]
        values[:, ~self._nullable] = _hold_last(keep)
        self._times = np.concatenate([self._times, cols["time"] - self.tool.t_start])
        self._values = np.concatenate([self._values, values])
        return True

    def ready(self, life_now: float, final: bool) -> Iterator[tuple[float, float, np.ndarray]]:
        while not self._exhausted and (not self._times.size or self._times[-1] <= life_now):
            self._render_more()
        n = int(np.searchsorted(self._times, life_now, side="right"))
        # the run holding row n-1 is closed when the next known row does not continue it
        t = self._times
        closed = n < len(t) and n > 0 and abs(t[n] - t[n - 1] - self.dt) > 1e-6
        slices, used = _split(t[:n], self.dt, self.rpp, final or closed)
        for s in slices:
            yield float(self._times[s.start]), self.dt, self._values[s]
        self._times, self._values = self._times[used:], self._values[used:]


# --- publishing ---------------------------------------------------------------------------------
def parse_broker(url: str) -> tuple[str, int]:
    """`mqtt://host:port` -> (host, port), as the ingest worker reads it (port 1883 by default)."""
    from phm.wire.mqtt import parse_broker_url

    address = parse_broker_url(url)
    return address.host, address.port


def default_rows_per_payload(speed: float, hz: float) -> int:
    """About PAYLOADS_PER_WALL_S payloads per wall second, at least 10 rows each."""
    return int(min(MAX_ROWS_PER_PAYLOAD, max(10, math.ceil(speed * hz / PAYLOADS_PER_WALL_S))))


def _truth_lines(
    plant: Plant,
    seed: int,
    anchor: float,
    pumps: dict[str, PumpSimulator | RepairedPump],
    mills: dict[str, IonMillRows],
) -> list[dict[str, Any]]:
    lines = []
    for aid, asset in plant.assets.items():
        base = {"asset": aid, "type": asset.type, "seed": seed}
        events: list[tuple[str, str, float, float]] = []
        repair: dict[str, float] = {}
        if aid in pumps and pumps[aid].fault is not None:
            f = pumps[aid].fault
            assert f is not None
            events = [(f.mode, f.root_cause, f.onset_s, f.failure_s)]
            sim = pumps[aid]
            if isinstance(sim, RepairedPump):
                repair = {"repaired_s": sim.repaired_s, "repaired_time": anchor + sim.repaired_s}
        elif aid in mills:
            events = [(m, ION_MILL_CAUSES[m], a, b) for m, a, b in mills[aid].faults()]
        if not events:
            lines.append(base | {"mode": "healthy", "root_cause": None})
        for mode, cause, onset, failure in events:
            lines.append(
                base
                | {
                    "mode": mode,
                    "root_cause": cause,
                    "onset_s": onset,
                    "failure_s": failure,
                    "onset_time": anchor + onset,
                    "failure_time": anchor + failure,
                }
                | repair
            )
    return lines


def run_plant_simulation(
    plant: Plant,
    broker_url: str,
    speed: float,
    duration_s: float | None = None,
    seed: int = 0,
    truth_path: str | Path | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[SimStats], None] | None = None,
    rows_per_payload: int | None = None,
    snapshot_every_s: float = 600.0,
    protocol: str = "5",
    repair_after_s: float | None = REPAIR_AFTER_S,
    sparkplug: bool = False,
) -> SimStats:
    """Publish the plant's simulated streams to `broker_url` until duration_s wall seconds have
    passed (None: until `stop` is set or Ctrl-C), then wait for the PUBACKs (see module doc).
    `protocol` "3.1.1" for brokers without MQTT 5 (the embedded amqtt broker);
    `repair_after_s`: simulated time from a pump's failure to its repair (None: never);
    `sparkplug`: the rows streams the plant's Sparkplug mapping names go out as Sparkplug B
    edge nodes (phm.sim.sparkplug_node), the other streams as native payloads."""
    if speed <= 0 or (duration_s is not None and duration_s <= 0) or snapshot_every_s <= 0:
        raise ConfigError(
            f"need speed > 0, duration > 0, snapshot_every > 0; got {speed}, {duration_s}, "
            f"{snapshot_every_s}"
        )
    stop = stop or threading.Event()
    horizon = (
        duration_s * speed
        if duration_s is not None
        else default_horizon_s(plant, seed, repair_after_s)
    )
    wall_start = time.time()
    anchor = wall_start - horizon
    seq0 = int(wall_start * 1e6)
    pumps: dict[str, PumpSimulator | RepairedPump] = {}
    mills: dict[str, IonMillRows] = {}
    sources: list[tuple[str, str, str, tuple[str, ...], float, _Source]] = []
    for index, (aid, asset) in enumerate(plant.assets.items()):
        streams = plant.types[asset.type].streams
        topic = {s: topic_for(asset.site, asset.line, aid, s) for s in streams}

        rpp = {
            name: rows_per_payload or default_rows_per_payload(speed, spec.sampling_hz or 1.0)
            for name, spec in streams.items()
        }

        if asset.type == "pump":
            sim = pumps[aid] = repaired_pump(asset, plant, seed, repair_after_s)
            for name, render in (
                ("process", sim.process_rows),
                ("temperature", sim.temperature_rows),
            ):
                spec = streams[name]
                src = _PumpRows(render, 1.0 / spec.sampling_hz, rpp[name])
                sources.append((aid, name, topic[name], spec.channels, 0.0, src))
            spec = streams["vibration"]
            src = _Snapshots(sim, snapshot_every_s)
            sources.append(
                (aid, "vibration", topic["vibration"], spec.channels, spec.sampling_hz, src)
            )
        elif asset.type == "ion_mill":
            spec = streams["process"]
            mill = mills[aid] = IonMillRows(index, seed, horizon, rpp["process"], spec.nullable)
            if mill.channels != spec.channels:
                raise ConfigError(f"{plant.source}: ion_mill process channels differ from PHM 2018")
            sources.append((aid, "process", topic["process"], spec.channels, 0.0, mill))
        else:
            raise ConfigError(f"asset {aid!r}: no simulator for asset type {asset.type!r}")
    if truth_path is not None:
        truth = _truth_lines(plant, seed, anchor, pumps, mills)
        Path(truth_path).parent.mkdir(parents=True, exist_ok=True)
        Path(truth_path).write_text("".join(json.dumps(t) + "\n" for t in truth))

    stats = SimStats()
    seqs = {(aid, stream): seq0 for aid, stream, *_ in sources}
    pub = PlantPublisher(broker_url, f"phm-sim-{plant.name}-{seed}-{os.getpid()}", protocol)
    nodes: dict[str, Any] = {}  # edge node id -> SparkplugEdgeNode
    node_of: dict[tuple[str, str], Any] = {}  # (asset, stream) sent as Sparkplug -> its node
    if sparkplug:
        from phm.plant import sparkplug_map
        from phm.sim.sparkplug_node import SparkplugEdgeNode

        mapping = sparkplug_map(plant)
        for name in mapping.edge_nodes:
            devices = [d for (node, _), d in mapping.devices.items() if node == name]
            nodes[name] = SparkplugEdgeNode(
                broker_url, mapping.group, name, devices, bdseq=int(wall_start) % 256
            )
            for d in devices:
                for stream, _channel in d.metrics.values():
                    node_of[d.asset, stream] = nodes[name]
    began = time.monotonic()
    last_progress = began

    def publish_round(life_now: float, final: bool) -> None:
        for aid, stream, topic, channels, fs, src in sources:
            for t0, dt, values in src.ready(life_now, final):
                node = node_of.get((aid, stream))
                if node is not None:
                    times = anchor + t0 + dt * np.arange(len(values))
                    stats.sparkplug_readings += node.publish_rows(
                        aid, stream, channels, times, values
                    )
                    stats.sparkplug_messages += 1
                    continue
                payload = encode(seqs[aid, stream], anchor + t0, values, channels, dt=dt, fs=fs)
                seqs[aid, stream] += 1
                pub.publish(topic, payload)
                stats.add(stream, int(values.size), len(payload))

    life_now = 0.0
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - began
            done = duration_s is not None and elapsed >= duration_s
            if done:
                elapsed = duration_s
            life_now = min(elapsed * speed, horizon + elapsed)
            publish_round(life_now, final=False)
            stats.acked, stats.life_s, stats.wall_s = pub.acked, life_now, elapsed
            stats.no_subscribers = pub.no_subscribers
            if on_progress is not None and time.monotonic() - last_progress >= 1.0:
                last_progress = time.monotonic()
                on_progress(stats)
            if done:
                break
            # back-pressure: let the broker catch up rather than queue without bound
            while (
                stats.published - pub.acked - pub.refused > 20 * MAX_INFLIGHT and not stop.is_set()
            ):
                time.sleep(0.01)
            time.sleep(TICK_S)
    except KeyboardInterrupt:
        pass
    finally:
        publish_round(life_now, final=True)
        stats.undelivered = pub.close(stats.published)
        for node in nodes.values():
            stats.undelivered += node.close()
            stats.sparkplug_acked += node.acked
            stats.sparkplug_rebirths += node.rebirths
        stats.acked, stats.life_s = pub.acked, life_now
        stats.no_subscribers = pub.no_subscribers
        stats.wall_s = time.monotonic() - began
    return stats


# --- offline history ----------------------------------------------------------------------------
def simulate_history(
    asset: Asset | str,
    plant: Plant,
    seed: int = 0,
    life_s: float | None = None,
    step_s: float = 600.0,
) -> Run:
    """A labelled run of one pump from life 0 to life_s (default: its failure, or the longest
    pump life for a healthy one), one row and one snapshot every step_s, with the generator and
    scenario `phm simulate plant` uses for the same seed.

    signals: time (life s) + process + temperature channels; waveforms (S, 2, L); labels: time,
    rul_s (failure - time; NaN for a healthy pump), severity, fault_class ("healthy" until onset).
    """
    sim = pump_simulator(asset, plant, seed)
    aid = sim.asset_id
    fault = sim.fault
    if life_s is None:
        life_s = fault.failure_s if fault is not None else PUMP_LIFE_RANGE_S[1]
    if life_s <= 0 or step_s <= 0:
        raise ConfigError(f"need life_s > 0 and step_s > 0, got {life_s}, {step_s}")
    times = np.arange(0.0, life_s + 1e-9, step_s)
    streams = plant.types["pump"].streams
    proc = sim.process_rows(times, tick=0)
    temp = sim.temperature_rows(times, tick=0)
    cols = {"time": times}
    cols |= {c: proc[:, i] for i, c in enumerate(streams["process"].channels)}
    cols |= {c: temp[:, i] for i, c in enumerate(streams["temperature"].channels)}
    severity = sim.severity(times)
    mode = fault.mode if fault is not None else "healthy"
    labels = pl.DataFrame(
        {
            "time": times,
            "rul_s": fault.failure_s - times if fault is not None else np.full(times.size, np.nan),
            "severity": severity,
            "fault_class": np.where(severity > 0, mode, "healthy"),
        }
    )
    events = None
    if fault is not None and fault.failure_s <= life_s:
        events = pl.DataFrame({"time": [fault.failure_s], "fault_mode": [fault.mode]})
    spec = streams["vibration"]
    return Run(
        asset_id=aid,
        asset_type="pump",
        signals=pl.DataFrame(cols),
        meta=dict(sim.meta)
        | {
            "seed": seed,
            "fault_mode": mode,
            "root_cause": fault.root_cause if fault is not None else None,
            "onset_s": fault.onset_s if fault is not None else None,
            "failure_s": fault.failure_s if fault is not None else None,
        },
        waveforms=Waveforms(times, spec.sampling_hz, spec.channels, sim.snapshots(times)),
        events=events,
        labels=labels,
        fault_class=mode,
    )
