"""Broker crash (SIGKILL) with ingest offline: what Mosquitto, run with phm/configs/mosquitto.conf,
keeps for the ingest session created at install time (`phm ingest --init-session`).

Kept: the session, its subscription and every QoS 1 message PUBACKed more than the autosave
bound (`AUTOSAVE_BOUND_S`, from the config's time-based `autosave_interval`) before the kill.
NOT kept: messages PUBACKed, and a subscription made, within that bound before a SIGKILL or
power loss (Mosquitto writes its database only on autosave, SIGUSR1 and a clean exit).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from phm.bench.ingest import Publisher
from phm.ingest.broker import MOSQUITTO_CONF, MosquittoProcess, find_mosquitto, free_port
from tests.ingest.conftest import (
    PLANT,
    REPO,
    WorkerProcess,
    assert_lake_exactly,
    counters,
    valid_corpus,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed"),
]

WORKER_ARGS = ("--batch-max", "16", "--batch-ms", "20")
NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason code


def _autosave_bound_s() -> float:
    """The shipped config's loss window: Mosquitto saves when its whole-second clock is past
    the last save + autosave_interval, so up to 2 intervals apart; plus margin for the save."""
    settings = {}
    for line in MOSQUITTO_CONF.read_text().splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            settings[words[0]] = words[1:]
    assert settings["persistence"] == ["true"]
    assert settings["autosave_on_changes"] == ["false"], "the bound below assumes time-based"
    interval = float(settings["autosave_interval"][0])
    assert 0 < interval <= 1, f"autosave_interval {interval}: the docs promise at most 1 s"
    return 2 * interval + 0.5


AUTOSAVE_BOUND_S = _autosave_bound_s()


class _Publisher(Publisher):
    """The bench publisher, recording each PUBACK's reason code."""

    def __init__(self, url: str, client_id: str) -> None:
        self.reasons: list[int] = []
        super().__init__(url, client_id=client_id)
        self.client.on_publish = self._record

    def _record(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        self.reasons.append(int(rc.value))
        self._on_publish()

    def close_now(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _init_session(url: str, store: Path, client_id: str, *extra: str) -> str:
    """`phm ingest --init-session` as the install step runs it; its stdout."""
    args = ["--broker", url, "--store", str(store), "--client-id", client_id, *extra]
    out = subprocess.run(
        [sys.executable, "-m", "phm", "ingest", "--init-session", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_queued_messages_survive_a_broker_sigkill_after_the_autosave_bound(
    mosquitto, tmp_path: Path
) -> None:
    """Ingest never ran: its session comes from the install step only. N messages are queued
    and PUBACKed, the broker is SIGKILLed once the bound has passed and restarted on the same
    data dir; ingest then stores every one of them exactly once."""
    store = tmp_path / "store"
    items = valid_corpus(per_stream=4, seed=50)
    assert "created" in _init_session(mosquitto.url, store, "ingest-dur")
    assert not (store / "state.sqlite").exists()  # the install step opens no store
    pub = _Publisher(mosquitto.url, "pub-dur")
    try:
        for it in items:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(30)
    finally:
        pub.close_now()
    assert pub.reasons == [0] * len(items), "every message matched the ingest subscription"
    time.sleep(AUTOSAVE_BOUND_S)
    mosquitto.kill()  # no save on the way out
    mosquitto.start()
    worker = WorkerProcess(mosquitto.url, store, "ingest-dur", *WORKER_ARGS).start()
    try:
        worker.wait_subscribed()
        wait_until(
            lambda: counters(store).get("ingest_messages", 0) >= len(items),
            60,
            "the queued messages to be committed",
        )
        time.sleep(0.5)  # nothing more may come
        rc = worker.terminate()
        assert rc == 0, worker.output()[-3000:]
    finally:
        worker.kill()
    assert "session present: True" in worker.output()
    assert counters(store)["ingest_messages"] == len(items)
    assert_lake_exactly(store, PLANT, items)


def test_ingest_subscription_survives_a_broker_sigkill_after_the_autosave_bound(
    mosquitto, tmp_path: Path
) -> None:
    """Ingest subscribes once and goes away; the broker is SIGKILLed just past the bound and
    restarted. Messages published before ingest comes back still match its subscription (no
    "no matching subscribers") and are all stored once ingest reconnects."""
    store = tmp_path / "store"
    items = valid_corpus(per_stream=2, seed=51)
    worker = WorkerProcess(mosquitto.url, store, "ingest-sub", *WORKER_ARGS).start()
    try:
        worker.wait_subscribed()
        subscribed_at = time.monotonic()
        worker.kill()
        time.sleep(max(0.0, subscribed_at + AUTOSAVE_BOUND_S - time.monotonic()))
        mosquitto.kill()
        mosquitto.start()
        pub = _Publisher(mosquitto.url, "pub-sub")
        try:
            for it in items:
                pub.publish(it.topic, it.payload)
            assert pub.wait_acked(30)
        finally:
            pub.close_now()
        assert NO_MATCHING_SUBSCRIBERS not in pub.reasons
        assert pub.reasons == [0] * len(items)
        worker.start()
        worker.wait_subscribed()
        wait_until(
            lambda: (
                counters(store).get("ingest_readings", -1) == sum(it.values.size for it in items)
            ),
            60,
            "every reading committed",
        )
        assert worker.terminate() == 0, worker.output()[-3000:]
    finally:
        worker.kill()
    assert_lake_exactly(store, PLANT, items)


def test_init_session_with_mosquitto_pid_saves_at_once(tmp_path: Path) -> None:
    """--mosquitto-pid sends SIGUSR1: the session is saved at once, so a SIGKILL right after
    keeps it even with autosave set to an hour."""
    conf = tmp_path / "hourly.conf"
    text = MOSQUITTO_CONF.read_text().replace("autosave_interval 1\n", "autosave_interval 3600\n")
    conf.write_text(text)
    broker = MosquittoProcess(free_port(), tmp_path / "mosquitto", template=conf).start()
    try:
        pid = str(broker.proc.pid)
        out = _init_session(broker.url, tmp_path / "s", "ingest-usr1", "--mosquitto-pid", pid)
        assert "created" in out
        db = broker.data_dir / "persistence" / "mosquitto.db"
        wait_until(lambda: db.exists() and b"ingest-usr1" in db.read_bytes(), 5, "the save")
        broker.kill()
        broker.start()
        assert "was present" in _init_session(broker.url, tmp_path / "s", "ingest-usr1")
    finally:
        broker.kill()
