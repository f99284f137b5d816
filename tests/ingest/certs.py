"""Test certificates made with the `openssl` command: a CA, server and client certificates."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    ca: Path  # CA certificate
    server_cert: Path  # for localhost and 127.0.0.1 (subjectAltName), signed by `ca`
    server_key: Path
    wrong_name_cert: Path  # signed by `ca`, for broker.elsewhere.example only
    wrong_name_key: Path
    other_ca: Path  # a CA that signed nothing here
    client_cert: Path  # a client certificate (CN phm-ingest) signed by `ca`
    client_key: Path


def _openssl(*args: str | Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("the openssl command is not installed")
    done = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:2]))} failed:\n{done.stderr}")


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    crt, key = folder / f"{name}.crt", folder / f"{name}.key"
    _openssl(
        "req", "-x509", *EC, "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return crt, key


def _leaf(folder: Path, name: str, ca: tuple[Path, Path], cn: str, ext: str) -> tuple[Path, Path]:
    crt, key, csr = folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.csr"
    extfile = folder / f"{name}.ext"
    extfile.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n" + ext + "\n"
    )
    _openssl("req", *EC, "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", extfile,
    )  # fmt: skip
    return crt, key


def make_pki(folder: Path) -> Pki:
    """Everything the TLS tests need, in `folder` (about a second)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "phm-test-ca")
    other = _ca(folder, "other-ca")
    server = _leaf(
        folder, "server", ca, "localhost",
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1",
    )  # fmt: skip
    wrong = _leaf(
        folder, "wrong-name", ca, "broker.elsewhere.example",
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:broker.elsewhere.example",
    )  # fmt: skip
    client = _leaf(folder, "client", ca, "phm-ingest", "extendedKeyUsage=clientAuth")
    return Pki(ca[0], *server, *wrong, other[0], *client)
