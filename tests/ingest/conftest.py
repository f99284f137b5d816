"""Fixtures for ingest: a real Mosquitto on a free port, payload corpora, lake checks.

Mosquitto is found on PATH or at /usr/sbin/mosquitto (Debian). Without it the broker tests
are skipped locally and FAIL under CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.ingest.broker import MosquittoProcess, TlsListener, find_mosquitto, free_port
from phm.plant import Plant, load_plant
from phm.wire.codec import encode
from phm.wire.topics import topic_for
from tests.ingest.certs import Pki, make_pki
from tests.postgres_server import postgres_server  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[2]
PLANT = load_plant()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, every=0.05) -> None:
    """Poll `predicate` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto broker (phm/configs/mosquitto.conf, persistence in tmp) on a free port."""
    _need_mosquitto()
    broker = MosquittoProcess(free_port(), tmp_path / "mosquitto").start()
    yield broker
    broker.kill()


@dataclass(frozen=True)
class Item:
    """One published payload and what it must become."""

    topic: str
    payload: bytes
    asset: str
    stream: str
    seq: int
    t0: float = 0.0
    values: np.ndarray | None = None  # valid: the decoded values
    reason: str | None = None  # invalid: the dead-letter reason


def valid_corpus(
    plant: Plant = PLANT, per_stream: int = 6, rows: int = 8, seed: int = 0
) -> list[Item]:
    """Valid rows, waveforms and events of every asset of `plant`, unique seq per stream,
    interleaved across assets and streams as a plant would publish them."""
    rng = np.random.default_rng(seed)
    now = time.time()
    base = int(now * 1e6) + seed * 10_000_000
    streams: list[list[Item]] = []
    for asset in plant.assets.values():
        for name, spec in plant.types[asset.type].streams.items():
            topic = topic_for(asset.site, asset.line, asset.asset_id, name)
            items = []
            for i in range(per_stream):
                seq = base + i
                t0 = now - 3600 + i * 10.0
                if spec.kind == "event":
                    payload = encode(seq, t0, event={"kind": "maintenance", "i": i})
                    values = np.zeros((0, 0), np.float32)
                elif spec.kind == "waveform":
                    values = rng.standard_normal((1, len(spec.channels), spec.samples))
                    values = values.astype(np.float32)
                    payload = encode(seq, t0, values, spec.channels, dt=1.0, fs=spec.sampling_hz)
                else:
                    values = rng.uniform(-100, 100, (rows, len(spec.channels))).astype(np.float32)
                    if spec.nullable:
                        values[::3, spec.channels.index(spec.nullable[0])] = np.nan
                    payload = encode(seq, t0, values, spec.channels, dt=1.0)
                items.append(Item(topic, payload, asset.asset_id, name, seq, t0, values))
            streams.append(items)
    order = rng.permutation(len(streams))
    return [streams[k][i] for i in range(per_stream) for k in order]


def assert_lake_exactly(store: Path, plant: Plant, items: list[Item]) -> None:
    """Every valid item is in the lake once, with its values; no file holds a repeat."""
    from phm.store.lake import Lake
    from phm.store.state import lake_key, open_state

    lake = Lake(store / "lake", plant)
    valid = [it for it in items if it.values is not None]
    by_stream: dict[tuple[str, str], list[Item]] = {}
    for it in valid:
        by_stream.setdefault((it.asset, it.stream), []).append(it)
    for (asset, stream), group in by_stream.items():
        kind = plant.stream(asset, stream).kind
        if kind == "event":
            df = lake.read_events(asset)
            assert sorted(df["seq"].to_list()) == sorted(it.seq for it in group)
            continue
        if kind == "waveform":
            times, _fs, data = lake.read_waveforms(asset, stream=stream)
            for it in group:  # one snapshot per item, at its own t0
                (idx,) = np.nonzero(times == it.t0)
                assert len(idx) == it.values.shape[0], (asset, stream, it.seq)
                np.testing.assert_array_equal(data[idx], it.values)
            assert len(times) == sum(it.values.shape[0] for it in group), (asset, stream)
            continue
        df = lake.read_rows(stream, asset)
        channels = list(plant.stream(asset, stream).channels)
        assert df.height == sum(it.values.shape[0] for it in group), (asset, stream)
        for it in group:
            rows = df.filter(pl.col("seq") == it.seq).sort("row")
            assert rows["row"].to_list() == list(range(it.values.shape[0]))
            np.testing.assert_array_equal(rows.select(channels).to_numpy(), it.values)
    # physically once: the raw files (no reader dedupe) repeat no (stream, asset, seq, row),
    # and every file is a committed segment (no orphans left behind)
    files = sorted((store / "lake").glob("*/asset=*/date=*/part-*.parquet"))
    state = open_state(store)  # state.sqlite, or PHM_STATE_URL's PostgreSQL
    try:
        assert {lake_key(f) for f in files} == state.segment_paths()
        assert not list((store / "lake").glob("*/asset=*/date=*/*.tmp"))
        assert len(state.seen([(it.asset, it.stream, it.seq) for it in valid])) == len(
            {(it.asset, it.stream, it.seq) for it in valid}
        )
    finally:
        state.close()
    keys: Counter = Counter()
    for f in files:
        stream, asset = f.parts[-4], f.parts[-3].removeprefix("asset=")
        cols = ["seq"] if stream == "event" else ["seq", "row"]
        for row in pl.read_parquet(f, columns=cols).iter_rows():
            keys[(stream, asset, *row)] += 1
    repeats = {k: n for k, n in keys.items() if n > 1}
    assert not repeats, f"{len(repeats)} readings stored more than once, e.g. {list(repeats)[:3]}"


def counters(store: Path) -> dict[str, int]:
    """The state store's counters ({} before the store exists), read as the dashboard reads
    them: a read-only connection, so polling never takes the write lock from the worker."""
    from phm.store.state import StateStore, state_exists, state_location

    path = state_location(store)
    if not state_exists(path):
        return {}
    state = StateStore(path, readonly=True)
    try:
        return state.counters()
    finally:
        state.close()


class WorkerProcess:
    """`python3 -m phm ingest ...` as a subprocess (killable with SIGKILL)."""

    def __init__(self, url: str, store: Path, client_id: str, *extra: str) -> None:
        self.args = [
            sys.executable,
            "-m",
            "phm",
            "ingest",
            "--broker",
            url,
            "--store",
            str(store),
            "--client-id",
            client_id,
            *extra,
        ]
        self.store = store
        self.log = store.parent / f"{client_id}.log"
        self.proc: subprocess.Popen | None = None
        self._subscriptions = 0  # "subscribed" log lines seen so far (the log is appended)

    def start(self) -> WorkerProcess:
        self.store.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_subscribed(self, timeout: float = 30.0) -> None:
        """Until this run of the worker logged its granted subscription."""

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"ingest worker exited {self.proc.returncode}:\n{self.output()}")
            return self.output().count("ingest: subscribed") > self._subscriptions

        wait_until(ready, timeout, "the ingest worker to subscribe")
        self._subscriptions = self.output().count("ingest: subscribed")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)


def _need_mosquitto() -> None:
    if find_mosquitto() is None:
        reason = "mosquitto is not installed (apt-get install mosquitto; /usr/sbin/mosquitto)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}: CI must run the broker tests")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA with server (localhost, 127.0.0.1), wrong-name and client certificates."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_mosquitto(
    folder: Path, pki: Pki, cert: Path | None = None, key: Path | None = None, **kw: bool
) -> MosquittoProcess:
    """A started Mosquitto with a plain loopback listener and a TLS one (server certificate
    `cert`/`key`, default the localhost one); `require_certificate=True` for client certs."""
    _need_mosquitto()
    tls = TlsListener(free_port(), pki.ca, cert or pki.server_cert, key or pki.server_key, **kw)
    return MosquittoProcess(free_port(), folder, tls=tls).start()
