"""Fixtures of the dashboard tests: one synthetic store (store_fixture.py) per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboards.store_fixture import FixtureStore, build_store

PAGES = Path(__file__).parents[2] / "phm" / "dashboard" / "app"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (Playwright)")


@pytest.fixture(scope="module")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return build_store(tmp_path_factory.mktemp("store"), n_assets=8, days=2.0)


@pytest.fixture
def store_env(fixture_store: FixtureStore, monkeypatch: pytest.MonkeyPatch) -> FixtureStore:
    monkeypatch.setenv("PHM_STORE", str(fixture_store.root))
    return fixture_store
