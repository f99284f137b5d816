"""`phm bench ingest`: durable ingest rate and latency against a bare subscriber, in one run.

Both legs receive the same payloads (`process` rows, `--rows-per-payload` rows each, round
robin over the fleet's pumps (5 channels) and ion mills (22)) from the same QoS 1 publisher
through the same broker:

- bare: a paho subscriber (QoS 1, automatic acks) that counts messages and stores nothing;
- durable: `IngestWorker` (decode, validate, dedupe, fsynced Parquet + SQLite commit, then ack).

Rates are readings per second from the first publish to the last message received (bare) or
committed (durable). Latency is publish (wall time before `publish()`) to the commit hook, per
payload, p50/p99. Zero loss is checked by counting the readings in the lake afterwards.
Publishing is a burst unless `--rate` paces it, so burst latencies include the backlog.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from phm.bench.results import markdown_table, write_result
from phm.errors import ConfigError
from phm.ingest.worker import IngestWorker
from phm.plant import Plant, load_plant
from phm.wire.codec import encode
from phm.wire.mqtt import make_client, parse_broker_url, redact_url
from phm.wire.topics import topic_for

TARGET_RATIO = 0.60
TARGET_RATE = 200_000.0
STREAM = "process"


class Publisher:
    """A QoS 1 paho publisher with a persistent session and an unbounded client-side queue
    (`max_queued_messages_set(0)`): what cannot be sent while the broker is away is kept and
    sent, with the unacknowledged in-flight messages, after the automatic reconnect."""

    def __init__(
        self,
        broker_url: str,
        client_id: str | None = None,
        protocol: str = "5",
        max_inflight: int = 1000,
    ) -> None:
        address = parse_broker_url(broker_url)
        v5 = protocol == "5"
        self.client = make_client(
            address, client_id or f"phm-pub-{uuid.uuid4().hex[:8]}", protocol, clean_session=False
        )
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.reconnect_delay_set(1, 2)
        self._lock = threading.Lock()
        self._acked = 0
        self._sent = 0
        self._connected = threading.Event()
        self.client.on_publish = self._on_publish
        self.client.on_connect = lambda c, u, f, rc, p: rc.is_failure or self._connected.set()
        self.client.on_disconnect = lambda *a: self._connected.clear()
        kwargs: dict[str, Any] = {}
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect(address.host, address.port, 30, **kwargs)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise ConnectionError(f"publisher could not connect to {address.display}")

    def _on_publish(self, *args: Any) -> None:
        with self._lock:
            self._acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one QoS 1 message (kept across broker outages)."""
        self.client.publish(topic, payload, qos=1)
        self._sent += 1

    def wait_acked(self, timeout: float = 60.0) -> bool:
        """True once the broker acknowledged everything published so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._acked >= self._sent:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def bench_payloads(
    plant: Plant, readings: int, rows_per_payload: int, t0: float, seed: int = 0
) -> list[tuple[str, str, int, bytes, int]]:
    """(topic, asset, seq, payload, readings) of `process` rows totalling >= `readings`, round
    robin over the assets with a process stream (pumps: 5 channels, ion mills: 22)."""
    pumps = [a for a in plant.assets.values() if STREAM in plant.types[a.type].streams]
    if not pumps:
        raise ConfigError(f"{plant.source}: no asset has a rows stream {STREAM!r}")
    rng = np.random.default_rng(seed)
    out = []
    base_seq = int(t0 * 1e6)
    total, i = 0, 0
    while total < readings:
        asset = pumps[i % len(pumps)]
        spec = plant.stream(asset.asset_id, STREAM)
        values = rng.standard_normal((rows_per_payload, len(spec.channels))).astype(np.float32)
        seq = base_seq + i // len(pumps)
        # rows of one payload lie 1 ms apart, payloads of one asset 1 s apart: never future
        start = t0 - 3600.0 + (i // len(pumps)) * 1e-3 * rows_per_payload
        payload = encode(seq, start, values, spec.channels, dt=1e-3)
        topic = topic_for(asset.site, asset.line, asset.asset_id, STREAM)
        out.append((topic, asset.asset_id, seq, payload, int(values.size)))
        total += int(values.size)
        i += 1
    return out


def _pace(k: int, start: float, per_message_s: float) -> None:
    if per_message_s > 0:
        wait = start + k * per_message_s - time.perf_counter()
        if wait > 0:
            time.sleep(wait)


def run_bare(url: str, protocol: str, payloads: list, per_message_s: float) -> dict[str, float]:
    """Publish `payloads` to a bare subscriber; readings/s from first publish to last receipt."""
    address = parse_broker_url(url)
    expected = len(payloads)
    done = threading.Event()
    state = {"n": 0, "bytes": 0, "last": 0.0}
    sub = make_client(address, f"phm-bench-bare-{uuid.uuid4().hex[:8]}", protocol)
    subscribed = threading.Event()

    def on_message(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        state["n"] += 1
        state["bytes"] += len(msg.payload)
        if state["n"] >= expected:
            state["last"] = time.perf_counter()
            done.set()

    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("phm/v1/+/+/+/+", qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(address.host, address.port, 30)
    sub.loop_start()
    if not subscribed.wait(10):
        raise ConnectionError(f"bare subscriber could not subscribe on {address.display}")
    try:
        t0, finished = _publish_paced(
            url, protocol, payloads, per_message_s, lambda: done.wait(max(60.0, 1e-4 * expected))
        )
    finally:
        sub.disconnect()
        sub.loop_stop()
    seconds = (state["last"] if finished else time.perf_counter()) - t0
    readings = sum(p[4] for p in payloads[: state["n"]])
    return {
        "messages": state["n"],
        "readings": readings,
        "seconds": seconds,
        "readings_per_s": readings / seconds if seconds > 0 else math.nan,
        "complete": bool(finished),
    }


def run_durable(
    url: str,
    protocol: str,
    payloads: list,
    plant: Plant,
    store: Path,
    batch_max: int,
    batch_ms: float,
    per_message_s: float,
    state_url: str | None = None,
) -> dict[str, Any]:
    """Publish `payloads` to an IngestWorker; readings/s to the last commit, latencies, loss.
    `state_url`: its state store on PostgreSQL (else STORE/state.sqlite)."""
    from phm.store.lake import Lake

    expected = {(a, STREAM, s) for _t, a, s, _p, _r in payloads}
    published: dict[tuple[str, str, int], float] = {}
    latencies: list[float] = []
    committed: set[tuple[str, str, int]] = set()
    done = threading.Event()
    last = {"t": 0.0}

    def on_commit(keys: list, t: float) -> None:
        for k in keys:
            sent = published.get(k)
            if sent is not None:
                latencies.append(t - sent)
            committed.add(k)
        last["t"] = time.perf_counter()
        if committed >= expected:
            done.set()

    def on_send(asset: str, seq: int) -> None:
        published[(asset, STREAM, seq)] = time.time()

    worker = IngestWorker(
        url,
        store,
        plant,
        client_id=f"phm-bench-ingest-{uuid.uuid4().hex[:8]}",
        batch_max=batch_max,
        batch_ms=batch_ms,
        protocol=protocol,
        session_expiry_s=300,
        on_commit=on_commit,
        state_url=state_url,
    ).start()
    try:
        if not _wait_subscribed(worker, 15):
            raise ConnectionError(f"ingest worker could not subscribe on {redact_url(url)}")
        t0, finished = _publish_paced(
            url,
            protocol,
            payloads,
            per_message_s,
            lambda: done.wait(max(120.0, 1e-3 * len(payloads))),
            on_send=on_send,
        )
    finally:
        worker.stop()
    seconds = (last["t"] if finished else time.perf_counter()) - t0
    lake = Lake(store / "lake", plant)
    assets = sorted({a for _t, a, _s, _p, _r in payloads})
    stored = sum(
        lake.read_rows(STREAM, a).height * len(plant.stream(a, STREAM).channels) for a in assets
    )
    sent_readings = sum(p[4] for p in payloads)
    lat = np.array(latencies) if latencies else np.array([math.nan])
    return {
        "messages": len(committed),
        "readings": sum(p[4] for p in payloads if (p[1], STREAM, p[2]) in committed),
        "seconds": seconds,
        "readings_per_s": sent_readings / seconds if finished and seconds > 0 else math.nan,
        "complete": bool(finished),
        "latency_p50_ms": float(np.percentile(lat, 50) * 1e3),
        "latency_p99_ms": float(np.percentile(lat, 99) * 1e3),
        "latency_max_ms": float(np.max(lat) * 1e3),
        "lake_readings": stored,
        "lost_readings": sent_readings - stored,
        "commits": worker.stats.commits,
        "duplicates": worker.stats.duplicates,
        "dead_letters": worker.stats.dead_letters,
    }


def _publish_paced(
    url: str,
    protocol: str,
    payloads: list,
    per_message_s: float,
    wait: Callable[[], bool],
    on_send: Callable[[str, int], None] | None = None,
) -> tuple[float, bool]:
    """Publish `payloads` paced at `per_message_s`, calling `on_send(asset, seq)` just before
    each, then `wait()` for the receiver with the publisher still open; (start time, wait's
    answer)."""
    pub = Publisher(url, protocol=protocol)
    try:
        t0 = time.perf_counter()
        for k, (topic, asset, seq, payload, _r) in enumerate(payloads):
            _pace(k, t0, per_message_s)
            if on_send is not None:
                on_send(asset, seq)
            pub.publish(topic, payload)
        return t0, wait()
    finally:
        pub.close()


def _wait_subscribed(worker: IngestWorker, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.subscribed:
            return True
        time.sleep(0.02)
    return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        default="mosquitto",
        help="mosquitto (a local subprocess), embedded (amqtt in a child process, MQTT 3.1.1) "
        "or a URL (mqtt:// or mqtts://...?ca=FILE; password: PHM_MQTT_PASSWORD[_FILE])",
    )
    parser.add_argument("--readings", type=int, default=2_000_000, help="readings to publish")
    parser.add_argument("--rows-per-payload", type=int, default=200, help="rows per payload")
    parser.add_argument("--batch-max", type=int, default=1000, help="worker: messages per commit")
    parser.add_argument("--batch-ms", type=float, default=100.0, help="worker: ms per batch")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="pace publishing at readings/s (0: burst)"
    )
    parser.add_argument("--mqtt-version", choices=("5", "3.1.1"), default=None)
    parser.add_argument("--plant", default=None)
    parser.add_argument("--keep-store", action="store_true", help="keep DIR/ingest-store")
    parser.add_argument(
        "--state",
        default=None,
        metavar="URL",
        help="also a durable leg on this PostgreSQL server (postgresql://user@host/db), in a "
        "schema of its own created and dropped by the bench",
    )
    parser.add_argument("--out", required=True, help="folder for ingest.json and ingest.md")


@contextmanager
def bench_schema(url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server at `url` for one durable leg (so no earlier
    run's keys count as duplicates), dropped afterwards; yields the URL that uses it."""
    import psycopg

    from phm.store.postgres import redacted

    schema = f"phm_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error as exc:
        raise ConfigError(f"--state {redacted(url)}: cannot create a bench schema ({exc})") from exc
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def run(args: argparse.Namespace) -> int:
    from phm.ingest.broker import EmbeddedBroker, MosquittoProcess, free_port

    if args.readings < 1 or args.rows_per_payload < 1:
        raise ConfigError("--readings and --rows-per-payload must be at least 1")
    plant = load_plant(args.plant)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payloads = bench_payloads(plant, args.readings, args.rows_per_payload, time.time())
    mean_readings = sum(p[4] for p in payloads) / len(payloads)
    per_message_s = mean_readings / args.rate if args.rate > 0 else 0.0  # between payloads
    broker: Any = None
    postgres: dict[str, Any] | None = None
    scratch = Path(tempfile.mkdtemp(prefix="phm-bench-ingest-"))
    try:
        if args.broker == "mosquitto":
            broker = MosquittoProcess(free_port(), scratch / "mosquitto").start()
            url, protocol = broker.url, args.mqtt_version or "5"
        elif args.broker == "embedded":
            # its own process: in this one it would share the interpreter with both legs
            broker = EmbeddedBroker(free_port(), own_process=True).start()
            url, protocol = broker.url, args.mqtt_version or "3.1.1"
        else:
            url, protocol = args.broker, args.mqtt_version or "5"
        bare = run_bare(url, protocol, payloads, per_message_s)
        store = out / "ingest-store"
        shutil.rmtree(store, ignore_errors=True)
        durable = run_durable(
            url, protocol, payloads, plant, store, args.batch_max, args.batch_ms, per_message_s
        )
        if not args.keep_store:
            shutil.rmtree(store, ignore_errors=True)
        if args.state:
            with bench_schema(args.state) as url_in_schema:
                pg_store = out / "ingest-store-postgresql"
                shutil.rmtree(pg_store, ignore_errors=True)
                postgres = run_durable(
                    url, protocol, payloads, plant, pg_store, args.batch_max, args.batch_ms,
                    per_message_s, state_url=url_in_schema,
                )  # fmt: skip
                if not args.keep_store:
                    shutil.rmtree(pg_store, ignore_errors=True)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    ratio = durable["readings_per_s"] / bare["readings_per_s"]
    sent = sum(p[4] for p in payloads)
    rows = [
        ["bare subscriber (stores nothing)", bare["readings_per_s"], None, None, bare["messages"]],
        [
            "durable ingest (lake + state, fsync)",
            durable["readings_per_s"],
            durable["latency_p50_ms"],
            durable["latency_p99_ms"],
            durable["messages"],
        ],
    ]
    if postgres is not None:
        rows.append([
            "durable ingest (lake + PostgreSQL state)", postgres["readings_per_s"],
            postgres["latency_p50_ms"], postgres["latency_p99_ms"], postgres["messages"],
        ])  # fmt: skip
    table = markdown_table(
        ["leg", "readings/s", "p50 publish->commit ms", "p99 ms", "messages"], rows
    )
    table += (
        f"\n\nbroker {redact_url(args.broker)} (MQTT {protocol}), {sent} readings in "
        f"{len(payloads)} payloads "
        f"of {args.rows_per_payload} rows; durable/bare = {ratio:.2f} (target >= "
        f"{TARGET_RATIO:.2f}); durable >= {TARGET_RATE:.0f}/s: "
        f"{durable['readings_per_s'] >= TARGET_RATE}; lost readings: {durable['lost_readings']}"
    )
    headline = {
        "durable_readings_per_s": durable["readings_per_s"],
        "bare_readings_per_s": bare["readings_per_s"],
        "ratio": ratio,
        "latency_p50_ms": durable["latency_p50_ms"],
        "latency_p99_ms": durable["latency_p99_ms"],
        "lost_readings": durable["lost_readings"],
        "zero_loss": durable["lost_readings"] == 0 and durable["complete"],
    }
    if postgres is not None:
        headline |= {
            "postgresql_readings_per_s": postgres["readings_per_s"],
            "postgresql_latency_p50_ms": postgres["latency_p50_ms"],
            "postgresql_latency_p99_ms": postgres["latency_p99_ms"],
            "postgresql_lost_readings": postgres["lost_readings"],
        }
        headline["zero_loss"] = headline["zero_loss"] and (
            postgres["lost_readings"] == 0 and postgres["complete"]
        )
    details = {
        "broker": redact_url(args.broker),
        "protocol": protocol,
        "readings": sent,
        "payloads": len(payloads),
        "rows_per_payload": args.rows_per_payload,
        "batch_max": args.batch_max,
        "batch_ms": args.batch_ms,
        "rate": args.rate,
        "bare": bare,
        "durable": durable,
        "postgresql": postgres,
        "targets": {"ratio": TARGET_RATIO, "readings_per_s": TARGET_RATE},
    }
    write_result(out, "ingest", headline, details, table)
    return 0 if headline["zero_loss"] else 1
