"""The labelled-recordings adapter: every file format, and bad manifests named by row and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.io import savemat

from phm.datasets.recordings import read_manifest, read_signal
from phm.errors import DataFormatError

SIGNAL = np.sin(np.arange(4000) * 0.1)


def _files(folder: Path) -> list[dict[str, str]]:
    savemat(folder / "a.mat", {"acc": SIGNAL[:, None]})
    pl.DataFrame({"time": np.arange(SIGNAL.size) / 1e3, "acc": SIGNAL}).write_csv(folder / "b.csv")
    np.save(folder / "c.npy", np.stack([np.zeros_like(SIGNAL), SIGNAL]))
    pl.DataFrame({"acc": SIGNAL}).write_parquet(folder / "d.parquet")
    row = {"label": "normal", "fs_hz": "1000", "rpm": "600", "bearing": "6205"}
    return [
        {"path": "a.mat", "variable": "", **row},
        {"path": "b.csv", "variable": "acc", **row},
        {"path": "c.npy", "variable": "1", **row},
        {"path": "d.parquet", "variable": "", **row},
    ]


def _write(folder: Path, rows: list[dict[str, str]], name: str = "m.csv") -> Path:
    path = folder / name
    df = pl.DataFrame(rows)
    df.write_csv(path) if name.endswith(".csv") else df.write_parquet(path)
    return path


@pytest.mark.parametrize("manifest_name", ["m.csv", "m.parquet"])
def test_every_format_reads_the_same_signal(tmp_path: Path, manifest_name: str) -> None:
    recs = read_manifest(_write(tmp_path, _files(tmp_path), manifest_name))
    assert [r.path.name for r in recs] == ["a.mat", "b.csv", "c.npy", "d.parquet"]
    assert [r.row for r in recs] == ([2, 3, 4, 5] if manifest_name == "m.csv" else [1, 2, 3, 4])
    for r in recs:
        np.testing.assert_allclose(read_signal(r), SIGNAL)
        assert r.fs_hz == 1000 and r.rpm == 600
        assert r.defect_orders is not None and abs(r.defect_orders.bpfo - 3.5848) < 1e-3


def test_defect_orders_from_columns(tmp_path: Path) -> None:
    rows = _files(tmp_path)[:1]
    rows[0].pop("bearing")
    rows[0].update(bpfi="5", bpfo="3", bsf="2", ftf="0.4")
    (rec,) = read_manifest(_write(tmp_path, rows))
    assert rec.defect_orders is not None and rec.defect_orders.bpfi == 5.0


def _bad(tmp_path: Path, field: str, value: str, row: int = 1) -> dict[str, str]:
    rows = _files(tmp_path)
    rows[row][field] = value
    return rows


@pytest.mark.parametrize(
    ("field", "value", "column", "words"),
    [
        ("path", "missing.mat", "path", "file not found"),
        ("path", "a.mat", "path", "listed twice"),
        ("label", "cracked", "label", "unknown label"),
        ("fs_hz", "-5", "fs_hz", "sampling rate"),
        ("fs_hz", "", "fs_hz", "sampling rate"),
        ("rpm", "", "rpm", "rpm missing"),
        ("bearing", "6999", "bearing", "unknown bearing"),
    ],
)
def test_bad_manifest_names_row_and_field(
    tmp_path: Path, field: str, value: str, column: str, words: str
) -> None:
    manifest = _write(tmp_path, _bad(tmp_path, field, value))
    with pytest.raises(DataFormatError) as err:
        read_manifest(manifest, labels={"normal"}, require_rpm=True)
    text = str(err.value)
    assert "row 3" in text and f"column {column!r}" in text and words in text, text


@pytest.mark.parametrize(
    ("index", "variable", "words"),
    [(0, "nope", "not in the file"), (1, "time_x", "not in the file"), (2, "", "channel")],
)
def test_bad_variable_names_row_and_field(
    tmp_path: Path, index: int, variable: str, words: str
) -> None:
    rows = _files(tmp_path)
    rows[index]["variable"] = variable
    recs = read_manifest(_write(tmp_path, rows))
    with pytest.raises(DataFormatError) as err:
        read_signal(recs[index])
    assert f"row {index + 2}" in str(err.value) and "'variable'" in str(err.value)
    assert words in str(err.value)


def test_nan_samples_and_ambiguous_mat_are_errors(tmp_path: Path) -> None:
    bad = SIGNAL.copy()
    bad[10] = np.nan
    savemat(tmp_path / "a.mat", {"x": bad[:, None], "y": bad[:, None]})
    rows = _files(tmp_path)[1:2]
    savemat(tmp_path / "e.mat", {"x": bad[:, None], "y": bad[:, None]})
    rows.append({**rows[0], "path": "e.mat", "variable": ""})
    rows.append({**rows[0], "path": "f.mat", "variable": "x"})
    savemat(tmp_path / "f.mat", {"x": bad[:, None], "y": bad[:, None]})
    recs = read_manifest(_write(tmp_path, rows))
    with pytest.raises(DataFormatError, match=r"row 3.*2 variables"):
        read_signal(recs[1])
    with pytest.raises(DataFormatError, match=r"row 4.*1 NaN"):
        read_signal(recs[2])


def test_missing_required_column(tmp_path: Path) -> None:
    manifest = _write(tmp_path, [{"path": "a.mat", "fs_hz": "1"}])
    with pytest.raises(DataFormatError, match="'label'"):
        read_manifest(manifest)
