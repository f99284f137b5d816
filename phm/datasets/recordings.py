"""Labelled vibration recordings listed in a manifest -> checked `Recording`s and their signals.

A manifest (CSV or Parquet) has one row per recording file. Required columns: `path` (relative
to the manifest's folder, or absolute) and `label`. Optional: `fs_hz` (sampling rate, Hz;
`sampling_rate_hz` is accepted too), `rpm` (shaft speed), `variable` (or `mat_var`: the .mat
variable, the csv/parquet column; for a 2-D .npy the channel index), `rig`/`machine`, `load`,
`location`, `bearing` (a known name such as `6205`) or the four defect orders `bpfo`, `bpfi`,
`bsf`, `ftf` (multiples of shaft speed; BSF is the ball *spin* order). Every other column is kept
in `Recording.fields` for splits. Files: .mat (MATLAB v5), .csv, .npy, .parquet.

Every problem is a `DataFormatError` naming the manifest, the row (1-based line of a CSV, with
the header as line 1; 1-based row of a Parquet file) and the field. Nothing is dropped silently.

`cwru_manifest` writes the CWRU catalogue in this form, so CWRU goes through the same reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from phm.datasets.cwru import CATALOGUE, SAMPLING_RATE_HZ, file_number, read_drive_end
from phm.errors import ConfigError, DataFormatError
from phm.features.spectral import SKF_6205, DefectFrequencies

KNOWN_BEARINGS = {"6205": SKF_6205.multiples(), "skf6205": SKF_6205.multiples()}
SUFFIXES = (".mat", ".csv", ".npy", ".parquet")
_VARIABLE_COLUMNS = ("variable", "mat_var", "channel")
_FS_COLUMNS = ("fs_hz", "sampling_rate_hz")


@dataclass(frozen=True)
class Recording:
    """One checked manifest row. `row` is the 1-based line (CSV) or row (Parquet)."""

    manifest: Path
    row: int
    path: Path
    label: str
    fs_hz: float
    rpm: float | None
    variable: str | None
    defect_orders: DefectFrequencies | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A name unique within the manifests read together: the resolved file path."""
        return str(self.path)

    def error(self, problem: str, column: str, expected: str | None = None) -> DataFormatError:
        """A DataFormatError naming this recording's manifest row and `column`."""
        return DataFormatError(
            self.manifest,
            f"row {self.row} ({self.path.name}): {problem}",
            column=column,
            expected=expected,
        )


def _read_table(manifest: Path) -> tuple[pl.DataFrame, int]:
    """(all columns as strings, offset from 0-based index to the reported row)."""
    if not manifest.is_file():
        raise DataFormatError(manifest, "manifest file not found")
    if manifest.suffix == ".parquet":
        df = pl.read_parquet(manifest)
        return df.select(pl.all().cast(pl.String)), 1
    if manifest.suffix != ".csv":
        raise DataFormatError(manifest, "unknown manifest type", expected="a .csv or .parquet file")
    return pl.read_csv(manifest, infer_schema=False), 2


def _number(raw: str | None) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return float(raw)
    except ValueError:
        return float("nan")


def read_manifest(
    manifest: str | Path,
    *,
    labels: set[str] | None = None,
    label_column: str = "label",
    require_rpm: bool = False,
    check_files: bool = True,
) -> list[Recording]:
    """The checked rows of a manifest, in file order.

    labels: the allowed label set (an unknown label is an error); label_column: the column that
    is the label (`label`, `location`, ...); require_rpm: rpm must be present and > 0 (order
    tracking needs it).
    """
    manifest = Path(manifest)
    df, offset = _read_table(manifest)
    for needed in ("path", label_column):
        if needed not in df.columns:
            raise DataFormatError(
                manifest,
                "required column missing",
                column=needed,
                expected=f"columns including path and {label_column}; found {df.columns}",
            )
    fs_col = next((c for c in _FS_COLUMNS if c in df.columns), None)
    var_col = next((c for c in _VARIABLE_COLUMNS if c in df.columns), None)
    out: list[Recording] = []
    seen: dict[Path, int] = {}
    for i, values in enumerate(df.iter_rows(named=True)):
        row = i + offset
        fields = {k: ("" if v is None else str(v)) for k, v in values.items()}

        def fail(
            problem: str, column: str, expected: str | None = None, row: int = row
        ) -> DataFormatError:
            return DataFormatError(
                manifest, f"row {row}: {problem}", column=column, expected=expected
            )

        raw_path = fields["path"].strip()
        if not raw_path:
            raise fail("empty path", "path")
        path = Path(raw_path)
        path = (path if path.is_absolute() else manifest.parent / path).resolve()
        if path in seen:
            raise fail(f"path listed twice (first on row {seen[path]})", "path")
        seen[path] = row
        if path.suffix not in SUFFIXES:
            raise fail(f"unknown file type {path.suffix!r}", "path", expected=", ".join(SUFFIXES))
        if check_files and not path.is_file():
            raise fail(f"file not found: {path}", "path")
        label = fields[label_column].strip()
        if not label:
            raise fail("empty label", label_column)
        if labels is not None and label not in labels:
            raise fail(
                f"unknown label {label!r}", label_column, expected=f"one of {sorted(labels)}"
            )
        fs_hz = _number(fields.get(fs_col)) if fs_col else None
        if fs_hz is None or not np.isfinite(fs_hz) or fs_hz <= 0:
            raise fail(
                f"sampling rate missing or not positive ({fields.get(fs_col or '', '')!r})",
                fs_col or "fs_hz",
                expected="a sampling rate in Hz > 0",
            )
        rpm = _number(fields.get("rpm"))
        if rpm is not None and (not np.isfinite(rpm) or rpm <= 0):
            raise fail(f"rpm not a positive number ({fields['rpm']!r})", "rpm")
        if require_rpm and rpm is None:
            raise fail("rpm missing; order tracking needs the shaft speed", "rpm")
        orders = _defect_orders(fields, fail)
        variable = fields.get(var_col, "").strip() if var_col else ""
        out.append(
            Recording(manifest, row, path, label, fs_hz, rpm, variable or None, orders, fields)
        )
    if not out:
        raise DataFormatError(manifest, "manifest has no rows")
    return out


