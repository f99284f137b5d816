"""The lake against real Parquet files in tmp_path, for the shipped plant."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phm.errors import DataFormatError
from phm.plant import load_plant
from phm.store.lake import Lake, LakeWriter, compact, partition_dir, utc_date
from phm.wire.codec import Batch, decode, encode

PLANT = load_plant()
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()
MIDNIGHT = dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()


def rows_batch(asset: str, stream: str, seq: int, t0: float, n: int, dt_s: float = 1.0) -> Batch:
    spec = PLANT.stream(asset, stream)
    rng = np.random.default_rng(seq)
    values = rng.normal(size=(n, len(spec.channels))).astype(np.float32)
    payload = encode(seq, t0, values, spec.channels, dt=dt_s)
    return decode(payload, asset, stream, PLANT)


def wave_batch(seq: int, t0: float, n: int) -> Batch:
    spec = PLANT.stream("pump-001", "vibration")
    rng = np.random.default_rng(seq)
    values = rng.normal(size=(n, len(spec.channels), spec.samples)).astype(np.float32)
    payload = encode(seq, t0, values, spec.channels, dt=10.0, fs=spec.sampling_hz)
    return decode(payload, "pump-001", "vibration", PLANT)


def event_batch(asset: str, seq: int, t0: float, kind: str) -> Batch:
    return decode(encode(seq, t0, event={"kind": kind, "n": seq}), asset, "event", PLANT)


def all_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_rows_round_trip_both_asset_types(tmp_path):
    batches = [
        rows_batch("pump-001", "process", 10, T0, 30),
        rows_batch("pump-001", "process", 11, T0 + 30, 30),
        rows_batch("ion_mill-001", "process", 5, T0, 12, dt_s=4.0),
    ]
    segments = LakeWriter(tmp_path, PLANT).write(batches)
    assert len(segments) == 2  # one per (stream, asset, date)
    pump = next(s for s in segments if s.asset == "pump-001")
    assert (pump.rows, pump.t_min, pump.t_max) == (60, T0, T0 + 59)
    assert pump.path.parent == partition_dir(tmp_path, "process", "pump-001", "2026-03-01")
    assert not list(tmp_path.rglob("*.tmp"))

    lake = Lake(tmp_path, PLANT)
    df = lake.read_rows("process", "pump-001")
    spec = PLANT.stream("pump-001", "process")
    assert df.columns == ["time", "seq", "row", *spec.channels]
    assert df.schema["time"] == pl.Float64 and df.schema["seq"] == pl.Int64
    assert df.schema["row"] == pl.Int32 and df.schema["speed_rpm"] == pl.Float32
    expected = np.concatenate([batches[0].values, batches[1].values])
    np.testing.assert_array_equal(df.select(spec.channels).to_numpy(), expected)
    np.testing.assert_array_equal(df["time"].to_numpy(), T0 + np.arange(60.0))
    assert df["row"].to_list() == list(range(30)) * 2
    assert df["seq"].to_list() == [10] * 30 + [11] * 30

    ion = lake.read_rows("process", "ion_mill-001")
    assert ion.width == 3 + 22 and ion.height == 12
    np.testing.assert_array_equal(ion.select(ion.columns[3:]).to_numpy(), batches[2].values)
    assert lake.assets("process") == ["ion_mill-001", "pump-001"]
    assert lake.latest_time("process", "pump-001") == T0 + 59
    assert lake.latest_time("temperature", "pump-001") is None


def test_time_window_is_half_open(tmp_path):
    LakeWriter(tmp_path, PLANT).write([rows_batch("pump-001", "temperature", 1, T0, 10)])
    df = Lake(tmp_path, PLANT).read_rows("temperature", "pump-001", start=T0 + 2, end=T0 + 5)
    assert df["time"].to_list() == [T0 + 2, T0 + 3, T0 + 4]


def test_waveforms_round_trip(tmp_path):
    batches = [wave_batch(1, T0, 2), wave_batch(2, T0 + 20, 3)]
    (seg,) = LakeWriter(tmp_path, PLANT).write(batches)
    assert seg.rows == 5
    schema = pl.read_parquet_schema(seg.path)
    assert schema["fs"] == pl.Float32
    assert schema["drive_end"] == pl.Array(pl.Float32, 4096)
    times, fs, data = Lake(tmp_path, PLANT).read_waveforms("pump-001")
    assert fs == 12800.0 and data.shape == (5, 2, 4096) and data.dtype == np.float32
    np.testing.assert_array_equal(data, np.concatenate([b.values for b in batches]))
    np.testing.assert_array_equal(times, [T0, T0 + 10, T0 + 20, T0 + 30, T0 + 40])
    times, _, data = Lake(tmp_path, PLANT).read_waveforms("pump-001", start=T0 + 15)
    assert data.shape == (3, 2, 4096) and times[0] == T0 + 20


def test_events_round_trip(tmp_path):
    batches = [
        event_batch("ion_mill-001", 2, T0 + 5, "recipe_change"),
        event_batch("ion_mill-001", 1, T0, "maintenance"),
    ]
    (seg,) = LakeWriter(tmp_path, PLANT).write(batches)
    assert (seg.rows, seg.t_min, seg.t_max) == (2, T0, T0 + 5)
    df = Lake(tmp_path, PLANT).read_events("ion_mill-001")
    assert df.columns == ["time", "seq", "kind", "event"]
    assert df["kind"].to_list() == ["maintenance", "recipe_change"]
    assert json.loads(df["event"][1]) == {"kind": "recipe_change", "n": 2}


def test_partition_by_utc_date_of_first_row(tmp_path):
    # 10 rows from 23:59:55: rows past midnight stay with their batch in the earlier day
    crossing = rows_batch("pump-001", "process", 1, MIDNIGHT - 5, 10)
    after = rows_batch("pump-001", "process", 2, MIDNIGHT + 60, 5)
    segments = LakeWriter(tmp_path, PLANT).write([crossing, after])
    dates = sorted(s.path.parent.name for s in segments)
    assert dates == ["date=2026-03-01", "date=2026-03-02"]
    lake = Lake(tmp_path, PLANT)
    # a window starting after midnight still finds the spilled rows in the earlier partition
    df = lake.read_rows("process", "pump-001", start=MIDNIGHT)
    assert df["time"].to_list() == [MIDNIGHT + k for k in range(5)] + [
        MIDNIGHT + 60 + k for k in range(5)
    ]
    assert lake.latest_time("process", "pump-001") == MIDNIGHT + 64
    assert utc_date(MIDNIGHT - 0.001) == "2026-03-01"


def test_batch_spanning_a_day_is_refused(tmp_path):
    with pytest.raises(ValueError, match="seq 3 spans"):
        LakeWriter(tmp_path, PLANT).write([rows_batch("pump-001", "process", 3, T0, 3, 50000.0)])


def test_partial_tmp_file_is_ignored(tmp_path):
    (seg,) = LakeWriter(tmp_path, PLANT).write([rows_batch("pump-001", "process", 1, T0, 4)])
    (seg.path.parent / ".part-deadbeef.parquet.tmp").write_bytes(b"PAR1 half a file")
    df = Lake(tmp_path, PLANT).read_rows("process", "pump-001")
    assert df.height == 4


def test_corrupt_segment_names_its_path(tmp_path):
    (seg,) = LakeWriter(tmp_path, PLANT).write([rows_batch("pump-001", "process", 1, T0, 4)])
    bad = seg.path.parent / "part-corrupt.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError, match=r"part-corrupt\.parquet"):
        Lake(tmp_path, PLANT).read_rows("process", "pump-001")


def test_duplicates_across_segments_read_once(tmp_path):
    writer = LakeWriter(tmp_path, PLANT)
    b = rows_batch("pump-001", "process", 7, T0, 20)
    writer.write([b])
    writer.write([b, rows_batch("pump-001", "process", 8, T0 + 20, 5)])  # redelivered + new
    assert len(list(tmp_path.rglob("part-*.parquet"))) == 2
    df = Lake(tmp_path, PLANT).read_rows("process", "pump-001")
    assert df.height == 25
    assert df.select("seq", "row").is_unique().all()


def test_compaction_keeps_every_row_once(tmp_path):
    writer = LakeWriter(tmp_path, PLANT)
    batches = [rows_batch("pump-001", "process", s, T0 + 10 * s, 10) for s in range(6)]
    for b in batches:
        writer.write([b])
    writer.write(batches[2:4])  # duplicates, as after a redelivery
    before = Lake(tmp_path, PLANT).read_rows("process", "pump-001")
    seen = []
    new = compact(
        tmp_path,
        "process",
        "pump-001",
        "2026-03-01",
        on_commit=lambda seg, old: seen.append((seg, old)),
    )
    files = all_files(tmp_path)
    assert files == [new]
    assert seen[0][0].path == new and seen[0][0].rows == 60 and len(seen[0][1]) == 7
    raw = pl.read_parquet(new)
    assert raw.height == 60  # duplicates dropped in the file itself
    after = Lake(tmp_path, PLANT).read_rows("process", "pump-001")
    assert after.equals(before)
    assert compact(tmp_path, "process", "pump-001", "2026-03-01") is None  # one file left


def test_unknown_stream_kind_is_refused(tmp_path):
    with pytest.raises(Exception, match="waveform"):
        Lake(tmp_path, PLANT).read_rows("vibration", "pump-001")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 2**62),  # seq
            st.integers(1, 20),  # rows
            st.floats(0, 4e9),  # t0
            st.sampled_from([0.0, 0.5, 4.0]),  # dt
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda x: x[0],
    ),
    nan=st.booleans(),
)
def test_random_row_batches_round_trip(tmp_path_factory, data, nan):
    root = tmp_path_factory.mktemp("lake")
    spec = PLANT.stream("ion_mill-001", "process")
    batches = []
    for seq, n, t0, dt_s in data:
        values = np.random.default_rng(seq % 1000).normal(size=(n, 22)).astype(np.float32)
        if nan:
            values[:, spec.channels.index("ETCHAUXSOURCETIMER")] = np.nan
        batches.append(Batch("ion_mill-001", "process", seq, t0, dt_s, spec.channels, values))
    LakeWriter(root, PLANT).write(batches)
    df = Lake(root, PLANT).read_rows("process", "ion_mill-001")
    expected = pl.DataFrame(
        {
            "time": np.concatenate([b.times for b in batches]),
            "seq": np.concatenate([np.full(len(b.values), b.seq) for b in batches]),
            "row": np.concatenate([np.arange(len(b.values)) for b in batches]).astype(np.int32),
        }
        | {
            c: np.concatenate([b.values[:, j] for b in batches])
            for j, c in enumerate(spec.channels)
        }
    ).sort(["time", "seq", "row"])
    assert df.height == sum(len(b.values) for b in batches)
    assert df.equals(expected, null_equal=True)


def test_segment_with_wrong_schema_names_file_and_column(tmp_path):
    (seg,) = LakeWriter(tmp_path, PLANT).write([rows_batch("pump-001", "process", 1, T0, 4)])
    stale = pl.read_parquet(seg.path).with_columns(pl.col("flow_m3h").cast(pl.Float64))
    stale.write_parquet(seg.path.parent / "part-stale.parquet")
    with pytest.raises(DataFormatError, match=r"part-stale\.parquet, column 'flow_m3h'"):
        Lake(tmp_path, PLANT).read_rows("process", "pump-001")


def test_empty_lake_reads_empty(tmp_path):
    lake = Lake(tmp_path, PLANT)
    times, fs, data = lake.read_waveforms("pump-001")
    assert times.shape == (0,) and fs == 12800.0 and data.shape == (0, 2, 4096)
    assert lake.read_events("pump-001").height == 0
    assert lake.read_rows("process", "pump-001").columns[:3] == ["time", "seq", "row"]
    assert lake.assets("process") == []


def test_partition_names_keep_four_digit_years(tmp_path):
    # strftime("%Y") writes "68" for the year 68 on Linux: such a name sorts after 2026
    assert utc_date(-60_000_000_000.0) == "0068-09-03"
    assert utc_date(0.0) == "1970-01-01"
    with pytest.raises(ValueError, match="outside the years"):
        utc_date(1e15)


def test_an_odd_partition_never_breaks_a_reader(tmp_path, caplog):
    root = tmp_path / "lake"
    LakeWriter(root, PLANT).write([rows_batch("pump-001", "process", 1, T0, 5)])
    good = partition_dir(root, "process", "pump-001", utc_date(T0))
    odd = good.parent / "date=68-09-03"  # written by an older version for a forged time
    odd.mkdir()
    (odd / good.glob("part-*.parquet").__next__().name).write_bytes(
        next(good.glob("part-*.parquet")).read_bytes()
    )
    lake = Lake(root, PLANT)
    assert lake.latest_time("process", "pump-001") == T0 + 4
    assert lake.read_rows("process", "pump-001").height == 5
    assert lake.read_rows("process", "pump-001", start=T0 - 10, end=1e12).height == 5
    assert "date=YYYY-MM-DD" in caplog.text
