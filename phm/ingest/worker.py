"""The ingest worker: MQTT (QoS 1, persistent session, manual ack) into the lake and state store.

    broker ──PUBLISH──▶ on_message ──queue──▶ committer thread, one batch at a time:
        BatchCommitter.commit (phm.ingest.commit):
            parse topic, decode + validate payload (bad ones become dead letters)
            drop keys already committed with the same content (a conflicting copy is a
            dead letter), LakeWriter.write (fsynced Parquet segments),
            StateStore.commit_ingest(segments, keys, dead letters, counters)   ONE transaction
            (a batch that fails for one message's sake is split to dead-letter that one)
        then PUBACK every message of the batch

A message is acknowledged only after everything it carries is durable, so a crash anywhere
before the commit leaves it unacknowledged and the broker delivers it again (the segments the
dead worker wrote are orphans, deleted at the next start); a crash between the commit and the
acks brings back messages whose keys are already committed, and they are dropped as duplicates.

Packet ids belong to one connection: after a reconnect the broker resends the unacknowledged
messages with their old ids and may reuse ids it got acks for, so acks are only sent for
messages received on the current connection (`_gen`); older ones come again and are deduped.

A compaction thread (`phm.store.compaction.Compactor`, every `compact_every_s`) merges the
committed small segments of partitions over `max_files` files, today's included; it never
touches a segment the committer has written but not yet committed, and never holds the state
store's write lock for more than one short transaction per merge.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from phm.errors import ConfigError
from phm.ingest.commit import BatchCommitter
from phm.plant import Plant
from phm.store.compaction import COMPACT_EVERY_S
from phm.wire.mqtt import BrokerAddress, make_client, parse_broker_url
from phm.wire.topics import (
    SUBSCRIPTION,
    TopicError,
    parse_topic,
    shared_subscription,
    topic_for,
)

log = logging.getLogger(__name__)

Key = tuple[str, str, int]  # (asset, stream, seq)
SESSION_EXPIRY_S = 7 * 24 * 3600  # keep our queue at the broker through a week-long outage
STATUS_EVERY_S = 5.0  # broker_connected / last message time refresh in the state store


def asset_partition(asset_id: str, n: int) -> int:
    """Which of `n` partitioned workers (`--partition K/N`) stores `asset_id`: a stable hash,
    the same in every process and on every host."""
    return int.from_bytes(hashlib.sha256(asset_id.encode()).digest()[:8], "big") % n


SHARED_ORPHAN_AGE_S = 300.0  # several workers on one store: another's orphans only when this old


@dataclass
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    gen: int  # connection generation it arrived on
    received: float  # Unix s
    redelivered: bool = False  # retained, or resent (DUP): it may have been seen before
    decoded: Any = None  # Sparkplug: set by SparkplugHost.translate before the commit


@dataclass
class WorkerStats:
    """What this worker did since it started (the state store holds the running totals)."""

    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    commits: int = 0
    commit_failures: int = 0
    acked: int = 0
    not_acked_stale: int = 0  # committed, but from an older connection: they come again
    connects: int = 0


class IngestWorker:
    """Consume `phm/v1/+/+/+/+` from `broker_url` into `store_dir` (lake/ and state.sqlite).

    `batch_max` messages or `batch_ms` milliseconds make one commit. `shared=True` joins the
    MQTT 5 shared subscription so several workers split the load. `protocol` is "5" or
    "3.1.1" (the embedded amqtt broker). `on_commit(keys, t)` is called after each commit and
    ack with the committed (asset, stream, seq) keys and the Unix time. `write_threads`
    lake segments of one batch are written at a time. Every `compact_every_s` seconds (0:
    never) a thread merges the small segments of partitions holding more than `max_files`.
    `sparkplug=True` also takes the Sparkplug B messages of the plant's group
    (phm.ingest.sparkplug) into the same lake: one worker for them all (not `shared`; with
    `partition`, partition 0).
    """

    def __init__(
        self,
        broker_url: str,
        store_dir: str | Path,
        plant: Plant,
        client_id: str = "phm-ingest",
        shared: bool = False,
        batch_max: int = 1000,
        batch_ms: float = 100.0,
        *,
        protocol: str = "5",
        session_expiry_s: int = SESSION_EXPIRY_S,
        keepalive: int = 30,
        on_commit: Callable[[list[Key], float], None] | None = None,
        write_threads: int = 4,
        compact_every_s: float = COMPACT_EVERY_S,
        max_files: int = 16,
        state_url: str | None = None,
        partition: tuple[int, int] | None = None,
        sparkplug: bool = False,
    ) -> None:
        self.broker_url = broker_url
        self.state_url = state_url  # a PostgreSQL state store (else PHM_STATE_URL / state.sqlite)
        self.partition = partition  # (k, n): this worker's share of the assets (`asset_partition`)
        self.store_dir = Path(store_dir)
        self.plant = plant
        self.client_id = client_id
        self.shared = shared
        self.batch_max = batch_max
        self.batch_ms = batch_ms
        self.protocol = protocol
        self.session_expiry_s = session_expiry_s
        self.keepalive = keepalive
        self.on_commit = on_commit
        self.write_threads = write_threads
        self.compact_every_s = compact_every_s
        self.max_files = max_files
        self.sparkplug = sparkplug
        self._sparkplug: Any = None  # phm.ingest.sparkplug.SparkplugHost, opened with the store
        self._compactor: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self.stats = WorkerStats()
        self._queue: queue.Queue[_Message] = queue.Queue()
        self._ack_lock = threading.Lock()
        self._gen = 0
        self._connected = False
        self._subscribed = False  # SUBACK granted on the current connection
        self._status_dirty = True
        self._last_message = 0.0
        self._status_at = 0.0
        self._paused = False
        self._stopping = threading.Event()  # committer: drain and exit
        self._closing = threading.Event()  # network: do not reconnect
        self._ready = threading.Event()
        self._init_error: BaseException | None = None
        self._reconnect_wanted = threading.Event()
        self._client: mqtt.Client | None = None
        self._address: BrokerAddress | None = None
        self._committer: threading.Thread | None = None
        self._network: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def _validate(self) -> BrokerAddress:
        if self.batch_max < 1:
            raise ConfigError(f"--batch-max must be at least 1, got {self.batch_max}")
        if self.batch_ms < 0:
            raise ConfigError(f"--batch-ms must be >= 0, got {self.batch_ms}")
        if self.protocol not in ("5", "3.1.1"):
            raise ConfigError(f"MQTT protocol {self.protocol!r}: expected '5' or '3.1.1'")
        if self.shared and self.protocol != "5":
            raise ConfigError("a shared subscription (--shared) needs MQTT 5")
        if self.partition is not None:
            k, n = self.partition
            if not (n >= 2 and 0 <= k < n):
                raise ConfigError(f"--partition {k}/{n}: expected K/N with N >= 2, 0 <= K < N")
            if self.shared:
                raise ConfigError("--partition and --shared split the load two ways: pick one")
        if not self.client_id:
            raise ConfigError("a persistent session needs a fixed, non-empty --client-id")
        if self.compact_every_s < 0:
            raise ConfigError(f"--compact-every must be >= 0 s, got {self.compact_every_s}")
        if self.max_files < 1:
            raise ConfigError(f"--max-files must be at least 1, got {self.max_files}")
        if self.sparkplug and (self.shared or (self.partition or (0,))[0] != 0):
            raise ConfigError(
                "--sparkplug needs one worker for every edge node: Sparkplug seq checks follow "
                "each node's messages in order (not with --shared; with --partition, only on "
                "partition 0, which takes every asset's Sparkplug messages)"
            )
        return parse_broker_url(self.broker_url)

    @property
    def subscribed(self) -> bool:
        """Connected, with the subscription granted at QoS 1."""
        return self._connected and self._subscribed

    @property
    def subscription(self) -> str:
        """The topic filters, as one string for logs."""
        return ", ".join(self.subscriptions)

    @property
    def subscriptions(self) -> list[str]:
        """Every stream of every asset; the shared group's; or with `partition` (k, n) the
        assets of partition k (partition 0 takes every stream, so that unregistered assets are
        still dead-lettered, and acknowledges the other partitions' assets without storing
        them: `_foreign`). With `sparkplug`, the Sparkplug B filters of the plant's group too."""
        if self.shared:
            filters = [shared_subscription()]
        elif self.partition is None or self.partition[0] == 0:
            filters = [SUBSCRIPTION]
        else:
            k, n = self.partition
            filters = [
                topic_for(a.site, a.line, a.asset_id, "+")
                for a in self.plant.assets.values()
                if asset_partition(a.asset_id, n) == k
            ]
        if self.sparkplug:
            from phm.ingest.sparkplug import subscriptions
            from phm.plant import sparkplug_map

            filters += subscriptions(sparkplug_map(self.plant).group)
        return filters

    def _foreign(self, m: _Message) -> bool:
        """A message partition 0 receives for another partition's registered asset."""
        if self.partition is None:
            return False
        try:
            asset = parse_topic(m.topic).asset
        except TopicError:
            return False
        known = asset in self.plant.assets
        return known and asset_partition(asset, self.partition[1]) != self.partition[0]

    def start(self, timeout: float = 60.0) -> IngestWorker:
        """Open the store (register assets, delete orphan segments), then connect."""
        address = self._address = self._validate()
        self._committer = threading.Thread(target=self._commit_loop, name="ingest-commit")
        self._committer.start()
        if not self._ready.wait(timeout) or self._init_error is not None:
            self._stopping.set()
            raise self._init_error or TimeoutError("ingest store did not open")
        if self.compact_every_s > 0:
            from phm.store.compaction import Compactor
            from phm.store.state import state_location

            self._compactor = Compactor(
                state_location(self.store_dir, self.state_url),
                self.lake_root,
                self.compact_every_s,
                self.max_files,
            ).start()
        self._client = self._make_client(address)
        self._network = threading.Thread(
            target=self._network_loop, args=(address,), name="ingest-mqtt", daemon=True
        )
        self._network.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop taking messages, commit and ack what was received, disconnect."""
        self._paused = True  # later arrivals stay unacknowledged: redelivered next session
        self._stopping.set()
        if self._compactor is not None:
            self._compactor.stop(timeout)
        if self._committer is not None:
            self._committer.join(timeout)
            if self._committer.is_alive():
                log.error("ingest: the committer did not finish in %.0f s", timeout)
        self._closing.set()
        if self._client is not None:
            self._client.disconnect()
        if self._network is not None:
            self._network.join(timeout)
        log.info("ingest: stopped (%s)", self.stats)

    def run(self, stop: threading.Event | None = None) -> WorkerStats:
        """Run until `stop` is set or SIGINT/SIGTERM arrives; then stop cleanly."""
        stop = stop or threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            self.start()
            while not stop.wait(0.5):
                if self._committer is not None and not self._committer.is_alive():
                    log.error("ingest: the committer thread died; stopping")
                    break
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.stats

    # ---------------------------------------------------------------- MQTT side
    def _make_client(self, address: BrokerAddress) -> mqtt.Client:
        client = make_client(
            address, self.client_id, self.protocol, clean_session=False, manual_ack=True
        )
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_kwargs(self) -> dict[str, Any]:
        if self.protocol != "5":
            return {}
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        # the broker may keep this many messages un-acked with us: a batch must fit
        props.ReceiveMaximum = min(65535, max(100, 4 * self.batch_max))
        return {"clean_start": False, "properties": props}

    def _network_loop(self, address: BrokerAddress) -> None:
        assert self._client is not None
        delay = 1.0
        while not self._closing.is_set():
            try:
                self._client.connect(
                    address.host, address.port, self.keepalive, **self._connect_kwargs()
                )
            except OSError as exc:
                log.warning(
                    "ingest: cannot reach %s (%s); retrying in %.0f s",
                    address.display,
                    exc,
                    delay,
                )
                self._closing.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            # reconnects by itself (reconnect_delay_set backoff) until disconnect() is called
            self._client.loop_forever(retry_first_connection=True)
            if self._reconnect_wanted.is_set() and not self._closing.is_set():
                self._reconnect_wanted.clear()
                self._closing.wait(1.0)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        if rc.is_failure:
            log.error("ingest: broker refused the connection: %s", rc)
            return
        with self._ack_lock:
            self._gen += 1
            self._connected = True
        self.stats.connects += 1
        self._status_dirty = True
        log.info(
            "ingest: connected to %s as %r (session present: %s); subscribing %s",
            self._address.display,
            self.client_id,
            flags.session_present,
            ", ".join(self.subscriptions),
        )
        client.subscribe([(f, 1) for f in self.subscriptions])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: list, props: Any):
        granted = all(not c.is_failure and c.value == 1 for c in codes)
        if granted:
            log.info("ingest: subscribed to %s at QoS 1", ", ".join(self.subscriptions))
        else:
            log.error("ingest: %s not granted at QoS 1: %s", self.subscriptions, codes)
        self._subscribed = granted
        self._status_dirty = True

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any):
        with self._ack_lock:
            self._gen += 1
            self._connected = False
        self._subscribed = False
        self._status_dirty = True
        if self._closing.is_set():
            log.info("ingest: disconnected")
        else:
            log.warning("ingest: connection lost (%s); reconnecting with backoff", rc)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._paused:
            return  # not acknowledged: the broker delivers it again next session
        self._queue.put(
            _Message(
                msg.topic,
                bytes(msg.payload),
                msg.mid,
                msg.qos,
                self._gen,
                time.time(),
                bool(msg.retain or msg.dup),
            )
        )

    def _ack(self, messages: list[_Message]) -> None:
        assert self._client is not None
        with self._ack_lock:
            for m in messages:
                if m.qos == 0:
                    continue
                if m.gen == self._gen and self._connected:
                    self._client.ack(m.mid, m.qos)
                    self.stats.acked += 1
                else:
                    self.stats.not_acked_stale += 1

    def _force_reconnect(self) -> None:
        """Drop the connection so the broker resends what we did not acknowledge."""
        if self._client is not None and not self._closing.is_set():
            self._reconnect_wanted.set()
            self._client.disconnect()

    # ---------------------------------------------------------------- committer side
    def _open_store(self) -> None:
        from phm.store.lake import LakeWriter, own_segment, writer_tag
        from phm.store.state import StateStore, state_location

        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.lake_root = self.store_dir / "lake"
        if self.write_threads > 1:
            self._pool = ThreadPoolExecutor(self.write_threads, thread_name_prefix="ingest-write")
        self._state = StateStore(state_location(self.store_dir, self.state_url))
        self._lake = LakeWriter(self.lake_root, self.plant, writer_tag(self.client_id))
        self._state.register_assets(self.plant)
        self._batch_committer = BatchCommitter(self._lake, self._state, self.plant, self._pool)
        if self.sparkplug:
            from phm.ingest.sparkplug import SparkplugHost

            self._sparkplug = SparkplugHost(self.plant, self._state)
        min_age = SHARED_ORPHAN_AGE_S if self.shared else 0.0
        removed = 0
        for path in self._state.orphan_segments(self.lake_root):
            path = Path(path)
            try:
                mine = own_segment(path, self._lake.tag)  # this worker's own, whatever their age
                if mine or time.time() - path.stat().st_mtime >= min_age:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        if removed:
            log.warning(
                "ingest: deleted %d orphan segment(s) of an uncommitted batch; "
                "their messages were never acknowledged and come again",
                removed,
            )

    def _commit_loop(self) -> None:
        try:
            self._open_store()
        except BaseException as exc:
            log.exception("ingest: cannot open the store in %s", self.store_dir)
            self._init_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                batch = self._take()
                if batch:
                    self._process(batch)
                if self._status_dirty or time.monotonic() - self._status_at > STATUS_EVERY_S:
                    self._write_status()
                if self._stopping.is_set() and self._queue.empty():
                    break
        finally:
            self._write_status(stopping=True)  # we disconnect right after
            self._state.close()
            if self._pool is not None:
                self._pool.shutdown()

    def _take(self) -> list[_Message]:
        """Up to batch_max messages: waits for the first, then at most batch_ms for more."""
        try:
            first = self._queue.get(timeout=0.05 if self._stopping.is_set() else 0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_ms / 1000.0
        while len(batch) < self.batch_max:
            left = deadline - time.monotonic()
            try:
                if left <= 0 or self._stopping.is_set():
                    batch.append(self._queue.get_nowait())
                else:
                    batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _process(self, batch: list[_Message]) -> None:
        mine = [not self._foreign(m) for m in batch]  # another partition stores the others
        own = batch if all(mine) else [m for m, keep in zip(batch, mine, strict=True) if keep]
        try:
            if self._sparkplug is not None:
                self._sparkplug.translate(own)
            out = self._batch_committer.commit(own)
            if self._sparkplug is not None:
                self._sparkplug.persist()  # before the acks: a restart resumes after them
        except Exception:
            if self._sparkplug is not None:
                self._sparkplug.reload()
            self.stats.commit_failures += 1
            log.critical(
                "ingest: COMMIT FAILED for a batch of %d messages; none of them is acknowledged "
                "(they will be delivered again); reconnecting",
                len(batch),
                exc_info=True,
            )
            self._force_reconnect()
            return
        self._ack(batch)
        if self._sparkplug is not None:
            for topic, payload in self._sparkplug.rebirths():
                assert self._client is not None
                self._client.publish(topic, payload, qos=1)
        now = time.time()
        self._last_message = max(m.received for m in batch)
        self.stats.messages += out.messages
        self.stats.readings += out.readings
        self.stats.duplicates += out.duplicates
        self.stats.dead_letters += out.dead_letters
        self.stats.commits += 1
        if self.on_commit is not None:
            try:
                self.on_commit(out.keys, now)
            except Exception:
                log.exception("ingest: on_commit hook failed")

    def _write_status(self, stopping: bool = False) -> None:
        """broker_connected (0/1) and the last message time, for the dashboard."""
        self._status_dirty = False
        self._status_at = time.monotonic()
        values = {
            "broker_connected": int(self._connected and self._subscribed and not stopping),
            "ingest_last_message_at": int(self._last_message),
            "ingest_status_at": int(time.time()),
        }
        try:
            # absolute values (commit_ingest adds increments); portable upsert
            with self._state.transaction() as conn:
                conn.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    list(values.items()),
                )
        except Exception:
            self._status_dirty = True  # retried on the next pass, not STATUS_EVERY_S later
            log.exception("ingest: cannot write the connection status to the state store")
