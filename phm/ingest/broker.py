"""MQTT brokers for the live path: an embedded one for `phm demo`, Mosquitto for the rest.

- `EmbeddedBroker(port)`: amqtt in this process, on its own asyncio loop in a background
  thread, bound to 127.0.0.1, anonymous. MQTT 3.1.1 only (amqtt speaks no MQTT 5), so
  clients connect with `protocol="3.1.1"` and shared subscriptions are unavailable.
- `MosquittoProcess(port, data_dir)`: the production broker as a subprocess, configured from
  phm/configs/mosquitto.conf with this port, a persistence folder in `data_dir`, and anonymous
  access on a loopback listener; used by the reliability tests and `phm bench ingest`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phm.errors import PhmError
from phm.resources import resource_path

log = logging.getLogger(__name__)

ANONYMOUS_AUTH = "amqtt.plugins.authentication.AnonymousAuthPlugin"

MOSQUITTO_CONF = resource_path("mosquitto.conf")  # shipped: phm/configs/mosquitto.conf
_MOSQUITTO_PATHS = (
    "/usr/sbin/mosquitto",
    "/usr/local/sbin/mosquitto",
    "/opt/homebrew/sbin/mosquitto",
)


class BrokerError(PhmError, RuntimeError):
    """A broker could not be found, started or reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    """True once `host:port` accepts a TCP connection, False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def find_mosquitto() -> str | None:
    """The mosquitto executable: on PATH, else the Debian location /usr/sbin/mosquitto."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in _MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


def _serve_in_child(host: str, port: int, ready: Any) -> None:
    """A child process's main: amqtt on host:port until SIGTERM (the parent's stop()).

    Ctrl-C in a terminal signals the whole process group: the child ignores SIGINT and leaves
    the shutdown to its parent. (A multiprocessing.Event to stop it hung the parent's stop()
    forever once the child had died: Event.set waits for its dead waiter to wake.)"""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    broker = EmbeddedBroker(port, host).start()
    ready.set()
    stop.wait()
    broker.stop()