def _defect_orders(fields: dict[str, str], fail) -> DefectFrequencies | None:
    names = ("bpfi", "bpfo", "bsf", "ftf")
    given = [n for n in names if fields.get(n, "").strip()]
    if given:
        if len(given) != 4:
            missing = [n for n in names if n not in given]
            raise fail("defect orders need all of bpfi, bpfo, bsf, ftf", missing[0])
        values = [_number(fields[n]) for n in names]
        for n, v in zip(names, values, strict=True):
            if v is None or not np.isfinite(v) or v <= 0:
                raise fail(f"defect order not a positive number ({fields[n]!r})", n)
        return DefectFrequencies(*values)  # type: ignore[arg-type]
    bearing = fields.get("bearing", "").strip()
    if not bearing:
        return None
    key = bearing.lower().replace(" ", "").replace("-2rs", "")
    if key not in KNOWN_BEARINGS:
        raise fail(
            f"unknown bearing {bearing!r}",
            "bearing",
            expected=f"one of {sorted(KNOWN_BEARINGS)} or columns bpfi, bpfo, bsf, ftf",
        )
    return KNOWN_BEARINGS[key]


def read_signal(rec: Recording) -> np.ndarray:
    """The recording's signal as float64 (N,); DataFormatError naming the row and field."""
    p = rec.path
    if not p.is_file():
        raise rec.error(f"file not found: {p}", "path")
    column = "variable"
    try:
        if p.suffix == ".mat":
            x = _read_mat(rec)
        elif p.suffix == ".npy":
            x = _read_npy(rec)
        else:
            df = pl.read_csv(p) if p.suffix == ".csv" else pl.read_parquet(p)
            x = _pick_column(rec, df)
    except DataFormatError:
        raise
    except Exception as exc:  # the readers raise many types for a bad file
        raise rec.error(f"file not readable ({exc})", "path") from exc
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        raise rec.error("signal is empty", column)
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise rec.error(f"signal has {bad} NaN or infinite samples", column)
    return x


def _read_mat(rec: Recording) -> np.ndarray:
    from scipy.io import loadmat

    content = loadmat(rec.path)
    keys = [k for k in content if not k.startswith("__")]
    name = rec.variable
    if name is None:
        if len(keys) != 1:
            raise rec.error(
                f"{len(keys)} variables in the file and none named",
                "variable",
                expected=f"a variable column naming one of {keys}",
            )
        name = keys[0]
    if name not in content:
        raise rec.error(f"variable {name!r} not in the file", "variable", expected=f"one of {keys}")
    value = np.asarray(content[name])
    if value.ndim > 2 or (value.ndim == 2 and min(value.shape) != 1):
        raise rec.error(
            f"variable {name!r} has shape {value.shape}", "variable", expected="a vector"
        )
    if not np.issubdtype(value.dtype, np.number):
        raise rec.error(f"variable {name!r} is not numeric", "variable")
    return value


def _read_npy(rec: Recording) -> np.ndarray:
    value = np.load(rec.path, allow_pickle=False)
    if value.ndim == 1:
        return value
    if value.ndim != 2:
        raise rec.error(f"array has shape {value.shape}", "path", expected="1-D or 2-D")
    if rec.variable is None or not rec.variable.isdigit():
        raise rec.error(
            f"2-D array of shape {value.shape} and no channel index",
            "variable",
            expected="an integer channel index along the shorter axis",
        )
    channels = value if value.shape[0] < value.shape[1] else value.T
    c = int(rec.variable)
    if c >= channels.shape[0]:
        raise rec.error(f"channel {c} of {channels.shape[0]}", "variable")
    return channels[c]


