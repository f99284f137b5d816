"""The one place MQTT clients are made: broker URLs, credentials, TLS.

`parse_broker_url` reads `mqtt://` / `tcp://` / bare `host[:port]` (port 1883) and `mqtts://` /
`ssl://` (TLS, port 8883). TLS files come from the URL's query (`?ca=...&cert=...&key=...`) or
PHM_MQTT_CA_FILE / PHM_MQTT_CERT_FILE / PHM_MQTT_KEY_FILE; the server's certificate is
verified against the CA file (the system's CAs without one) and its host name is checked
unless `insecure=1` (logged as a warning). The user name comes from the URL or
PHM_MQTT_USERNAME; the password from PHM_MQTT_PASSWORD or PHM_MQTT_PASSWORD_FILE (a file
holding it, trailing newline stripped). A password inside the URL works but shows in `ps`
and shell history, so it is warned about; no password is ever logged (`redact_url`).

`make_client(address, client_id, ...)` returns a paho-mqtt 2.x client (callback API 2) with
the credentials and the TLS context set: used by ingest, the simulator and the benches.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import paho.mqtt.client as mqtt

from phm.errors import ConfigError

log = logging.getLogger(__name__)

PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")
DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
# URL query option -> environment variable holding the same file
TLS_FILE_OPTIONS = {
    "ca": "PHM_MQTT_CA_FILE",
    "cert": "PHM_MQTT_CERT_FILE",
    "key": "PHM_MQTT_KEY_FILE",
}
EXPECTED = "mqtt://host:port (port 1883 if left out) or mqtts://host:port?ca=FILE (8883)"
_warned: set[str] = set()  # redacted URLs already warned about (once per process)


@dataclass(frozen=True)
class TlsSettings:
    """TLS of one broker connection: CA file (None: system CAs), optional client certificate."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # True: the server's host name is NOT checked


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsSettings | None = None

    @property
    def display(self) -> str:
        """The address for logs: scheme, user and host, never the password."""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***` (for logs and printed messages)."""
    return re.sub(r"^([^:/?#]*://[^/?#@:]*):[^/?#@]*@", r"\1:***@", str(url))


def _readable(path: str, option: str) -> str:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {path!r}: cannot read the file ({exc.strerror})") from None
    return path


def _password(parts_password: str | None, env: Mapping[str, str]) -> str | None:
    if parts_password:
        return unquote(parts_password)
    direct, path = env.get("PHM_MQTT_PASSWORD"), env.get("PHM_MQTT_PASSWORD_FILE")
    if direct and path:
        raise ConfigError("set PHM_MQTT_PASSWORD or PHM_MQTT_PASSWORD_FILE, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"PHM_MQTT_PASSWORD_FILE {path!r}: cannot read the password ({reason})"
            ) from None
    return direct or None


def _tls(url: str, scheme: str, query: str, env: Mapping[str, str]) -> TlsSettings | None:
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in (*TLS_FILE_OPTIONS, "insecure"):
            raise ConfigError(
                f"--broker {redact_url(url)!r}: unknown option {name!r} "
                f"(expected {', '.join(TLS_FILE_OPTIONS)} or insecure)"
            )
        options[name] = value
    if scheme not in TLS_SCHEMES:
        if options:
            raise ConfigError(
                f"--broker {redact_url(url)!r}: {', '.join(options)} need TLS: use mqtts://"
            )
        return None
    files: dict[str, str | None] = {}
    for name, var in TLS_FILE_OPTIONS.items():
        if options.get(name):
            files[name] = _readable(options[name], f"--broker option {name}")
        elif env.get(var):
            files[name] = _readable(env[var], var)
        else:
            files[name] = None
    if files["key"] and not files["cert"]:
        raise ConfigError(f"--broker {redact_url(url)!r}: a key file needs its cert file")
    insecure = options.get("insecure", "0").lower()
    if insecure not in ("0", "1", "false", "true", "no", "yes"):
        raise ConfigError(f"--broker option insecure={insecure!r}: expected 0 or 1")
    return TlsSettings(files["ca"], files["cert"], files["key"], insecure in ("1", "true", "yes"))


def parse_broker_url(url: str, env: Mapping[str, str] | None = None) -> BrokerAddress:
    """`mqtt[s]://[user@]host[:port][?ca=...]` (also tcp://, ssl://, bare host[:port]) ->
    BrokerAddress; ConfigError naming the URL (password redacted), option or file."""
    env = os.environ if env is None else env
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"--broker {redact_url(url)!r}: expected {EXPECTED}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError(f"--broker {redact_url(url)!r}: the port is not a number") from None
    if parts.password and redact_url(url) not in _warned:
        _warned.add(redact_url(url))
        log.warning(
            "the broker URL %s carries a password, visible in `ps` and shell history: "
            "give it through PHM_MQTT_PASSWORD or PHM_MQTT_PASSWORD_FILE instead",
            redact_url(url),
        )
    user = unquote(parts.username) if parts.username else env.get("PHM_MQTT_USERNAME")
    password = _password(parts.password, env)
    tls = _tls(url, parts.scheme, parts.query, env)
    return BrokerAddress(parts.hostname, port, user or None, password, tls)


def tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client SSLContext: the CA file (or the system's CAs), the client certificate if any,
    host name checking unless `tls.insecure`."""
    try:
        ctx = ssl.create_default_context(cafile=tls.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CA file {tls.ca_file!r}: not a PEM certificate ({exc})") from None
    if tls.cert_file:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"client certificate {tls.cert_file!r} / key {tls.key_file!r}: cannot load ({exc})"
            ) from None
    if tls.insecure:
        ctx.check_hostname = False  # the chain is still verified against the CA
    return ctx


def make_client(
    address: BrokerAddress,
    client_id: str,
    protocol: str = "5",
    clean_session: bool | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client for `address`: MQTT 5 (or "3.1.1", where `clean_session` applies),
    credentials and TLS set; the caller adds callbacks and connects."""
    if protocol not in ("5", "3.1.1"):
        raise ConfigError(f"MQTT protocol {protocol!r}: expected '5' or '3.1.1'")
    v5 = protocol == "5"
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else clean_session,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls is not None:
        if address.tls.insecure:
            log.warning(
                "TLS to %s WITHOUT host name checking (insecure=1): any server holding a "
                "certificate from this CA can pose as the broker; for tests only",
                address.display,
            )
        client.tls_set_context(tls_context(address.tls))
    return client
