"""CWRU bearing data (Case Western Reserve University Bearing Data Center) -> canonical runs.

One `.mat` file (MATLAB v5, named by the data center's file number) is one run: a 12 kHz
drive-end acceleration record of one fault condition at one motor load. The drive-end variable
is found by its name pattern `X<digits>_DE_time`, so files 3001-3008 (whose variable number is
not the file number, and which carry no RPM) need no special case. The record is cut into
fixed-length windows that become the run's `Waveforms` (one channel, "DE"); each window's first
sample index is kept in `meta["window_starts"]` so protocols can split by time exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from phm.datasets.paths import dataset_dir
from phm.datasets.run import Run, Waveforms
from phm.errors import DataFormatError
from phm.features.spectral import SKF_6205

SAMPLING_RATE_HZ = 12_000.0
DEFAULT_WINDOW = 2048
NOMINAL_RPM = {0: 1797.0, 1: 1772.0, 2: 1750.0, 3: 1730.0}
_PREFIX = {"inner_race": "IR", "ball": "B", "outer_race": "OR"}
_DE_VARIABLE = re.compile(r"^X(\d+)_DE_time$")
_RPM_VARIABLE = re.compile(r"^X(\d+)RPM$")

# The common 10-class task: normal plus inner race, ball and outer race @6 at three diameters.
TEN_CLASSES = (
    "normal",
    "IR007",
    "IR014",
    "IR021",
    "B007",
    "B014",
    "B021",
    "OR007@6",
    "OR014@6",
    "OR021@6",
)


@dataclass(frozen=True)
class CwruRecord:
    """One catalogue entry: what fault a file number records, at which load."""

    file_number: int
    location: str
    diameter_in: float
    position: str | None
    load_hp: int

    @property
    def nominal_rpm(self) -> float:
        return NOMINAL_RPM[self.load_hp]

    @property
    def fault_class(self) -> str:
        """ "normal", "IR007", "B014", "OR007@6", ..."""
        if self.location == "normal":
            return "normal"
        label = f"{_PREFIX[self.location]}{round(self.diameter_in * 1000):03d}"
        return label + (self.position or "")


# class label -> file numbers at loads 0, 1, 2, 3 hp (12 kHz drive-end, per DATASETS.md).
_TABLE: dict[str, tuple[int, int, int, int]] = {
    "normal": (97, 98, 99, 100),
    "IR007": (105, 106, 107, 108),
    "IR014": (169, 170, 171, 172),
    "IR021": (209, 210, 211, 212),
    "IR028": (3001, 3002, 3003, 3004),
    "B007": (118, 119, 120, 121),
    "B014": (185, 186, 187, 188),
    "B021": (222, 223, 224, 225),
    "B028": (3005, 3006, 3007, 3008),
    "OR007@6": (130, 131, 132, 133),
    "OR007@3": (144, 145, 146, 147),
    "OR007@12": (156, 158, 159, 160),
    "OR014@6": (197, 198, 199, 200),
    "OR021@6": (234, 235, 236, 237),
    "OR021@3": (246, 247, 248, 249),
    "OR021@12": (258, 259, 260, 261),
}
_LABEL = re.compile(r"^(IR|B|OR)(\d{3})(@\d+)?$")


def _record(label: str, file_number: int, load_hp: int) -> CwruRecord:
    if label == "normal":
        return CwruRecord(file_number, "normal", 0.0, None, load_hp)
    m = _LABEL.match(label)
    assert m is not None, label
    location = {v: k for k, v in _PREFIX.items()}[m.group(1)]
    return CwruRecord(file_number, location, int(m.group(2)) / 1000, m.group(3), load_hp)


CATALOGUE: dict[int, CwruRecord] = {
    number: _record(label, number, load)
    for label, numbers in _TABLE.items()
    for load, number in enumerate(numbers)
}


def cwru_dir(data_dir: str | Path | None = None) -> Path:
    """The folder holding the `.mat` files: `data_dir` itself or its `cwru/` child.

    Without `data_dir`, `PHM_DATA_DIR` is used.
    """
    return dataset_dir(
        data_dir, "cwru", lambda f: any(f.glob("*.mat")), expected="97.mat, 105.mat, ..."
    )


def file_number(path: str | Path) -> int:
    """The catalogue number of a `.mat` file; DataFormatError if not in the catalogue."""
    p = Path(path)
    if not p.stem.isdigit() or int(p.stem) not in CATALOGUE:
        raise DataFormatError(
            p, "file name is not a known CWRU file number", expected="a catalogue number like 105"
        )
    return int(p.stem)


def read_drive_end(path: str | Path) -> tuple[np.ndarray, float | None, str]:
    """(drive-end signal (N,) float64, RPM from the file or None, variable name) of a `.mat`."""
    from scipy.io import loadmat

    p = Path(path)
    try:
        content = loadmat(p)
    except Exception as exc:  # scipy raises several types for a bad file
        raise DataFormatError(p, f"not a readable MATLAB file ({exc})") from exc
    de = sorted(k for k in content if _DE_VARIABLE.match(k))
    if len(de) != 1:
        found = ", ".join(k for k in content if not k.startswith("__")) or "none"
        raise DataFormatError(
            p,
            f"{len(de)} drive-end variables (variables: {found})",
            expected="exactly one variable named like X097_DE_time",
        )
    name = de[0]
    signal = np.asarray(content[name], dtype=np.float64).ravel()
    if signal.size == 0 or not np.all(np.isfinite(signal)):
        raise DataFormatError(p, "drive-end signal is empty or not finite", column=name)
    number = _DE_VARIABLE.match(name).group(1)  # type: ignore[union-attr]
    rpm_keys = sorted(k for k in content if _RPM_VARIABLE.match(k))
    preferred = [k for k in rpm_keys if _RPM_VARIABLE.match(k).group(1) == number]  # type: ignore[union-attr]
    rpm = None
    for key in preferred or rpm_keys:
        value = float(np.asarray(content[key], dtype=np.float64).ravel()[0])
        if np.isfinite(value) and value > 0:
            rpm = value
            break
    return signal, rpm, name


def window_starts(
    n_samples: int, window: int, stride: int, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """First sample of every whole window of `window` samples inside [start, stop)."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    stop = n_samples if stop is None else min(stop, n_samples)
    if stop - start < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(start, stop - window + 1, stride, dtype=np.int64)


