"""The state store's tests run on both databases: SQLite (a file) and PostgreSQL (a real
server, tests/postgres_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres_server import postgres_server  # noqa: F401  (a fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_at(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's state store lives: a state.sqlite path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    return request.getfixturevalue("postgres_server").database()
