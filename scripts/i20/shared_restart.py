"""Does the broker keep a shared subscription's messages for an offline member across a restart?

A persistent MQTT 5 session (clean start off, session expiry 1 h) subscribes at QoS 1, goes
offline, the broker (phm/configs/mosquitto.conf, persistence on) restarts, a message is
published, the session comes back without subscribing again. Run once with a plain
subscription and once with a shared one ($share/g/...):

    python scripts/i20/shared_restart.py

Mosquitto 2.0.11 (Debian 12): plain [b'after-restart'], shared [] -- the shared subscription
does not survive the restart, so what is published before its members subscribe again is
dropped. Hence `phm ingest --partition K/N` (plain persistent subscriptions) for several
workers (docs/deployment.md).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from phm.ingest.broker import MosquittoProcess, free_port


def received_after_restart(shared: bool) -> list[bytes]:
    broker = MosquittoProcess(free_port(), Path(tempfile.mkdtemp()) / "mosquitto").start()
    got: list[bytes] = []
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600

    def session() -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sub", protocol=mqtt.MQTTv5)
        c.on_message = lambda _c, _u, m: got.append(m.payload)
        c.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        c.loop_start()
        return c

    try:
        sub = session()
        time.sleep(0.3)
        sub.subscribe("$share/g/t/x" if shared else "t/x", qos=1)
        time.sleep(0.3)
        sub.disconnect()
        sub.loop_stop()
        broker.stop()
        time.sleep(0.5)
        broker.start()
        time.sleep(0.5)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("t/x", b"after-restart", qos=1).wait_for_publish(5)
        time.sleep(0.3)
        sub = session()
        time.sleep(1.0)
        sub.disconnect()
        pub.disconnect()
    finally:
        broker.kill()
    return got


if __name__ == "__main__":
    for shared in (False, True):
        name = "shared" if shared else "plain"
        print(f"{name}: received after the restart: {received_after_restart(shared)}")
