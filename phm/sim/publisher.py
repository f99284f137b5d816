"""The simulator's MQTT publisher: QoS 1, delivery counted only on a successful PUBACK."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from phm.errors import ConfigError, PhmError

log = logging.getLogger(__name__)

MAX_INFLIGHT = 1000
CONNECT_TIMEOUT_S = 10.0
FLUSH_TIMEOUT_S = 5.0
NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason: accepted, but nobody subscribed
RETRY_S = 1.0  # first republish of a message that found no subscriber; doubles per attempt
RETRY_MAX_S = 8.0


class PlantPublisher:
    """A paho-mqtt 2.x client: MQTT 5, QoS 1, unbounded queue, automatic reconnect.

    A message counts as delivered only on a successful PUBACK. An MQTT 5 PUBACK "No matching
    subscribers" (reason 16) means nobody got it: the payload is kept and published again
    after RETRY_S (doubling up to RETRY_MAX_S), so it arrives once ingest subscribes again.
    Any other refusal (e.g. "Not authorized") is final: logged, counted as undelivered."""

    def __init__(self, url: str, client_id: str, protocol: str = "5") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from phm.wire.mqtt import make_client, parse_broker_url

        address = parse_broker_url(url)
        self.url = address.display
        self.connected = threading.Event()
        self.acked = 0  # messages delivered (successful PUBACK; each message once)
        self.no_subscribers = 0  # PUBACKs "no matching subscribers" (each one republished)
        self.refused = 0  # messages the broker refused for good (e.g. not authorized)
        self._lock = threading.Lock()
        # mid -> (topic, payload, attempt) until its PUBACK; PUBACKs that beat the bookkeeping
        self._inflight: dict[int, tuple[str, bytes, int]] = {}
        self._early: dict[int, Any] = {}
        self._retry: list[tuple[float, str, bytes, int]] = []  # (due, topic, payload, attempt)
        self._closed = threading.Event()
        self._refusal: str | None = None  # the broker's CONNACK reason when it refused us
        if protocol not in ("5", "3.1.1"):
            raise ConfigError(f"MQTT protocol {protocol!r}: expected '5' or '3.1.1'")
        v5 = protocol == "5"
        # 3.1.1: a persistent session instead of MQTT 5's session expiry
        c = make_client(address, client_id, protocol, clean_session=False)
        c.max_inflight_messages_set(MAX_INFLIGHT)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: self.connected.clear()
        c.on_publish = self._on_publish
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300  # in-flight QoS 1 messages survive a reconnect
            # a fresh session at start, resumed on reconnect so in-flight messages are re-sent
            first_only = mqtt.MQTT_CLEAN_START_FIRST_ONLY
            c.connect_async(
                address.host, address.port, keepalive=30, clean_start=first_only, properties=props
            )
        else:
            c.connect_async(address.host, address.port, keepalive=30)
        self.client = c
        c.loop_start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not self.connected.wait(0.05) and self._refusal is None:
            if time.monotonic() > deadline:
                break
        if not self.connected.is_set():
            c.loop_stop()
            why = (
                f"refused: {self._refusal}"
                if self._refusal
                else f"no answer in {CONNECT_TIMEOUT_S} s"
            )
            raise PhmError(
                f"cannot connect to the MQTT broker at {self.url} ({why}; check the address, "
                "credentials and TLS settings)"
            )
        self._retrier = threading.Thread(target=self._retry_loop, name="sim-retry", daemon=True)
        self._retrier.start()

    @property
    def undelivered(self) -> int:
        """Messages published but not (yet) delivered: in flight, waiting to retry, refused."""
        with self._lock:
            return len(self._inflight) + len(self._retry) + self.refused

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refusal = str(reason_code)  # e.g. "Bad user name or password"
        else:
            self.connected.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            entry = self._inflight.pop(mid, None)
            if entry is None:  # publish() has not recorded this mid yet
                self._early[mid] = reason_code
                return
            self._settle(entry, reason_code)

    def _settle(self, entry: tuple[str, bytes, int], reason_code: Any) -> None:
        """Count one PUBACK (the lock is held)."""
        topic, payload, attempt = entry
        code = getattr(reason_code, "value", 0)
        if code == NO_MATCHING_SUBSCRIBERS:
            self.no_subscribers += 1
            delay = min(RETRY_S * 2**attempt, RETRY_MAX_S)
            self._retry.append((time.monotonic() + delay, topic, payload, attempt + 1))
        elif getattr(reason_code, "is_failure", False):
            self.refused += 1
            log.error("the broker refused a message on %s: %s", topic, reason_code)
        else:
            self.acked += 1

    def _send(self, topic: str, payload: bytes, attempt: int) -> None:
        info = self.client.publish(topic, payload, qos=1)  # never under self._lock (deadlock)
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = (topic, payload, attempt)
            else:
                self._settle((topic, payload, attempt), early)

    def _retry_loop(self) -> None:
        while not self._closed.wait(0.1):
            now = time.monotonic()
            with self._lock:
                due = [r for r in self._retry if r[0] <= now]
                self._retry = [r for r in self._retry if r[0] > now]
            for _due, topic, payload, attempt in due:
                self._send(topic, payload, attempt)

    def publish(self, topic: str, payload: bytes) -> None:
        self._send(topic, payload, 0)

    def close(self, published: int, timeout_s: float = FLUSH_TIMEOUT_S) -> int:
        """Wait up to timeout_s for everything published to be delivered (republishing what
        found no subscriber), then disconnect; returns the messages still undelivered."""
        deadline = time.monotonic() + timeout_s
        while self.acked + self.refused < published and time.monotonic() < deadline:
            time.sleep(0.01)
        self._closed.set()
        self._retrier.join()
        self.client.disconnect()
        self.client.loop_stop()
        undelivered = published - self.acked
        if undelivered:
            log.error(
                "%d of %d messages not delivered to any subscriber of %s (%d refused)",
                undelivered,
                published,
                self.url,
                self.refused,
            )
        return undelivered
