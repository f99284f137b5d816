"""Fixtures the bench tests share with the ingest tests (a Mosquitto process)."""

from tests.ingest.conftest import mosquitto  # noqa: F401 - a fixture, used by name
