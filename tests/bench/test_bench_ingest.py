"""`phm bench ingest` end to end with a tiny N: both legs run, nothing is lost, files written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phm.bench.ingest import bench_payloads
from phm.cli import main
from phm.wire.codec import decode
from phm.wire.topics import parse_topic
from tests.ingest.conftest import PLANT

pytestmark = pytest.mark.integration


def test_bench_payloads_cover_the_readings_asked_for() -> None:
    payloads = bench_payloads(PLANT, 10_000, 50, 1.7e9)
    assert sum(p[4] for p in payloads) >= 10_000
    assert len({(p[1], p[2]) for p in payloads}) == len(payloads)  # unique (asset, seq)
    topic, asset, seq, payload, readings = payloads[-1]
    t = parse_topic(topic)
    b = decode(payload, t.asset, t.stream, PLANT, now=1.7e9)
    assert (b.asset, b.seq, b.readings) == (asset, seq, readings)


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_bench_ingest_tiny(broker: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if broker == "mosquitto":
        request.getfixturevalue("mosquitto")  # skips (or fails under CI) without Mosquitto
    out = tmp_path / "out"
    rc = main(
        ["bench", "ingest", "--broker", broker, "--readings", "20000", "--rows-per-payload", "20",
         "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    record = json.loads((out / "ingest.json").read_text())
    assert record["zero_loss"] is True and record["lost_readings"] == 0
    assert record["durable_readings_per_s"] > 0 and record["bare_readings_per_s"] > 0
    assert 0 < record["latency_p50_ms"] <= record["latency_p99_ms"]
    details = record["details"]
    assert details["durable"]["lake_readings"] == details["readings"] >= 20_000
    assert details["bare"]["messages"] == details["payloads"]
    assert "durable/bare" in (out / "ingest.md").read_text()
    assert not (out / "ingest-store").exists()