def make_windows(signal: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """(S, window) float32 copies of signal[start:start + window] for each start."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(window)[None, :]
    return signal[idx].astype(np.float32)


def read_cwru_file(
    path: str | Path, window: int = DEFAULT_WINDOW, stride: int | None = None
) -> Run:
    """One `.mat` file as a Run of drive-end windows (stride defaults to the window)."""
    p = Path(path)
    record = CATALOGUE[file_number(p)]
    signal, rpm, variable = read_drive_end(p)
    stride = window if stride is None else stride
    starts = window_starts(signal.size, window, stride)
    if starts.size == 0:
        raise DataFormatError(
            p,
            f"record of {signal.size} samples is shorter than one window",
            column=variable,
            expected=f">= {window} samples",
        )
    rpm_used = record.nominal_rpm if rpm is None else rpm
    times = starts / SAMPLING_RATE_HZ
    waveforms = Waveforms(
        times=times,
        sampling_rate_hz=SAMPLING_RATE_HZ,
        channels=("DE",),
        data=make_windows(signal, starts, window)[:, None, :],  # (S, 1, L)
    )
    signals = pl.DataFrame(
        {
            "time": times,
            "rpm": np.full(starts.size, rpm_used),
            "load_hp": np.full(starts.size, record.load_hp, dtype=np.int64),
        }
    )
    meta = {
        "dataset": "cwru",
        "source": str(p),
        "file_number": record.file_number,
        "location": record.location,
        "diameter_in": record.diameter_in,
        "position": record.position,
        "load_hp": record.load_hp,
        "rpm": rpm_used,
        "rpm_source": "nominal" if rpm is None else "file",
        "de_variable": variable,
        "sampling_rate_hz": SAMPLING_RATE_HZ,
        "n_samples": int(signal.size),
        "window": window,
        "stride": stride,
        "window_starts": starts,
        "bearing": SKF_6205,
    }
    return Run(
        asset_id=f"cwru-{record.file_number}",
        asset_type="bearing",
        signals=signals,
        meta=meta,
        waveforms=waveforms,
        fault_class=record.fault_class,
    )


def load_cwru(
    data_dir: str | Path | None = None,
    files: Iterable[int] | None = None,
    *,
    window: int = DEFAULT_WINDOW,
    stride: int | None = None,
    loads: Iterable[int] | None = None,
    classes: Iterable[str] | None = None,
) -> list[Run]:
    """Runs for the `.mat` files in the CWRU folder, sorted by file number.

    files: catalogue numbers to read (all `.mat` present when None; a listed file that is
    missing is an error). loads / classes: keep only records at these loads or of these
    fault classes. Every `.mat` read must be in the catalogue.
    """
    folder = cwru_dir(data_dir)
    if files is None:
        paths = sorted(folder.glob("*.mat"), key=lambda q: (not q.stem.isdigit(), q.stem.zfill(8)))
        numbers = [file_number(q) for q in paths]
    else:
        numbers = sorted(set(files))
        for n in numbers:
            if n not in CATALOGUE:
                raise DataFormatError(folder / f"{n}.mat", "not a known CWRU file number")
            if not (folder / f"{n}.mat").is_file():
                raise DataFormatError(folder / f"{n}.mat", "file not found in the CWRU folder")
    keep_loads = None if loads is None else set(loads)
    keep_classes = None if classes is None else set(classes)
    runs = []
    for n in sorted(numbers):
        record = CATALOGUE[n]
        if keep_loads is not None and record.load_hp not in keep_loads:
            continue
        if keep_classes is not None and record.fault_class not in keep_classes:
            continue
        runs.append(read_cwru_file(folder / f"{n}.mat", window, stride))
    return runs
