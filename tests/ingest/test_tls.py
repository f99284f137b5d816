"""mqtts:// and secrets: broker URLs, TLS against a real Mosquitto with test certificates made by
`openssl`, and passwords that never reach a log."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from pathlib import Path

import pytest

from phm.bench.ingest import Publisher
from phm.errors import ConfigError
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.sim.plant import run_plant_simulation
from phm.wire.mqtt import make_client, parse_broker_url, redact_url
from tests.ingest.conftest import (
    PLANT,
    assert_lake_exactly,
    counters,
    tls_mosquitto,
    valid_corpus,
    wait_until,
)

pytestmark = pytest.mark.integration
ENV = ("USERNAME", "PASSWORD", "PASSWORD_FILE", "CA_FILE", "CERT_FILE", "KEY_FILE")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(f"PHM_MQTT_{name}", raising=False)


def _publish(url: str, items) -> None:
    pub = Publisher(url)
    try:
        for it in items:
            pub.publish(it.topic, it.payload)
        assert pub.wait_acked(30), "the broker did not acknowledge every publish"
    finally:
        pub.close()


def _connects(url: str, within: float = 3.0) -> bool:
    """True if an MQTT connection to `url` is accepted within `within` seconds."""
    accepted = threading.Event()
    address = parse_broker_url(url)
    client = make_client(address, "probe")
    client.on_connect = lambda c, u, f, rc, p: rc.is_failure or accepted.set()
    try:
        client.connect(address.host, address.port)
    except OSError:
        return False
    deadline = time.monotonic() + within
    while not accepted.is_set() and time.monotonic() < deadline:
        if client.loop(0.1) != 0:
            return False
    client.disconnect()
    return accepted.is_set()


# --- URLs, files, passwords ---------------------------------------------------------------------
def test_tls_urls_default_port_files_and_errors(
    pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = parse_broker_url("mqtts://broker.plant")
    assert (a.host, a.port, a.tls.ca_file, a.tls.insecure) == ("broker.plant", 8883, None, False)
    assert parse_broker_url("ssl://h:1").tls is not None
    assert parse_broker_url("mqtt://h").tls is None and parse_broker_url("tcp://h").port == 1883
    a = parse_broker_url(f"mqtts://h:9?ca={pki.ca}&cert={pki.client_cert}&key={pki.client_key}")
    assert (a.port, a.tls.ca_file, a.tls.cert_file, a.tls.key_file) == (
        9, str(pki.ca), str(pki.client_cert), str(pki.client_key)
    )  # fmt: skip
    monkeypatch.setenv("PHM_MQTT_CA_FILE", str(pki.other_ca))
    monkeypatch.setenv("PHM_MQTT_CERT_FILE", str(pki.client_cert))
    monkeypatch.setenv("PHM_MQTT_KEY_FILE", str(pki.client_key))
    a = parse_broker_url("mqtts://h")
    assert (a.tls.ca_file, a.tls.cert_file) == (str(pki.other_ca), str(pki.client_cert))
    assert parse_broker_url(f"mqtts://h?ca={pki.ca}").tls.ca_file == str(pki.ca)  # URL wins
    assert parse_broker_url("mqtt://h").tls is None  # TLS variables do not turn TLS on
    missing = tmp_path / "nope.crt"
    monkeypatch.setenv("PHM_MQTT_CA_FILE", str(missing))
    with pytest.raises(ConfigError, match=r"PHM_MQTT_CA_FILE '.*nope\.crt': cannot read"):
        parse_broker_url("mqtts://h")
    with pytest.raises(ConfigError, match=r"--broker option ca '.*nope\.crt': cannot read"):
        parse_broker_url(f"mqtts://h?ca={missing}")
    with pytest.raises(ConfigError, match="unknown option 'cafile'"):
        parse_broker_url(f"mqtts://h?cafile={pki.ca}")
    with pytest.raises(ConfigError, match="use mqtts://"):
        parse_broker_url(f"mqtt://h?ca={pki.ca}")


def test_password_from_env_or_file_never_from_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PHM_MQTT_USERNAME", "site1")
    monkeypatch.setenv("PHM_MQTT_PASSWORD", "from-env")
    assert parse_broker_url("mqtt://h").password == "from-env"
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    monkeypatch.setenv("PHM_MQTT_PASSWORD_FILE", str(secret))
    with pytest.raises(ConfigError, match="not both"):
        parse_broker_url("mqtt://h")
    monkeypatch.delenv("PHM_MQTT_PASSWORD")
    a = parse_broker_url("mqtt://h")
    assert (a.username, a.password) == ("site1", "from-file")
    assert "from-file" not in repr(a) and "from-file" not in a.display
    monkeypatch.setenv("PHM_MQTT_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"PHM_MQTT_PASSWORD_FILE '.*missing': cannot read"):
        parse_broker_url("mqtt://h")
    assert redact_url("mqtts://u:p%40ss@h:1?ca=/x") == "mqtts://u:***@h:1?ca=/x"
    assert redact_url("mqtt://h:1") == "mqtt://h:1"
    with caplog.at_level(logging.WARNING):
        a = parse_broker_url("mqtt://u:hunter2@h-warn:1")
    assert a.password == "hunter2"
    assert any("PHM_MQTT_PASSWORD" in r.getMessage() for r in caplog.records)
    assert not any("hunter2" in r.getMessage() for r in caplog.records)


def test_a_password_in_the_url_is_never_logged(
    mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker logs where it connected: user and host, not the password."""
    url = f"mqtt://ingest:s3cr3t-pw@127.0.0.1:{mosquitto.port}"  # anonymous broker: accepted
    caplog.set_level(logging.INFO)
    worker = IngestWorker(url, tmp_path / "store", PLANT, client_id="pw1").start()
    try:
        wait_until(lambda: worker.subscribed, 10, "subscription")
    finally:
        worker.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"connected to mqtt://ingest@127.0.0.1:{mosquitto.port}" in m for m in messages)
    assert any("visible in `ps`" in m for m in messages)
    assert not any("s3cr3t-pw" in m for m in messages), messages


