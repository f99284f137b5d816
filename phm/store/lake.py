"""The lake: decoded batches as Parquet segments, partitioned by stream, asset and UTC date.

    {root}/{stream}/asset={asset}/date={YYYY-MM-DD}/part-[{writer}-]{uuid}.parquet

`LakeWriter.write` turns a list of `Batch` into one segment per (stream, asset, date) group.
The date is the UTC date of each batch's *first* row: a batch that crosses midnight is stored
whole in the partition of the day it started, so a partition may hold rows up to one batch span
past its midnight. The writer refuses batches spanning a day or more, which bounds that spill
and lets readers look back exactly one partition before `start`.

A segment is written to `.part-{uuid}.parquet.tmp` in its partition folder, fsynced, renamed to
`part-{uuid}.parquet` and the folder fsynced: a reader never sees a partial file, and `*.tmp`
files (left by a crash) are never read. An ingest worker tags its segments with `writer`, 8 hex
digits of its MQTT client id (`writer_tag`), so when several workers share a lake a restarted
one knows its own orphans (`own_segment`). Schemas:

    rows      time Float64 (Unix s), seq Int64, row Int32 (index in its payload),
              one Float32 column per channel in the spec's order
    waveform  time, seq, row, fs Float32, one Array(Float32, samples) column per channel
    event     time, seq, kind Utf8, event Utf8 (the JSON object)

The same (seq, row) may be stored twice (an ingest worker that wrote a segment and died before
its commit, or a partition being compacted): `Lake` readers drop such duplicates, so every row
is read once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from phm.errors import DataFormatError, PhmError
from phm.plant import Plant, StreamSpec
from phm.records import Batch

DAY_S = 86400.0
READ_ATTEMPTS = 20  # listings tried when a compaction removes files under a reader
_T_FIRST = -62135596800.0  # 0001-01-01T00:00:00Z
_T_LAST = 253402300799.0  # 9999-12-31T23:59:59Z
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
log = logging.getLogger(__name__)
_KEYS = {"rows": ["seq", "row"], "waveform": ["seq", "row"], "event": ["seq"]}


@dataclass(frozen=True)
class Segment:
    """One Parquet file of the lake: `rows` rows (snapshots, events) from t_min to t_max (s)."""

    path: Path
    stream: str
    asset: str
    rows: int
    t_min: float
    t_max: float


def utc_date(t: float) -> str:
    """The UTC date `YYYY-MM-DD` of Unix time `t` (s), the year always four digits (strftime's
    `%Y` drops leading zeros on Linux, which misorders partitions). Times outside years
    1-9999 raise ValueError naming them."""
    try:
        d = dt.datetime.fromtimestamp(t, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"time {t!r} s is outside the years 1-9999") from None
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def _clamped_date(t: float) -> str:
    """utc_date of `t` clamped into years 1-9999 (readers' window bounds)."""
    return utc_date(min(max(t, _T_FIRST), _T_LAST))


def partition_dir(root: str | Path, stream: str, asset: str, date: str | dt.date) -> Path:
    """The folder of one (stream, asset, date) partition."""
    return Path(root) / stream / f"asset={asset}" / f"date={date}"


def schema(spec: StreamSpec) -> dict[str, pl.DataType]:
    """The lake schema of a stream (see the module doc)."""
    if spec.kind == "event":
        return {"time": pl.Float64(), "seq": pl.Int64(), "kind": pl.Utf8(), "event": pl.Utf8()}
    out: dict[str, pl.DataType] = {"time": pl.Float64(), "seq": pl.Int64(), "row": pl.Int32()}
    if spec.kind == "waveform":
        out["fs"] = pl.Float32()
        out |= {c: pl.Array(pl.Float32, spec.samples) for c in spec.channels}
    else:
        out |= {c: pl.Float32() for c in spec.channels}
    return out


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(folder: Path) -> None:
    """mkdir -p, fsyncing the parent of every folder created so the new entries survive a crash."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        _fsync_path(d.parent)


def writer_tag(client_id: str) -> str:
    """The 8 hex digits that name a writer's segments (fixed length: no tag is a prefix of
    another's, and none can be confused with the untagged `part-{uuid}`)."""
    return hashlib.sha256(client_id.encode()).hexdigest()[:8]


def own_segment(path: str | Path, tag: str) -> bool:
    """True when the segment file at `path` was written by the writer tagged `tag`."""
    return bool(tag) and Path(path).name.lstrip(".").startswith(f"part-{tag}-")


def write_durably(df: pl.DataFrame, folder: Path, tag: str = "") -> Path:
    """Write `df` as `folder/part-[{tag}-]{uuid}.parquet` via a fsynced `.tmp` and a rename."""
    _makedirs_durable(folder)
    name = f"part-{tag}-{uuid.uuid4().hex}.parquet" if tag else f"part-{uuid.uuid4().hex}.parquet"
    tmp = folder / f".{name}.tmp"
    final = folder / name
    try:
        df.write_parquet(tmp, statistics=True)
        _fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(folder)
    return final


def _frame(spec: StreamSpec, batches: list[Batch]) -> pl.DataFrame:
    """One DataFrame of a group of batches of one stream, built column-wise with numpy."""
    sch = schema(spec)
    if spec.kind == "event":
        return pl.DataFrame(
            {
                "time": np.array([b.t0 for b in batches], np.float64),
                "seq": np.array([b.seq for b in batches], np.int64),
                "kind": [str(b.event.get("kind", "")) for b in batches],
                "event": [json.dumps(b.event, separators=(",", ":")) for b in batches],
            },
            schema=sch,
        )
    counts = np.array([b.values.shape[0] for b in batches], np.int64)
    n = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols: dict[str, object] = {
        "time": np.concatenate([b.times for b in batches]),
        "seq": np.repeat(np.array([b.seq for b in batches], np.int64), counts),
        "row": (np.arange(n, dtype=np.int64) - starts).astype(np.int32),
    }
    values = np.concatenate([b.values for b in batches], axis=0).astype(np.float32, copy=False)
    if spec.kind == "waveform":  # values (n, C, L)
        cols["fs"] = np.repeat(np.array([b.fs for b in batches], np.float32), counts)
        for j, c in enumerate(spec.channels):
            cols[c] = pl.Series(c, np.ascontiguousarray(values[:, j, :]), dtype=sch[c])
    else:  # values (n, C)
        for j, c in enumerate(spec.channels):
            cols[c] = np.ascontiguousarray(values[:, j])
    return pl.DataFrame(cols, schema=sch)


class LakeWriter:
    """Writes decoded batches of `plant`'s streams under `root` (see the module doc)."""

    def __init__(self, root: str | Path, plant: Plant, tag: str = "") -> None:
        self.root = Path(root)
        self.plant = plant
        self.tag = tag  # `writer_tag` of the ingest worker: its segments' names say whose

    def write(self, batches: Iterable[Batch]) -> list[Segment]:
        """One durable segment per (stream, asset, UTC date of each batch's first row).

        Batches with no rows (other than events) add nothing. A batch spanning a day or more
        raises ValueError naming it (readers rely on the one-day bound)."""
        groups: dict[tuple[str, str, str], list[Batch]] = {}
        for b in batches:
            spec = self.plant.stream(b.asset, b.stream)
            if spec.kind != "event":
                if b.values.shape[0] == 0:
                    continue
                span = b.dt * (b.values.shape[0] - 1)
                if span >= DAY_S:
                    raise ValueError(
                        f"batch {b.asset}/{b.stream} seq {b.seq} spans {span:.0f} s: "
                        f"expected less than {DAY_S:.0f} s"
                    )
            groups.setdefault((b.stream, b.asset, utc_date(b.t0)), []).append(b)
        segments = []
        for (stream, asset, date), group in groups.items():
            df = _frame(self.plant.stream(asset, stream), group)
            path = write_durably(df, partition_dir(self.root, stream, asset, date), self.tag)
            t = df["time"]
            segments.append(Segment(path, stream, asset, df.height, t.min(), t.max()))
        return segments


_warned: set[Path] = set()


def _valid_date(name: str) -> bool:
    if not _DATE.fullmatch(name):
        return False
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return True


def _dates_of(folder: Path) -> list[tuple[str, Path]]:
    """(date, partition folder) under one stream/asset folder, oldest first. A folder whose
    name is not `date=YYYY-MM-DD` (e.g. an unpadded year written by an older version) is
    skipped with one warning per folder, so one odd partition never breaks a reader."""
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        if not (p.is_dir() and p.name.startswith("date=")):
            continue
        if _valid_date(p.name[5:]):
            out.append((p.name[5:], p))
        elif p not in _warned:
            _warned.add(p)
            log.warning("lake: skipping %s: expected a partition named date=YYYY-MM-DD", p)
    return sorted(out)


def _parts(folder: Path) -> list[Path]:
    """The committed-or-not but complete segment files of a partition (never `*.tmp`)."""
    return sorted(folder.glob("part-*.parquet"))


def _replaced(files: list[Path]) -> bool:
    """Whether a file of this listing is gone: a compaction ran while we listed and read, and
    a folder listing taken during its merge may have missed both its old files and its new one,
    so the read is done again."""
    return not all(f.exists() for f in files)


def _compaction_backoff(attempt: int) -> None:
    """Wait a little before listing again: the merge that removed our files is finishing."""
    time.sleep(0.005 * (attempt + 1))


def _locate_bad_file(files: list[Path], sch: dict[str, pl.DataType], exc: Exception) -> None:
    """Raise DataFormatError naming the first of `files` that cannot be read with `sch`."""
    for f in files:
        try:
            got = pl.read_parquet_schema(f)
        except FileNotFoundError:
            continue
        except Exception as err:  # polars raises several kinds for a corrupt footer
            raise DataFormatError(f, f"not a readable Parquet file: {err}") from exc
        for name, dtype in sch.items():
            if got.get(name) != dtype:
                raise DataFormatError(
                    f, f"has {got.get(name)}", column=name, expected=str(dtype)
                ) from exc
    raise DataFormatError(files[0].parent, f"segments could not be read: {exc}") from exc


def _collect_retrying(
    list_files: Callable[[], list[Path]],
    plan: Callable[[list[Path]], pl.LazyFrame],
    sch: dict[str, pl.DataType],
    settled: bool = False,
) -> tuple[pl.DataFrame, list[Path]] | None:
    """Collect `plan(files)` over a fresh listing, listing again while a compaction replaces
    files under the read; the frame and the files it read, or None when none are listed.

    With `settled`, a read whose listing changed meanwhile is done again, so it never mixes
    a merged file with the segments it replaced. A file that cannot be read for another
    reason raises DataFormatError naming it (checked against `sch`).
    """
    for attempt in range(READ_ATTEMPTS):
        files = list_files()
        if not files:
            return None
        try:
            df = plan(files).collect()
        except FileNotFoundError:
            if attempt == READ_ATTEMPTS - 1:
                raise
            _compaction_backoff(attempt)
            continue
        except pl.exceptions.PolarsError as exc:
            # polars may report a file removed under it as a compute error, not a
            # FileNotFoundError: list again while the listing has changed
            if attempt < READ_ATTEMPTS - 1 and _replaced(files):
                _compaction_backoff(attempt)
                continue
            _locate_bad_file(files, sch, exc)
        if settled and attempt < READ_ATTEMPTS - 1 and _replaced(files):
            continue
        return df, files
    raise AssertionError("unreachable")


class Lake:
    """Reads the lake under `root`; every reader drops duplicate (seq, row) rows."""

    def __init__(self, root: str | Path, plant: Plant) -> None:
        self.root = Path(root)
        self.plant = plant

    def _spec(self, stream: str, asset: str, kind: str) -> StreamSpec:
        spec = self.plant.stream(asset, stream)
        if spec.kind != kind:
            raise PhmError(f"stream {stream!r} of {asset!r} is {spec.kind!r}, expected {kind!r}")
        return spec

    def _files(self, stream: str, asset: str, start: float | None, end: float | None) -> list:
        folder = self.root / stream / f"asset={asset}"
        # a partition holds rows up to one day past its date (see the module doc)
        lo = _clamped_date(start - DAY_S) if start is not None else ""
        hi = _clamped_date(end) if end is not None else "9999-99"
        return [f for date, p in _dates_of(folder) if lo <= date <= hi for f in _parts(p)]

    def _read(
        self, spec: StreamSpec, asset: str, start: float | None, end: float | None
    ) -> pl.DataFrame:
        sch = schema(spec)
        keys = _KEYS[spec.kind]

        def plan(files: list[Path]) -> pl.LazyFrame:
            lf = pl.scan_parquet(files, hive_partitioning=False)
            if start is not None:
                lf = lf.filter(pl.col("time") >= start)
            if end is not None:
                lf = lf.filter(pl.col("time") < end)
            return lf.unique(subset=keys, keep="first").sort(["time", *keys])

        got = _collect_retrying(
            lambda: self._files(spec.name, asset, start, end), plan, sch, settled=True
        )
        if got is None:
            return pl.DataFrame(schema=sch)
        df, files = got
        if df.schema != pl.Schema(sch):
            _locate_bad_file(files, sch, ValueError(f"schema {df.schema}"))
        return df

    def read_rows(
        self, stream: str, asset: str, start: float | None = None, end: float | None = None
    ) -> pl.DataFrame:
        """Rows of a rows stream with start <= time < end (s), sorted by time, each (seq, row)
        once; columns time, seq, row, then the channels."""
        return self._read(self._spec(stream, asset, "rows"), asset, start, end)

    def read_waveforms(
        self,
        asset: str,
        start: float | None = None,
        end: float | None = None,
        stream: str = "vibration",
    ) -> tuple[np.ndarray, float, np.ndarray]:
        """Snapshots with start <= time < end: times (n,) float64, fs (Hz), data (n, C, L)
        float32 in the spec's channel order. With no snapshots, fs is the spec's rate."""
        spec = self._spec(stream, asset, "waveform")
        df = self._read(spec, asset, start, end)
        times = df["time"].to_numpy().astype(np.float64, copy=False)
        if df.height == 0:
            return times, spec.sampling_hz, np.zeros((0, len(spec.channels), spec.samples), "f4")
        fs = df["fs"].unique()
        if fs.len() != 1:
            where = self.root / stream / f"asset={asset}"
            raise DataFormatError(where, f"mixed rates {fs.to_list()}", column="fs")
        data = np.stack([df[c].to_numpy() for c in spec.channels], axis=1)  # (n, C, L)
        return times, float(fs[0]), data.astype(np.float32, copy=False)

    def read_events(
        self, asset: str, start: float | None = None, end: float | None = None
    ) -> pl.DataFrame:
        """Events with start <= time < end, sorted by time, each seq once: time, seq, kind,
        event (JSON text)."""
        return self._read(self._spec("event", asset, "event"), asset, start, end)

    def assets(self, stream: str) -> list[str]:
        """Assets that have a folder for `stream` in the lake, sorted."""
        folder = self.root / stream
        if not folder.is_dir():
            return []
        names = [p.name[6:] for p in folder.iterdir() if p.name.startswith("asset=")]
        return sorted(names)

    def latest_time(self, stream: str, asset: str) -> float | None:
        """The newest row time (s) of `asset`'s `stream`, or None when it has none."""
        dates = [(d, p) for d, p in _dates_of(self.root / stream / f"asset={asset}") if _parts(p)]
        if not dates:
            return None
        last = dt.date.fromisoformat(dates[-1][0])
        # the day before may hold a batch that started before midnight and ends after it
        prev = (last - dt.timedelta(days=1)).isoformat()
        got = _collect_retrying(
            lambda: [f for d, p in dates[-2:] if d >= prev for f in _parts(p)],
            lambda files: pl.scan_parquet(files, hive_partitioning=False).select(
                pl.col("time").max()
            ),
            {"time": pl.Float64()},
        )
        value = None if got is None else got[0].item()
        return None if value is None else float(value)


def compact(
    root: str | Path,
    stream: str,
    asset: str,
    date: str | dt.date,
    on_commit: Callable[[Segment, list[Path]], None] | None = None,
    files: list[Path] | None = None,
) -> Path | None:
    """Merge the segments of one partition (or only `files` of it) into one file; return its
    path (None when fewer than two are given).

    The merged file (each (seq, row) once, sorted by time) is written durably first; then
    `on_commit(new_segment, old_paths)` runs (e.g. `StateStore.replace_segments`, so the state
    store never lists a removed file nor misses the new one), then the old files are removed.
    Readers dedupe (seq, row), so nothing is counted twice in between. The file list is taken
    first, so a segment written during the merge is kept. While ingest writes the partition,
    pass only committed `files` (phm.store.compaction does): a segment written but not yet
    committed must not be merged and removed under the writer.
    """
    folder = partition_dir(root, stream, asset, date)
    old = _parts(folder) if files is None else sorted(Path(f) for f in files)
    if len(old) < 2:
        return None
    if any(f.parent != folder for f in old):
        raise ValueError(f"compact {folder}: every file must be in that partition, got {old}")
    try:
        df = pl.read_parquet(old, hive_partitioning=False)
    except pl.exceptions.PolarsError as exc:
        _locate_bad_file(old, {"time": pl.Float64(), "seq": pl.Int64()}, exc)
    keys = ["seq", "row"] if "row" in df.columns else ["seq"]
    df = df.unique(subset=keys, keep="first").sort(["time", *keys])
    new = write_durably(df, folder)
    if on_commit is not None:  # a failure here leaves `new` an orphan: ingest deletes it
        t = df["time"]
        on_commit(Segment(new, stream, asset, df.height, t.min(), t.max()), old)
    for f in old:
        f.unlink(missing_ok=True)
    _fsync_path(folder)
    return new
