"""Payload codec and topics: round trips (hypothesis), and every rejection with its reason."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from phm.plant import load_plant
from phm.wire.codec import MAGIC, PayloadError, decode, encode
from phm.wire.topics import TopicError, parse_topic, shared_subscription, topic_for

PLANT = load_plant()
PUMP = PLANT.stream("pump-001", "temperature")
MILL = PLANT.stream("ion_mill-001", "process")
VIB = PLANT.stream("pump-001", "vibration")


@settings(max_examples=50, deadline=None)
@given(
    seq=st.integers(0, 2**62),
    t0=st.floats(0, 2e9),
    dt=st.floats(0, 100),
    values=hnp.arrays(
        np.float32,
        st.tuples(st.integers(0, 40), st.just(len(PUMP.channels))),
        elements=st.floats(-1e6, 1e6, width=32),
    ),
)
def test_rows_round_trip(seq: int, t0: float, dt: float, values: np.ndarray) -> None:
    batch = decode(encode(seq, t0, values, PUMP.channels, dt), "pump-001", "temperature", PLANT)
    assert batch.seq == seq and batch.t0 == t0 and batch.dt == dt
    np.testing.assert_array_equal(batch.values, values)
    assert batch.readings == values.size
    np.testing.assert_allclose(batch.times, t0 + dt * np.arange(len(values)))


def test_waveform_and_event_round_trip() -> None:
    snap = np.random.default_rng(0).normal(size=(2, 2, VIB.samples)).astype(np.float32)
    batch = decode(
        encode(7, 10.0, snap, VIB.channels, dt=60.0, fs=VIB.sampling_hz),
        "pump-002",
        "vibration",
        PLANT,
    )
    np.testing.assert_array_equal(batch.values, snap)
    assert batch.fs == VIB.sampling_hz and batch.readings == snap.size
    ev = decode(encode(1, 5.0, event={"kind": "maintenance"}), "pump-001", "event", PLANT)
    assert ev.event == {"kind": "maintenance"} and ev.readings == 0


def test_nan_only_in_nullable_channels() -> None:
    rows = np.ones((3, len(MILL.channels)), np.float32)
    rows[0, MILL.channels.index("ETCHAUXSOURCETIMER")] = np.nan
    decode(encode(1, 0.0, rows, MILL.channels, 4.0), "ion_mill-001", "process", PLANT)
    rows[2, MILL.channels.index("FLOWCOOLPRESSURE")] = np.inf
    with pytest.raises(PayloadError, match="FLOWCOOLPRESSURE") as err:
        decode(encode(1, 0.0, rows, MILL.channels, 4.0), "ion_mill-001", "process", PLANT)
    assert err.value.reason == "not_finite"


def _frame(header: dict, body: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + body


GOOD = {"seq": 1, "t0": 1.7e9 - 60, "dt": 1.0, "n": 1, "channels": list(PUMP.channels)}
BODY = np.ones((1, len(PUMP.channels)), "<f4").tobytes()


@pytest.mark.parametrize(
    ("payload", "asset", "reason"),
    [
        (b"", "pump-001", "bad_frame"),
        (b"not a frame at all", "pump-001", "bad_frame"),
        (MAGIC + struct.pack("<I", 10**6) + b"{}", "pump-001", "bad_frame"),
        (MAGIC + struct.pack("<I", 4) + b"\xff\xfe{}", "pump-001", "bad_header"),
        (_frame([1, 2]), "pump-001", "bad_header"),  # type: ignore[arg-type]
        (_frame({**GOOD, "seq": "1"}, BODY), "pump-001", "bad_type"),
        (_frame({**GOOD, "seq": True}, BODY), "pump-001", "bad_type"),
        (_frame({k: v for k, v in GOOD.items() if k != "n"}, BODY), "pump-001", "missing_field"),
        (_frame({**GOOD, "seq": -1}, BODY), "pump-001", "bad_value"),
        (_frame({**GOOD, "dt": -1.0}, BODY), "pump-001", "bad_value"),
        (_frame({**GOOD, "dt": "1"}, BODY), "pump-001", "bad_type"),
        (_frame({**GOOD, "dt": [1]}, BODY), "pump-001", "bad_type"),
        (_frame({**GOOD, "dt": True}, BODY), "pump-001", "bad_type"),
        (_frame({**GOOD, "t0": 10**400}, BODY), "pump-001", "bad_value"),
        (_frame({**GOOD, "channels": ["a"]}, BODY), "pump-001", "bad_channels"),
        (_frame(GOOD, BODY[:-1]), "pump-001", "bad_length"),
        (_frame({**GOOD, "n": 2}, BODY), "pump-001", "bad_length"),
        (_frame(GOOD, BODY), "pump-404", "unknown_asset"),
        (_frame(GOOD, np.full((1, 4), np.nan, "<f4").tobytes()), "pump-001", "not_finite"),
        (_frame({**GOOD, "t0": 1e12}, BODY), "pump-001", "future_timestamp"),
        (b"PHM1" + b"\0" * 9_000_000, "pump-001", "oversize"),
    ],
)
def test_rejections_name_their_reason(payload: bytes, asset: str, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode(payload, asset, "temperature", PLANT, now=1.7e9)
    assert err.value.reason == reason


def test_waveform_shape_must_match_the_spec() -> None:
    snap = np.zeros((1, 2, 128), np.float32)
    with pytest.raises(PayloadError) as err:
        decode(
            encode(1, 0.0, snap, VIB.channels, fs=VIB.sampling_hz), "pump-001", "vibration", PLANT
        )
    assert err.value.reason == "bad_shape"


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("phm/v1/site1/line1/pump-001/vibration", True),
        ("phm/v1/site1/line1/pump-001/audio", False),
        ("phm/v2/site1/line1/pump-001/process", False),
        ("phm/v1/site1/line1/process", False),
        ("phm/v1/site1//pump-001/process", False),
        ("phm/v1/a/b/c/d/process", False),
    ],
)
def test_topic_scheme(topic: str, ok: bool) -> None:
    if ok:
        t = parse_topic(topic)
        assert str(t) == topic == topic_for(t.site, t.line, t.asset, t.stream)
    else:
        with pytest.raises(TopicError, match="topic"):
            parse_topic(topic)
    assert shared_subscription().startswith("$share/phm-ingest/phm/v1/")
