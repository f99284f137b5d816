"""A real PostgreSQL server for the tests (Debian's postgresql package): one per test session,
in a temporary folder, on a free local port; each test gets its own fresh database.

Skipped with the reason when the server binaries or psycopg are missing, except under CI=true,
where that fails the test. Run as root (CI), the server runs as the `postgres` user (initdb
refuses root)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: apt-get install postgresql; pip install psycopg[binary])")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + postgres in `folder`; `database()` creates a fresh database and returns its URL."""

    def __init__(self, folder: Path) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _missing("needs psycopg (pip install psycopg[binary])")
        initdb, postgres = _bin("initdb"), _bin("postgres")
        if initdb is None or postgres is None:
            _missing("needs PostgreSQL's initdb and postgres (apt-get install postgresql)")
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.user = "phm"
        self._names = itertools.count()
        as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(folder, "postgres")
            as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*as_user, initdb, "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
             "--no-sync"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        self.log = open(folder / "postgres.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [*as_user, postgres, "-D", str(self.data), "-p", str(self.port), "-k", str(folder),
             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_ready()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "postgres.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                time.sleep(0.1)

    def database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # under /tmp itself: pytest's own temporary folders are closed to the server's user
    folder = Path(tempfile.mkdtemp(prefix="phm-postgres-"))
    try:
        server = PostgresServer(folder)
        yield server
        server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database on the session's PostgreSQL server."""
    return postgres_server.database()