# --- TLS against Mosquitto ----------------------------------------------------------------------
def test_ingest_and_simulator_over_mqtts(pki, tmp_path: Path) -> None:
    broker = tls_mosquitto(tmp_path / "mosquitto", pki)
    store = tmp_path / "store"
    url = broker.tls_url
    worker = IngestWorker(url, store, PLANT, client_id="tls1", batch_ms=10).start()
    try:
        wait_until(lambda: worker.subscribed, 10, "subscription over TLS")
        items = valid_corpus(per_stream=2, seed=7)
        _publish(url, items)
        wait_until(lambda: worker.stats.messages == len(items), 20, "all messages")
        plant = load_plant(assets=1)
        stats = run_plant_simulation(plant, url, speed=200, duration_s=1.0, seed=3)
        assert stats.undelivered == 0 and stats.acked == stats.published > 0
        total = len(items) + stats.published
        wait_until(lambda: worker.stats.messages == total, 20, "the simulator's messages")
    finally:
        worker.stop()
        broker.kill()
    assert counters(store)["ingest_messages"] == total
    assert worker.stats.dead_letters == 0
    assert "OpenSSL Error" not in broker.log_path.read_text()


def test_wrong_ca_or_wrong_host_name_is_refused(
    pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = tls_mosquitto(tmp_path / "m1", pki)
    try:
        wrong_ca = f"mqtts://127.0.0.1:{broker.tls.port}?ca={pki.other_ca}"
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            Publisher(wrong_ca)
        worker = IngestWorker(wrong_ca, tmp_path / "store", PLANT, client_id="tls2").start()
        try:
            wait_until(
                lambda: any("certificate verify failed" in r.getMessage() for r in caplog.records),
                10,
                "the worker to report the refused certificate",
            )
            assert not worker.subscribed
        finally:
            worker.stop()
    finally:
        broker.kill()
    # a certificate from the right CA, but for another host name
    broker = tls_mosquitto(tmp_path / "m2", pki, pki.wrong_name_cert, pki.wrong_name_key)
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            Publisher(broker.tls_url)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            Publisher(broker.tls_url + "&insecure=1").close()  # explicitly off: connects, warns
        assert any("WITHOUT host name checking" in r.getMessage() for r in caplog.records)
    finally:
        broker.kill()


def test_client_certificate(pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = tls_mosquitto(tmp_path / "m", pki, require_certificate=True)
    try:
        assert not _connects(broker.tls_url)  # no client certificate: the broker hangs up
        monkeypatch.setenv("PHM_MQTT_CERT_FILE", str(pki.client_cert))
        monkeypatch.setenv("PHM_MQTT_KEY_FILE", str(pki.client_key))
        got = threading.Event()
        worker = IngestWorker(
            broker.tls_url, tmp_path / "store", PLANT, client_id="tls3", batch_ms=10,
            on_commit=lambda keys, t: got.set(),
        ).start()  # fmt: skip
        try:
            wait_until(lambda: worker.subscribed, 10, "subscription with a client certificate")
            items = valid_corpus(per_stream=1, seed=8)
            _publish(broker.tls_url, items)
            wait_until(lambda: worker.stats.messages == len(items), 20, "all messages")
        finally:
            worker.stop()
    finally:
        broker.kill()
    assert got.is_set()
    assert_lake_exactly(tmp_path / "store", PLANT, items)