class EmbeddedBroker:
    """amqtt on 127.0.0.1:`port`: in this process (background thread, own event loop) or,
    with `own_process=True`, in a child process, so the broker does not share the Python
    interpreter lock with a publisher or an ingest worker running here."""

    def __init__(
        self, port: int = 1883, host: str = "127.0.0.1", own_process: bool = False
    ) -> None:
        self.port = port
        self.host = host
        self.own_process = own_process
        self._process: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start the broker; returns once it accepts connections (BrokerError otherwise)."""
        if self._thread is not None or self._process is not None:
            return self
        if self.own_process:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            ready = ctx.Event()
            self._process = ctx.Process(
                target=_serve_in_child,
                args=(self.host, self.port, ready),
                name="amqtt-broker",
                daemon=True,
            )
            self._process.start()
            if not ready.wait(timeout):  # set once the child's broker listens
                self.stop()
                raise BrokerError(f"embedded MQTT broker on {self.url} did not start")
            return self
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise BrokerError(f"embedded MQTT broker on {self.url} did not start: {self._error}")
        return self

    def _serve(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {ANONYMOUS_AUTH: {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and join its thread (or child process)."""
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()  # SIGTERM: the child shuts amqtt down and exits
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
            self._process = None
            return
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._broker is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
            try:
                fut.result(timeout)
            except Exception as exc:  # still stop the loop below
                log.warning("embedded broker shutdown: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._loop = self._broker = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class TlsListener:
    """A second, TLS listener for MosquittoProcess: PEM files, optional client certificates."""

    port: int
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


# per-listener TLS settings of the shipped config: they follow whichever listener came last
_TLS_KEYS = {"cafile", "capath", "certfile", "keyfile", "require_certificate",
             "use_identity_as_username", "tls_version", "ciphers"}  # fmt: skip


def mosquitto_config(
    template: str, port: int, persistence_dir: Path, host: str, tls: TlsListener | None = None
) -> str:
    """phm/configs/mosquitto.conf rewritten for a local broker: our listener (and `tls` listener)
    and persistence folder, anonymous access (loopback only), no password or ACL file,
    stderr logging."""
    replaced = {
        "listener",
        "persistence_location",
        "password_file",
        "acl_file",
        "allow_anonymous",
        "log_dest",
        "user",
        *_TLS_KEYS,
    }
    lines = [
        line for line in template.splitlines() if not (line.split() and line.split()[0] in replaced)
    ]
    lines += [
        "",
        "# --- written by phm.ingest.broker.MosquittoProcess ---",
        f"listener {port} {host}",
        "allow_anonymous true",
        f"persistence_location {persistence_dir}/",
        "log_dest stderr",
    ]
    if tls is not None:
        lines += [
            f"listener {tls.port} {host}",
            f"cafile {tls.cafile}",
            f"certfile {tls.certfile}",
            f"keyfile {tls.keyfile}",
            f"require_certificate {str(tls.require_certificate).lower()}",
        ]
    lines += _as_root()
    return "\n".join(lines) + "\n"


def _as_root() -> list[str]:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # as root, Mosquitto switches to user `mosquitto`, which cannot write our folder
        return ["user root"]
    return []


def localize_config(
    template: str,
    ports: dict[int, int],
    files: dict[str, str | Path],
    persistence_dir: Path,
    host: str = "127.0.0.1",
) -> str:
    """The shipped config as it is, with only its machine-specific values changed: each
    `listener P` becomes `listener ports[P] host`, each `key value` with key in `files`
    (password_file, acl_file, cafile, ...) gets files[key]; persistence in `persistence_dir`,
    log to stderr. A listener or file key missing from the template is a BrokerError."""
    out, seen = [], set()
    for line in template.splitlines():
        words = line.split()
        key = words[0] if words else ""
        if key == "listener":
            if int(words[1]) not in ports:
                raise BrokerError(f"mosquitto config: listener {words[1]} has no test port")
            seen.add(int(words[1]))
            line = f"listener {ports[int(words[1])]} {host}"
        elif key in files:
            seen.add(key)
            line = f"{key} {files[key]}"
        elif key == "persistence_location":
            line = f"persistence_location {persistence_dir}/"
        elif key == "log_dest":
            line = "log_dest stderr"
        out.append(line)
    missing = [str(k) for k in (*ports, *files) if k not in seen]
    if missing:
        raise BrokerError(f"mosquitto config: no {', '.join(missing)} line to rewrite")
    return "\n".join([*out, *_as_root()]) + "\n"


class MosquittoProcess:
    """Mosquitto as a subprocess on `host:port`, persisting to `data_dir`/persistence.

    `start()` returns once the port accepts; `stop()` sends SIGTERM (Mosquitto then saves its
    database, so queued messages survive a restart on the same `data_dir`); `kill()` SIGKILLs.
    """

    def __init__(
        self,
        port: int,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        executable: str | None = None,
        template: str | Path = MOSQUITTO_CONF,
        tls: TlsListener | None = None,
        config: str | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.data_dir = Path(data_dir)
        self.executable = executable
        self.template = Path(template)
        self.tls = tls
        self.config = config  # the whole config, as is (then `port` is one of its listeners)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """mqtts:// to the TLS listener, trusting its CA file."""
        if self.tls is None:
            raise BrokerError("this MosquittoProcess has no TLS listener")
        return f"mqtts://{self.host}:{self.tls.port}?ca={self.tls.cafile}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> MosquittoProcess:
        """Write the config and start Mosquitto; BrokerError if it is missing or fails."""
        exe = self.executable or find_mosquitto()
        if exe is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        persistence = self.data_dir / "persistence"
        persistence.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            self.config
            if self.config is not None
            else mosquitto_config(
                self.template.read_text(), self.port, persistence, self.host, self.tls
            )
        )
        logfile = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=logfile, stderr=subprocess.STDOUT
        )
        logfile.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            ports = [self.port] + ([self.tls.port] if self.tls else [])
            if all(wait_for_port(self.host, p, timeout=0.2) for p in ports):
                return self
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.kill()
        raise BrokerError(f"mosquitto on {self.url} did not start; its log:\n{tail}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (Mosquitto saves its persistence database on the way out)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("mosquitto did not stop in %.0f s; killing it", timeout)
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL (no save) and wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> MosquittoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
