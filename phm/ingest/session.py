"""`phm ingest --init-session`: create the ingest worker's persistent session at install time.

Mosquitto keeps a persistent session, its subscription and the QoS 1 messages queued for it in
memory and writes them to its database on each autosave and on a clean exit. Until the session
exists, messages published for ingest match no subscriber and are dropped; until it is saved, a
broker crash forgets it. So the install step connects once with the worker's fixed client id and
connect properties, subscribes as the worker would (shared or not), waits for the SUBACK and
disconnects cleanly; the session then outlives the connection (session expiry) and is kept
across broker crashes once Mosquitto saved it: within its autosave bound, at once on SIGUSR1
(`--mosquitto-pid`), or on a clean restart.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import paho.mqtt.client as mqtt

from phm.errors import ConfigError
from phm.ingest.broker import BrokerError
from phm.ingest.worker import IngestWorker

log = logging.getLogger(__name__)


def init_session(
    worker: IngestWorker, timeout: float = 30.0, mosquitto_pid: int | None = None
) -> bool:
    """Connect as `worker` would, subscribe, wait for the SUBACK (QoS 1 granted), disconnect.

    Returns whether the broker already held the session. Messages already queued for the
    session may arrive meanwhile: they are not acknowledged, so the worker gets them. With
    `mosquitto_pid`, sends SIGUSR1 so a local Mosquitto saves its database now. Raises
    BrokerError when the broker cannot be reached or refuses the subscription."""
    address = worker._validate()
    client = worker._make_client(address)
    connected, subscribed, done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        outcome["connect"] = rc
        outcome["present"] = bool(flags.session_present)
        connected.set()
        if not rc.is_failure:
            c.subscribe([(topic, 1) for topic in worker.subscriptions])

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, codes: list, props: Any) -> None:
        outcome["granted"] = all(not x.is_failure and x.value == 1 for x in codes)
        outcome["codes"] = codes
        subscribed.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda *args: None  # never acknowledged: left for the worker
    client.on_disconnect = lambda *args: done.set()
    try:
        client.connect(address.host, address.port, worker.keepalive, **worker._connect_kwargs())
    except OSError as exc:
        raise BrokerError(f"--broker {worker.broker_url}: cannot connect: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise BrokerError(f"--broker {worker.broker_url}: no CONNACK in {timeout:.0f} s")
        if outcome["connect"].is_failure:
            raise BrokerError(f"--broker {worker.broker_url}: refused: {outcome['connect']}")
        if not subscribed.wait(timeout):
            raise BrokerError(f"{worker.subscriptions}: no SUBACK in {timeout:.0f} s")
        if not outcome["granted"]:
            raise BrokerError(
                f"{worker.subscriptions}: not granted at QoS 1 ({outcome['codes']}): "
                "check the broker's acl_file for the ingest account"
            )
        client.disconnect()
        done.wait(timeout)
    finally:
        client.loop_stop()
    log.info(
        "ingest: session %r %s with %s at QoS 1",
        worker.client_id,
        "was present" if outcome["present"] else "created",
        ", ".join(worker.subscriptions),
    )
    if mosquitto_pid is not None:
        save_now(mosquitto_pid)
    return bool(outcome["present"])


def save_now(pid: int) -> None:
    """Ask the local Mosquitto `pid` to write its persistence database (SIGUSR1)."""
    if pid <= 0:
        raise ConfigError(f"--mosquitto-pid {pid}: expected the pid of the local mosquitto")
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        raise ConfigError(f"--mosquitto-pid {pid}: no such process") from None
    except PermissionError:
        raise ConfigError(
            f"--mosquitto-pid {pid}: not allowed to signal it (run as its user or root)"
        ) from None
    log.info("ingest: asked mosquitto (pid %d) to save its database (SIGUSR1)", pid)