def _pick_column(rec: Recording, df: pl.DataFrame) -> np.ndarray:
    if rec.variable is not None:
        if rec.variable not in df.columns:
            raise rec.error(
                f"column {rec.variable!r} not in the file",
                "variable",
                expected=f"one of {df.columns}",
            )
        name = rec.variable
    else:
        numeric = [c for c, t in df.schema.items() if t.is_numeric()]
        if len(numeric) != 1:
            raise rec.error(
                f"{len(numeric)} numeric columns and none named",
                "variable",
                expected=f"a variable column naming one of {df.columns}",
            )
        name = numeric[0]
    series = df[name]
    if not series.dtype.is_numeric():
        raise rec.error(f"column {name!r} is not numeric ({series.dtype})", "variable")
    return series.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def cwru_manifest(folder: str | Path, out: str | Path | None = None) -> pl.DataFrame:
    """The CWRU catalogue as a manifest of the `.mat` files present in `folder`.

    Columns: path, label (the fault class), location, load, rpm (the file's XNNNRPM, else the
    nominal speed of the load), fs_hz (12 kHz), variable (the drive-end variable), bearing
    (6205), rig ("cwru"), diameter_in, position. Paths are relative to `out`'s folder when
    `out` is given (and the manifest is written there), else absolute.
    """
    folder = Path(folder)
    rows = []
    for p in sorted(folder.glob("*.mat"), key=lambda q: q.stem.zfill(8)):
        record = CATALOGUE[file_number(p)]
        _, rpm, variable = read_drive_end(p)
        rows.append(
            {
                "path": str(p.resolve()),
                "label": record.fault_class,
                "location": record.location,
                "load": str(record.load_hp),
                "rpm": f"{record.nominal_rpm if rpm is None else rpm:g}",
                "fs_hz": f"{SAMPLING_RATE_HZ:g}",
                "variable": variable,
                "bearing": "6205",
                "rig": "cwru",
                "diameter_in": f"{record.diameter_in:g}",
                "position": record.position or "",
            }
        )
    if not rows:
        raise DataFormatError(folder, "no CWRU .mat files here", expected="97.mat, 105.mat, ...")
    df = pl.DataFrame(rows)
    if out is not None:
        out = Path(out)
        base = out.parent.resolve()
        import os

        df = df.with_columns(
            pl.col("path").map_elements(lambda s: os.path.relpath(s, base), return_dtype=pl.String)
        )
        df.write_csv(out)
    return df


def open_manifest(source: str | Path, **kwargs) -> list[Recording]:
    """Recordings of a manifest file, or of a folder: its `manifest.csv`, else (a CWRU folder)
    the CWRU catalogue written to a temporary manifest. kwargs go to `read_manifest`."""
    source = Path(source)
    if source.is_dir():
        if (source / "manifest.csv").is_file():
            return read_manifest(source / "manifest.csv", **kwargs)
        if (source / "97.mat").is_file() or any(source.glob("1*.mat")):
            import tempfile

            tmp = Path(tempfile.mkdtemp(prefix="phm-cwru-")) / "manifest.csv"
            cwru_manifest(source, tmp)
            return read_manifest(tmp, **kwargs)
        raise DataFormatError(source, "folder has no manifest.csv", expected="a manifest file")
    return read_manifest(source, **kwargs)


# --- selecting rows: `col=v1|v2,col2=v` (phm bench recordings, phm replay) ----------------
def parse_filter(text: str) -> dict[str, set[str]]:
    """'a=1|2,b=x' -> {'a': {'1', '2'}, 'b': {'x'}}; ConfigError on a malformed term."""
    out: dict[str, set[str]] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        col, eq, values = term.partition("=")
        if not eq or not col.strip() or not values.strip():
            raise ConfigError(f"filter term {term!r} is not col=value[|value...]")
        out.setdefault(col.strip(), set()).update(v.strip() for v in values.split("|"))
    return out


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def select(recs: list[Recording], spec: dict[str, set[str]]) -> list[Recording]:
    """The recordings whose every filtered column holds one of its values."""
    columns = set().union(*(r.fields for r in recs))
    for col in spec:
        if col not in columns:
            raise ConfigError(
                f"filter column {col!r} is in no manifest; columns: {sorted(columns)}"
            )
    return [
        r
        for r in recs
        if all(any(_same(r.fields.get(c, ""), v) for v in vals) for c, vals in spec.items())
    ]
