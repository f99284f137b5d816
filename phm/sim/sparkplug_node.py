"""A simulated Sparkplug B edge node: the plant's rows streams as NBIRTH/DBIRTH/DDATA, NDEATH as
its will, rebirth on request (`phm simulate plant --sparkplug`).

One MQTT connection per edge node (the mapping's `edge_node` of each asset), its will the
NDEATH carrying the session's bdSeq. On connect: NBIRTH (seq 0, bdSeq, "Node Control/Rebirth"),
then a DBIRTH per device naming every mapped metric with its alias and datatype (Float) and,
once known, its last value. Rows go out as DDATA, one per payload of rows, each metric by alias
with its row's timestamp; `seq` grows by one per message mod 256. An NCMD "Node Control/Rebirth"
= true publishes the births again (seq back to 0, same bdSeq). `close()` publishes the NDEATH
itself before disconnecting; `drop()` cuts the connection so the broker sends the will.

QoS 1 for everything, where the specification asks QoS 0 for births and data: the ingest
worker's persistent session queues only QoS 1 messages, so this is what makes an ingest restart
lose nothing. A device publishing QoS 0 loses what arrives while ingest is down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np

from phm.errors import PhmError
from phm.wire import sparkplug as spb
from phm.wire.mqtt import make_client, parse_broker_url
from phm.wire.sparkplug_map import DeviceMap

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


class SparkplugEdgeNode:
    """Edge node `edge_node` of `group` publishing the mapped metrics of `devices`."""

    def __init__(
        self,
        broker_url: str,
        group: str,
        edge_node: str,
        devices: list[DeviceMap],
        bdseq: int = 0,
        client_id: str | None = None,
    ) -> None:
        self.group = group
        self.edge_node = edge_node
        self.devices = {d.asset: d for d in devices}
        self.bdseq = bdseq
        self.seq = 0
        self.published = 0  # messages handed to the client
        self.acked = 0  # PUBACKs received
        self.rebirths = 0  # rebirth requests answered
        self._ack_lock = threading.Lock()
        self._lock = threading.RLock()  # seq order: the sim thread and rebirths (network thread)
        # per asset: metric name -> alias, and the last value published with its time (ms)
        self._aliases = {
            d.asset: {name: i + 1 for i, name in enumerate(d.metrics)} for d in devices
        }
        self._last: dict[str, dict[str, tuple[int, float]]] = {d.asset: {} for d in devices}
        self._connected = threading.Event()
        address = parse_broker_url(broker_url)
        c = make_client(address, client_id or f"spb-{group}-{edge_node}", "5")
        death = spb.Payload(timestamp=_now_ms())
        m = death.metrics.add(name=spb.BDSEQ_METRIC)
        spb.set_value(m, spb.DataType.Int64, bdseq)
        c.will_set(self.topic("NDEATH"), death.SerializeToString(), qos=1)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        self.client = c
        c.connect(address.host, address.port, keepalive=30)
        c.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            c.loop_stop()
            raise PhmError(f"edge node {edge_node}: no connection to {address.display}")

    def topic(self, kind: str, device: str | None = None) -> str:
        return spb.sparkplug_topic(self.group, kind, self.edge_node, device)

    # ------------------------------------------------------------------ MQTT
    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            log.error("edge node %s: refused: %s", self.edge_node, rc)
            return
        client.subscribe(self.topic("NCMD"), qos=1)
        self.birth()
        self._connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            payload = spb.decode_payload(msg.payload)
        except spb.SparkplugError as exc:
            log.warning(
                "edge node %s: unreadable command on %s: %s", self.edge_node, msg.topic, exc
            )
            return
        if spb.is_rebirth_request(payload):
            log.info("edge node %s: rebirth requested", self.edge_node)
            self.rebirths += 1
            self.birth()

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        # not self._lock: publish() holds paho's lock while we may hold ours (deadlock)
        with self._ack_lock:
            self.acked += 1

    def _send(self, topic: str, payload: Any) -> None:
        """Publish with the next seq (the lock is held)."""
        payload.seq = self.seq
        self.seq = (self.seq + 1) % spb.SEQ_MODULUS
        self.client.publish(topic, payload.SerializeToString(), qos=1)
        self.published += 1

    # ------------------------------------------------------------------ messages
    def birth(self) -> None:
        """NBIRTH (seq 0) and a DBIRTH per device."""
        with self._lock:
            self.seq = 0
            now = _now_ms()
            node = spb.Payload(timestamp=now)
            spb.set_value(node.metrics.add(name=spb.BDSEQ_METRIC), spb.DataType.Int64, self.bdseq)
            spb.set_value(node.metrics.add(name=spb.REBIRTH_METRIC), spb.DataType.Boolean, False)
            self._send(self.topic("NBIRTH"), node)
            for asset, device in self.devices.items():
                p = spb.Payload(timestamp=now)
                last = self._last[asset]
                for name, alias in self._aliases[asset].items():
                    m = p.metrics.add(name=name, alias=alias)
                    stamp, value = last.get(name, (now, math.nan))
                    m.timestamp = stamp
                    spb.set_value(m, spb.DataType.Float, None if math.isnan(value) else value)
                self._send(self.topic("DBIRTH", device.device), p)

    def publish_rows(
        self,
        asset: str,
        stream: str,
        channels: tuple[str, ...],
        times_s: np.ndarray,
        values: np.ndarray,
    ) -> int:
        """One DDATA with the rows (n, C) of `asset`'s `stream` (columns `channels`) at
        `times_s` (Unix s), each mapped channel a metric by alias; returns the readings sent."""
        device = self.devices[asset]
        aliases = self._aliases[asset]
        columns = [
            (channels.index(c), name) for name, (s, c) in device.metrics.items() if s == stream
        ]
        with self._lock:
            p = spb.Payload(timestamp=_now_ms())
            for row, t in zip(values, times_s, strict=True):
                stamp = round(float(t) * 1000)
                for i, name in columns:
                    value = float(row[i])
                    m = p.metrics.add(alias=aliases[name], timestamp=stamp)
                    spb.set_value(m, spb.DataType.Float, None if np.isnan(value) else value)
                    self._last[asset][name] = (stamp, value)
            self._send(self.topic("DDATA", device.device), p)
        return len(columns) * len(values)

    def close(self, timeout_s: float = 5.0) -> int:
        """Wait for the PUBACKs, publish the NDEATH, disconnect; returns messages unacked."""
        deadline = time.monotonic() + timeout_s
        while self.acked < self.published and time.monotonic() < deadline:
            time.sleep(0.01)
        death = spb.Payload(timestamp=_now_ms())
        spb.set_value(death.metrics.add(name=spb.BDSEQ_METRIC), spb.DataType.Int64, self.bdseq)
        with self._lock:
            info = self.client.publish(self.topic("NDEATH"), death.SerializeToString(), qos=1)
            self.published += 1
        info.wait_for_publish(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()
        return self.published - self.acked

    def drop(self) -> None:
        """Cut the connection without DISCONNECT: the broker publishes the will (NDEATH)."""
        self.client.loop_stop()
        self.client.socket().close()


def _now_ms() -> int:
    return int(time.time() * 1000)
