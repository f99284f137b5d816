"""The shipped Mosquitto config and ACL: they parse, Mosquitto starts from them (file paths and
ports rewritten to tmp), and the ACL keeps each gateway to its own site."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from phm.ingest.broker import (
    MOSQUITTO_CONF,
    MosquittoProcess,
    TlsListener,
    free_port,
    localize_config,
)
from phm.wire.mqtt import BrokerAddress, TlsSettings, make_client
from tests.ingest.conftest import REPO, _need_mosquitto

ACL = REPO / "phm" / "configs" / "mosquitto.acl"
ACL_LINE = re.compile(r"(user \S+|(topic|pattern) (read|write|readwrite|deny) \S+)")
USERS = {"phm-ingest": "ingest-pw", "site1": "site1-pw", "site2": "site2-pw"}
SITE1 = "phm/v1/site1/line1/pump-001/process"
SITE2 = "phm/v1/site2/line1/pump-009/process"


def _active(path: Path) -> list[list[str]]:
    return [ln.split() for ln in path.read_text().splitlines() if ln.strip() and ln[0] != "#"]


def test_shipped_config_and_acl_parse() -> None:
    """No inline comments (Mosquitto would refuse the line); the ACL file, password file, TLS
    listener and no anonymous access are on as shipped."""
    for line in MOSQUITTO_CONF.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" not in line, f"{MOSQUITTO_CONF.name}: inline comment in {line!r}"
    keys = {words[0]: words[1:] for words in _active(MOSQUITTO_CONF)}
    assert keys["acl_file"] and keys["password_file"]
    assert keys["allow_anonymous"] == ["false"]
    assert ["8883"] in [w[1:] for w in _active(MOSQUITTO_CONF) if w[0] == "listener"]
    assert keys["cafile"] and keys["certfile"] and keys["keyfile"]
    for line in ACL.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert ACL_LINE.fullmatch(line), f"{ACL.name}: not a rule: {line!r}"


class _Client:
    """An authenticated MQTT 5 client over TLS that records what it gets."""

    def __init__(
        self, port: int, ca: Path, user: str | None, password: str | None, cid: str
    ) -> None:
        address = BrokerAddress("127.0.0.1", port, user, password, TlsSettings(str(ca)))
        self.client = make_client(address, cid)
        self.got: list[str] = []
        self.subacks: list[int] = []
        self.pubacks: dict[int, int] = {}
        self.connected = threading.Event()
        self.refused: list[str] = []
        c = self.client
        c.on_message = lambda cl, u, m: self.got.append(m.topic)
        c.on_subscribe = lambda cl, u, mid, codes, p: self.subacks.extend(x.value for x in codes)
        c.on_publish = lambda cl, u, mid, rc, p: self.pubacks.__setitem__(mid, rc.value)

        def on_connect(cl, u, f, rc, p) -> None:
            if rc.is_failure:
                self.refused.append(str(rc))
            else:
                self.connected.set()

        c.on_connect = on_connect
        c.connect("127.0.0.1", port)
        c.loop_start()
        deadline = time.monotonic() + 5
        while not (self.connected.is_set() or self.refused) and time.monotonic() < deadline:
            time.sleep(0.02)

    def subscribe(self, topic: str) -> None:
        n = len(self.subacks)
        self.client.subscribe(topic, qos=1)
        _until(lambda: len(self.subacks) > n, f"SUBACK for {topic}")

    def publish(self, topic: str) -> int:
        info = self.client.publish(topic, b"x", qos=1)
        _until(lambda: info.mid in self.pubacks, f"PUBACK on {topic}")
        return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _until(cond, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def shipped_broker(pki, tmp_path: Path):
    """Mosquitto started from phm/configs/mosquitto.conf and phm/configs/mosquitto.acl as shipped:
    only ports, persistence, and file paths (password file made with mosquitto_passwd,
    the test CA and server certificate) rewritten."""
    _need_mosquitto()
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(tool).exists():
        pytest.skip("mosquitto_passwd is not installed")
    passwd = tmp_path / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        flags = ["-b", "-c"] if i == 0 else ["-b"]
        subprocess.run([tool, *flags, str(passwd), user, password], check=True)
    ports = {1883: free_port(), 8883: free_port()}
    files = {"password_file": passwd, "acl_file": ACL, "cafile": pki.ca,
             "certfile": pki.server_cert, "keyfile": pki.server_key}  # fmt: skip
    folder = tmp_path / "mosquitto"
    config = localize_config(MOSQUITTO_CONF.read_text(), ports, files, folder / "persistence")
    tls = TlsListener(ports[8883], pki.ca, pki.server_cert, pki.server_key)
    broker = MosquittoProcess(ports[1883], folder, tls=tls, config=config).start()
    yield broker
    broker.kill()


def test_shipped_acl_keeps_gateways_to_their_site(shipped_broker, pki) -> None:
    port = shipped_broker.tls.port
    clients: list[_Client] = []

    def client(user: str, password: str | None = None) -> _Client:
        c = _Client(port, pki.ca, user, password or USERS[user], f"t-{user}-{len(clients)}")
        clients.append(c)
        return c

    try:
        assert client("site2", "wrong").refused  # a bad password is refused
        anonymous = _Client(port, pki.ca, None, None, "t-anonymous")
        clients.append(anonymous)
        assert anonymous.refused  # and so is a client without an account
        ingest = client("phm-ingest")
        ingest.subscribe("phm/v1/+/+/+/+")
        gw2 = client("site2")
        assert gw2.connected.is_set()
        gw2.subscribe("phm/v1/#")  # granted by Mosquitto 2.0 (SUBSCRIBE is not checked) ...
        gw2.subscribe("$share/phm-ingest/phm/v1/+/+/+/+")
        assert gw2.publish(SITE1) == 135  # "Not authorized": site2 may not write site1
        for _ in range(4):
            assert gw2.publish(SITE2) == 0
        gw1 = client("site1")
        assert gw1.publish(SITE1) == 0
        _until(lambda: len(ingest.got) >= 5, "the ingest account to read both sites")
        time.sleep(0.3)
        assert sorted(ingest.got) == [SITE1] + [SITE2] * 4  # site2's write to site1 never came
        assert gw2.got == []  # ... but a gateway reads nothing, shared group or not
    finally:
        for c in clients:
            c.close()


def test_mosquitto_2_0_lets_any_account_join_the_shared_group(shipped_broker, pki) -> None:
    """What the shipped ACL cannot do on Mosquitto 2.0 (docs/live-path.md, Security): a gateway
    joining $share/phm-ingest beside a --shared ingest takes its turn and the broker drops
    those messages (read denied). If this starts failing, the broker checks subscriptions:
    update the docs and allow --shared with the ACL."""
    port = shipped_broker.tls.port
    ingest = _Client(port, pki.ca, "phm-ingest", USERS["phm-ingest"], "t-ingest-shared")
    gw2 = _Client(port, pki.ca, "site2", USERS["site2"], "t-gw2-shared")
    try:
        ingest.subscribe("$share/phm-ingest/phm/v1/+/+/+/+")
        gw2.subscribe("$share/phm-ingest/phm/v1/+/+/+/+")
        assert gw2.subacks == [1]  # granted at QoS 1
        for _ in range(6):
            assert gw2.publish(SITE2) == 0
        time.sleep(0.5)
        assert gw2.got == [] and 0 < len(ingest.got) < 6
    finally:
        ingest.close()
        gw2.close()


def test_simulator_publishes_with_the_credentials_of_the_broker_url(shipped_broker, pki) -> None:
    """`phm simulate plant --broker mqtt://site1:PASSWORD@host:port` logs in as site1 (an
    older copy of the client setup dropped the URL's user and password and was refused)."""
    from phm.errors import PhmError
    from phm.plant import load_plant
    from phm.sim.plant import run_plant_simulation

    plant = load_plant()  # every asset of the shipped plant is at site1
    assert {a.site for a in plant.assets.values()} == {"site1"}
    port = shipped_broker.port  # the loopback listener: the password file applies there too
    ingest = _Client(shipped_broker.tls.port, pki.ca, "phm-ingest", USERS["phm-ingest"], "t-in")
    try:
        ingest.subscribe("phm/v1/+/+/+/+")
        url = f"mqtt://site1:{USERS['site1']}@127.0.0.1:{port}"
        stats = run_plant_simulation(plant, url, speed=200, duration_s=1.0, seed=3)
        assert stats.published > 0 and stats.acked == stats.published
        assert stats.undelivered == 0
        _until(lambda: len(ingest.got) >= stats.published, "every message at the ingest account")
        with pytest.raises(PhmError, match=r"refused: .*(password|authori)"):
            run_plant_simulation(
                plant, f"mqtt://site1:wrong@127.0.0.1:{port}", speed=200, duration_s=0.5, seed=3
            )
    finally:
        ingest.close()
