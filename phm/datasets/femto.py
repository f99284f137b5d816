"""PRONOSTIA / FEMTO-ST bearings (IEEE PHM 2012 challenge) -> canonical runs.

Layout: `{Learning_set,Test_set,Full_Test_Set}/Bearing{c}_{i}/acc_NNNNN.csv` (2560 rows of
hour, minute, second, microsecond, horizontal g, vertical g: one 0.1 s snapshot at 25.6 kHz
every 10 s) and, for some bearings, `temp_NNNNN.csv` (hour, minute, second, tenth of second,
RTD °C at 10 Hz, one file per minute). Separators are `,` or `;`; numbers may read `4.2504e+005`.

A run is one bearing record: waveforms (snapshots, 2, 2560) float32, temperature in `signals`
(`time`, `temperature_c`; no rows where the bearing has no temp files), `labels` with the RUL
in seconds per snapshot where it is known: run-to-failure records (the last snapshot is the
failure) and Test_set records (published actual RUL at the truncation). Times are seconds
since the first snapshot; snapshots stamped out of order (two files of Bearing1_1) are
re-timed between their neighbours and listed in `meta["clock_repairs"]`.

Speed: the CSV files of a bearing are joined in memory and parsed by one polars call; parsed
arrays are cached as `.npy` in the cache folder (default `~/.cache/phm/femto`, or
`$PHM_CACHE_DIR/femto`), keyed by the source folder and checked against its file sizes and
times. Bearings still to parse are spread over a process pool.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import polars as pl

from phm.datasets.paths import dataset_dir
from phm.datasets.run import Run, Waveforms
from phm.errors import ConfigError, DataFormatError

SAMPLING_RATE_HZ = 25_600.0
SNAPSHOT_SAMPLES = 2560
CHANNELS = ("horizontal", "vertical")
SETS = ("Learning_set", "Test_set", "Full_Test_Set")
RUN_TO_FAILURE = {"Learning_set": True, "Test_set": False, "Full_Test_Set": True}
# condition -> (shaft speed rpm, radial load N)
CONDITIONS: dict[int, tuple[float, float]] = {1: (1800.0, 4000.0), 2: (1650.0, 4200.0),
                                              3: (1500.0, 5000.0)}  # fmt: skip
# Actual RUL (s) after the last snapshot of each truncated Test_set bearing, as published by
# the challenge organisers with the full test set.
TEST_ACTUAL_RUL_S: dict[str, float] = {
    "Bearing1_3": 5730.0, "Bearing1_4": 339.0, "Bearing1_5": 1610.0, "Bearing1_6": 1460.0,
    "Bearing1_7": 7570.0, "Bearing2_3": 7530.0, "Bearing2_4": 1390.0, "Bearing2_5": 3090.0,
    "Bearing2_6": 1290.0, "Bearing2_7": 580.0, "Bearing3_3": 820.0,
}  # fmt: skip

_BEARING = re.compile(r"^Bearing(\d)_(\d+)$")
_ACC = re.compile(r"^acc_(\d+)\.csv$")
_TEMP = re.compile(r"^temp_(\d+)\.csv$")
_CACHE_VERSION = 2
_CACHED = ("acc", "acc_clock", "acc_numbers", "temp")
_REPO_ROOT = Path(__file__).resolve().parents[2]


# --- locations -------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """`$PHM_CACHE_DIR/femto`, else `~/.cache/phm/femto`."""
    env = os.environ.get("PHM_CACHE_DIR")
    return (Path(env) if env else Path.home() / ".cache" / "phm") / "femto"


def _cache(cache_dir: str | Path | None) -> Path:
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
    if (_REPO_ROOT / ".git").exists() and cache.is_relative_to(_REPO_ROOT):
        raise ConfigError(f"cache folder {cache} is inside the repository; put it outside")
    return cache


def _unsafe(member: tarfile.TarInfo) -> bool:
    parts = Path(member.name).parts
    return (
        member.name.startswith(("/", "\\"))
        or ".." in parts
        or (bool(parts) and ":" in parts[0])
        or not (member.isfile() or member.isdir())
    )


def extract_archive(tar_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Extract a tar archive (e.g. `Learning_set.tar.xz`) into the cache folder, once.

    A marker file remembers the archive's size and time, so later calls return at once.
    Members with absolute paths, `..`, links or devices are refused (DataFormatError).
    Extraction goes to a temporary folder first, so an interrupted run leaves no half set.
    Returns the cache folder (holding e.g. `Learning_set/`).
    """
    tar_path = Path(tar_path)
    cache = _cache(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    st = tar_path.stat()
    stamp = f"{tar_path.name} {st.st_size} {int(st.st_mtime)}"
    marker = cache / f".{tar_path.name}.extracted"
    if marker.is_file() and marker.read_text().strip() == stamp:
        return cache
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
    try:
        try:
            with tarfile.open(tar_path, "r:*") as archive:
                for member in archive:  # one forward pass: no seeking in the compressed stream
                    if _unsafe(member):
                        raise DataFormatError(
                            tar_path,
                            f"unsafe archive member {member.name!r}",
                            expected="regular files and folders under relative paths",
                        )
                    archive.extract(member, tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, FileNotFoundError) and not tar_path.exists():
                raise
            raise DataFormatError(tar_path, f"cannot extract archive ({exc})") from exc
        for entry in tmp.iterdir():
            dest = cache / entry.name
            if dest.is_dir():
                shutil.rmtree(dest)
            elif dest.exists():
                dest.unlink()
            entry.rename(dest)
        marker.write_text(stamp + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache


def femto_root(data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """The folder holding `Learning_set/` (and maybe `Test_set/`, `Full_Test_Set/`).

    `data_dir` (else `PHM_DATA_DIR`) may be that folder, or its parent with a `femto/` child;
    where only `<set>.tar.xz` archives are found they are extracted to the cache first.
    """
    folder = dataset_dir(
        data_dir,
        "femto",
        lambda f: any((f / s).is_dir() for s in SETS) or bool(_archives(f)),
        expected="Learning_set/ or Learning_set.tar.xz",
    )
    if any((folder / s).is_dir() for s in SETS):
        return folder
    root = folder
    for archive in _archives(folder):
        root = extract_archive(archive, cache_dir)
    return root


def _archives(folder: Path) -> list[Path]:
    return [a for s in SETS for a in sorted(folder.glob(f"{s}.tar*")) if a.is_file()]


def bearing_condition(name: str) -> int:
    """Operating condition (1, 2, 3) from a bearing name such as `Bearing2_1`."""
    m = _BEARING.match(name)
    if m is None or int(m.group(1)) not in CONDITIONS:
        raise DataFormatError(name, "not a PRONOSTIA bearing folder name", expected="Bearing1_1")
    return int(m.group(1))


# --- parsing ---------------------------------------------------------------------------------


def _numbered(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    found = [(int(m.group(1)), folder / n) for n in os.listdir(folder) if (m := pattern.match(n))]
    return [p for _, p in sorted(found)]


def _read_csvs(
    files: Sequence[Path], schema: dict[str, pl.DataType], rows: int | None
) -> tuple[pl.DataFrame, list[int]]:
    """Parse numeric CSV files in one polars call: (frame of all rows, rows per file).

    rows: exact row count required per file, or None. Errors name the offending file.
    """
    chunks, counts = [], []
    for f in files:
        b = f.read_bytes()
        if b and not b.endswith(b"\n"):
            b += b"\n"
        n = b.count(b"\n")
        if n == 0 or (rows is not None and n != rows):
            raise DataFormatError(f, f"{n} rows", expected=f"{rows or 'at least 1'} rows")
        chunks.append(b)
        counts.append(n)
    data = b"".join(chunks)
    if b";" in data:
        data = data.replace(b";", b",")
    n_cols = len(schema)
    try:
        frame = pl.read_csv(io.BytesIO(data), has_header=False, schema=schema)
    except pl.exceptions.PolarsError:
        for f, b in zip(files, chunks, strict=True):  # find the file at fault
            try:
                pl.read_csv(io.BytesIO(b.replace(b";", b",")), has_header=False, schema=schema)
            except pl.exceptions.PolarsError as exc:
                problem = str(exc).splitlines()[0]
                raise DataFormatError(f, f"not {n_cols} numbers per row: {problem}") from exc
        raise
    if frame.height != sum(counts) or frame.null_count().sum_horizontal().item() > 0:
        missing = frame.select(pl.any_horizontal(pl.all().is_null())).to_series().to_numpy()
        bad = int(np.argmax(missing)) if missing.any() else frame.height
        file_index = int(np.searchsorted(np.cumsum(counts), bad, side="right"))
        f = files[min(file_index, len(files) - 1)]
        raise DataFormatError(f, "missing or empty values", expected=f"{n_cols} numbers per row")
    return frame, counts


def _schema(n_time: int, n_values: int) -> dict[str, pl.DataType]:
    cols: dict[str, pl.DataType] = {f"t{i}": pl.Float64() for i in range(n_time)}
    cols |= {f"v{i}": pl.Float32() for i in range(n_values)}
    return cols


def _unwrap_days(clock: np.ndarray) -> np.ndarray:
    """Seconds since midnight, made increasing across midnight."""
    if clock.size < 2:
        return clock
    jumps = np.concatenate([[0.0], np.cumsum(np.diff(clock) < -43_200.0) * 86_400.0])
    return clock + jumps


def _repair_clock(clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times with out-of-order snapshots re-timed, indices of those snapshots).

    A snapshot stamped at or before the last in-order one (Bearing1_1 acc_02121/02122 read
    9:38:46, mid-afternoon of a record that began at 9:39:39) gets a time interpolated
    between its in-order neighbours; the caller records which ones in `meta`.
    """
    good = np.ones(clock.size, dtype=bool)
    last = -np.inf
    for i, t in enumerate(clock):
        if t <= last:
            good[i] = False
        else:
            last = t
    bad = np.flatnonzero(~good)
    if bad.size == 0:
        return clock, bad
    idx = np.arange(clock.size)
    fixed = np.interp(idx, idx[good], clock[good])
    step = float(np.median(np.diff(clock[good]))) if good.sum() > 1 else 10.0
    tail = idx > idx[good][-1]
    fixed[tail] = clock[good][-1] + (idx[tail] - idx[good][-1]) * step
    return fixed, bad


def _parse_bearing(folder: Path) -> dict[str, np.ndarray]:
    """acc (S, 2, 2560) float32, acc_clock (S,) s since midnight, acc_numbers (S,) file
    numbers, temp (T, 2) [clock s, °C] of one bearing."""
    acc_files = _numbered(folder, _ACC)
    if not acc_files:
        raise DataFormatError(folder, "no acc_NNNNN.csv files", expected="acc_00001.csv ...")
    frame, _ = _read_csvs(acc_files, _schema(4, 2), SNAPSHOT_SAMPLES)
    s = len(acc_files)
    first = frame.gather_every(SNAPSHOT_SAMPLES).select("t0", "t1", "t2", "t3").to_numpy()
    clock = _unwrap_days(first[:, 0] * 3600 + first[:, 1] * 60 + first[:, 2] + first[:, 3] * 1e-6)
    acc = np.empty((s, 2, SNAPSHOT_SAMPLES), dtype=np.float32)  # (S, C, L)
    for c in range(2):
        acc[:, c, :] = frame[f"v{c}"].to_numpy().reshape(s, SNAPSHOT_SAMPLES)
    del frame
    temp = np.zeros((0, 2))
    temp_files = _numbered(folder, _TEMP)
    if temp_files:
        t = _read_csvs(temp_files, _schema(4, 1), None)[0].to_numpy().astype(np.float64)
        t_clock = _unwrap_days(t[:, 0] * 3600 + t[:, 1] * 60 + t[:, 2] + t[:, 3] / 10)
        if clock.size and t_clock[0] - clock[0] < -43_200.0:
            t_clock = t_clock + 86_400.0
        temp = np.stack([t_clock, t[:, 4]], axis=1)
    numbers = np.array([int(_ACC.match(f.name).group(1)) for f in acc_files])  # type: ignore[union-attr]
    return {"acc": acc, "acc_clock": clock, "acc_numbers": numbers, "temp": temp}


def _fingerprint(folder: Path) -> list[int]:
    n = size = newest = 0
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.endswith(".csv"):
                st = e.stat()
                n, size, newest = n + 1, size + st.st_size, max(newest, st.st_mtime_ns)
    return [n, size, newest]


def _parsed_dir(folder: Path, cache: Path) -> Path:
    key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    return cache / "parsed" / f"{folder.name}-{key}"


def _load_cached(folder: Path, cache: Path) -> dict[str, np.ndarray] | None:
    where = _parsed_dir(folder, cache)
    try:
        manifest = json.loads((where / "manifest.json").read_text())
        if manifest != {"version": _CACHE_VERSION, "fingerprint": _fingerprint(folder)}:
            return None
        return {k: np.load(where / f"{k}.npy") for k in _CACHED}
    except (OSError, ValueError):
        return None


def _parse_and_cache(folder: Path, cache: Path) -> dict[str, np.ndarray]:
    parsed = _parse_bearing(folder)
    where = _parsed_dir(folder, cache)
    where.mkdir(parents=True, exist_ok=True)
    for k, v in parsed.items():
        tmp = where / f".{k}.{os.getpid()}.npy"
        np.save(tmp, v)
        os.replace(tmp, where / f"{k}.npy")
    manifest = {"version": _CACHE_VERSION, "fingerprint": _fingerprint(folder)}
    tmp = where / f".manifest.{os.getpid()}.json"
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, where / "manifest.json")  # written last: the arrays are complete
    return parsed


def _parse_in_worker(folder: str, cache: str) -> bool:
    """Parse and cache in a worker; False on any error, which the parent then re-raises by
    parsing the bearing itself (our exceptions do not survive pickling with their fields)."""
    try:
        _parse_and_cache(Path(folder), Path(cache))
    except Exception:
        return False
    return True


def _parse_in_pool(folders: list[Path], cache: Path, n_workers: int) -> None:
    """Parse and cache bearings in worker processes. Any failure (a bad file, or a caller's
    script without a `__main__` guard, which `spawn` needs) leaves the bearing uncached, and
    it is then parsed in this process, which raises the proper error."""
    ctx = multiprocessing.get_context("spawn")  # polars' thread pool must not be forked
    folders = sorted(folders, key=lambda f: -len(os.listdir(f)))  # biggest first
    try:
        with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
            list(pool.map(_parse_in_worker, [str(f) for f in folders], [str(cache)] * len(folders)))
    except (BrokenProcessPool, OSError, RuntimeError):
        pass


# --- runs ------------------------------------------------------------------------------------


def _to_run(folder: Path, set_name: str, parsed: dict[str, np.ndarray]) -> Run:
    name = folder.name
    condition = bearing_condition(name)
    rpm, load_n = CONDITIONS[condition]
    clock, repaired = _repair_clock(parsed["acc_clock"])
    times = clock - clock[0]
    repairs = [
        {
            "file": f"acc_{int(parsed['acc_numbers'][i]):05d}.csv",
            "clock_s": float(raw),
            "time_s": times[i],
        }
        for i, raw in zip(repaired, parsed["acc_clock"][repaired], strict=True)
    ]
    temp = parsed["temp"]
    signals = pl.DataFrame(
        {"time": temp[:, 0] - clock[0], "temperature_c": temp[:, 1]},
        schema={"time": pl.Float64, "temperature_c": pl.Float64},
    )
    run_to_failure = RUN_TO_FAILURE.get(set_name, False)
    actual = TEST_ACTUAL_RUL_S.get(name) if set_name == "Test_set" else None
    labels = None
    if run_to_failure or actual is not None:
        rul = times[-1] - times + (actual or 0.0)
        labels = pl.DataFrame({"time": times, "rul_s": rul})
    meta = {
        "dataset": "femto",
        "set": set_name,
        "bearing": name,
        "condition": condition,
        "rpm": rpm,
        "load_n": load_n,
        "shaft_hz": rpm / 60.0,
        "sampling_rate_hz": SAMPLING_RATE_HZ,
        "run_to_failure": run_to_failure,
        "actual_rul_s": actual,
        "duration_s": float(times[-1]),
        "clock_origin_s": float(clock[0]),
        "clock_repairs": repairs,
        "source": str(folder),
    }
    waveforms = Waveforms(times, SAMPLING_RATE_HZ, CHANNELS, parsed["acc"])
    return Run(name, "bearing", signals, meta, waveforms, labels=labels)


def read_bearing(
    folder: str | Path, *, cache_dir: str | Path | None = None, use_cache: bool = True
) -> Run:
    """One bearing folder (e.g. `.../Learning_set/Bearing1_1`) as a Run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(folder, "bearing folder not found")
    bearing_condition(folder.name)
    set_name = folder.parent.name if folder.parent.name in SETS else "unknown"
    if not use_cache:
        return _to_run(folder, set_name, _parse_bearing(folder))
    cache = _cache(cache_dir)
    parsed = _load_cached(folder, cache) or _parse_and_cache(folder, cache)
    return _to_run(folder, set_name, parsed)


def bearing_folders(root: Path, set_name: str) -> list[Path]:
    """Bearing folders of one set under the dataset root, sorted by name."""
    folder = root / set_name
    if not folder.is_dir():
        raise DataFormatError(folder, f"set {set_name} not found", expected=", ".join(SETS))
    return sorted(p for p in folder.iterdir() if p.is_dir() and _BEARING.match(p.name))


def load_femto(
    data_dir: str | Path | None = None,
    sets: Iterable[str] = ("Learning_set",),
    bearings: Iterable[str] | None = None,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    workers: int | None = None,
) -> list[Run]:
    """Runs for every bearing of the given sets (optionally only the named bearings).

    Bearings without a valid parsed cache are parsed by `workers` processes (default: a
    quarter of the CPUs, since polars already parses each bearing on several threads; 1 means
    in this process). Without the cache everything is parsed in this process.
    """
    root = femto_root(data_dir, cache_dir)
    wanted = None if bearings is None else set(bearings)
    folders: list[tuple[str, Path]] = []
    for set_name in sets:
        if set_name not in SETS:
            raise ConfigError(f"unknown PRONOSTIA set {set_name!r}; expected one of {SETS}")
        folders += [
            (set_name, f)
            for f in bearing_folders(root, set_name)
            if wanted is None or f.name in wanted
        ]
    if wanted is not None:
        missing = wanted - {f.name for _, f in folders}
        if missing:
            raise DataFormatError(root, f"bearings not found: {sorted(missing)}")
    if not use_cache:
        return [_to_run(f, s, _parse_bearing(f)) for s, f in folders]
    cache = _cache(cache_dir)
    todo = [f for _, f in folders if _load_cached(f, cache) is None]
    n_workers = min(len(todo), workers or max(1, (os.cpu_count() or 1) // 4))
    if n_workers > 1:
        _parse_in_pool(todo, cache, n_workers)
    return [read_bearing(f, cache_dir=cache) for _, f in folders]
