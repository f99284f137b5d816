"""CWRU adapter and protocols: catalogue, .mat reading, windows, time split and cross-load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import savemat

from phm.datasets.cwru import (
    CATALOGUE,
    TEN_CLASSES,
    load_cwru,
    make_windows,
    read_cwru_file,
    window_starts,
)
from phm.datasets.run import Run
from phm.datasets.splits import cwru_cross_load, cwru_time_split
from phm.errors import DataFormatError
from tests.datadir import real_data_dir


def real_cwru_dir() -> Path:
    return real_data_dir("cwru", "105.mat")


def write_mat(folder: Path, number: int, n: int = 12_000, variable: int | None = None,
              rpm: float | None = 1797.0, seed: int = 0) -> np.ndarray:  # fmt: skip
    """A CWRU-like file: DE (and FE) variables named after `variable` (default: the file)."""
    v = number if variable is None else variable
    de = np.random.default_rng(seed).normal(size=(n, 1))
    content = {f"X{v:03d}_DE_time": de, f"X{v:03d}_FE_time": de * 0.5}
    if rpm is not None:
        content[f"X{v:03d}RPM"] = np.array([[rpm]])
    folder.mkdir(parents=True, exist_ok=True)
    savemat(folder / f"{number}.mat", content)
    return de.ravel()


def test_catalogue_covers_the_public_table() -> None:
    assert len(CATALOGUE) == 16 * 4
    expected = {
        97: ("normal", 0), 105: ("IR007", 0), 172: ("IR014", 3), 3001: ("IR028", 0),
        3006: ("B028", 1), 130: ("OR007@6", 0), 144: ("OR007@3", 0), 158: ("OR007@12", 1),
        261: ("OR021@12", 3), 223: ("B021", 1), 100: ("normal", 3),
    }  # fmt: skip
    for number, (label, load) in expected.items():
        rec = CATALOGUE[number]
        assert (rec.fault_class, rec.load_hp) == (label, load)
    assert CATALOGUE[209].location == "inner_race" and CATALOGUE[209].diameter_in == 0.021
    assert CATALOGUE[246].position == "@3" and CATALOGUE[3003].nominal_rpm == 1750.0
    assert set(TEN_CLASSES) <= {r.fault_class for r in CATALOGUE.values()}


def test_windows_rpm_and_quirky_variable_names(tmp_path: Path) -> None:
    de = write_mat(tmp_path / "cwru", 105, n=10_000)
    write_mat(tmp_path / "cwru", 3001, n=5_000, variable=56, rpm=None)  # holds X056_DE_time
    runs = load_cwru(tmp_path, window=2048, stride=1000)  # parent folder accepted
    assert [r.asset_id for r in runs] == ["cwru-105", "cwru-3001"]
    r105, r3001 = runs
    assert r105.waveforms is not None and r105.waveforms.data.shape == (8, 1, 2048)
    assert r105.waveforms.data.dtype == np.float32 and r105.waveforms.channels == ("DE",)
    np.testing.assert_allclose(r105.waveforms.data[3, 0], de[3000:5048].astype(np.float32))
    np.testing.assert_allclose(r105.waveforms.times, np.arange(8) * 1000 / 12_000)
    assert (r105.meta["rpm"], r105.meta["rpm_source"], r105.fault_class) == (
        1797.0,
        "file",
        "IR007",
    )
    assert r3001.meta["de_variable"] == "X056_DE_time"
    assert (r3001.meta["rpm"], r3001.meta["rpm_source"]) == (1797.0, "nominal")
    assert r3001.fault_class == "IR028" and r3001.meta["n_samples"] == 5_000
    assert r105.signals.columns == ["time", "rpm", "load_hp"]
    only = load_cwru(tmp_path / "cwru", files=[3001])
    assert [r.asset_id for r in only] == ["cwru-3001"]
    assert load_cwru(tmp_path, classes=["IR007"], loads=[0])[0].asset_id == "cwru-105"


def test_malformed_files_name_the_file(tmp_path: Path) -> None:
    write_mat(tmp_path, 105)
    savemat(tmp_path / "118.mat", {"X118_FE_time": np.zeros((5000, 1))})
    with pytest.raises(DataFormatError, match=r"118\.mat.*drive-end"):
        read_cwru_file(tmp_path / "118.mat")
    (tmp_path / "119.mat").write_bytes(b"not a matlab file at all")
    with pytest.raises(DataFormatError, match=r"119\.mat"):
        read_cwru_file(tmp_path / "119.mat")
    write_mat(tmp_path, 999)
    with pytest.raises(DataFormatError, match=r"999\.mat.*file number"):
        load_cwru(tmp_path)
    with pytest.raises(DataFormatError, match=r"107\.mat.*not found"):
        load_cwru(tmp_path, files=[107])
    write_mat(tmp_path / "short", 106, n=100)
    with pytest.raises(DataFormatError, match=r"106\.mat.*shorter than one window"):
        load_cwru(tmp_path / "short")


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 5000),
    window=st.integers(1, 600),
    stride=st.integers(1, 700),
    fraction=st.floats(0.05, 0.95),
)
def test_time_split_never_leaks(n: int, window: int, stride: int, fraction: float) -> None:
    starts = window_starts(n, window, stride)
    assert np.all(starts + window <= n) and np.all(np.diff(starts) == stride)
    run = Run("cwru-x", "bearing", pl.DataFrame({"time": []}),
              meta={"window_starts": starts, "window": window, "n_samples": n})  # fmt: skip
    split = cwru_time_split(run, fraction)
    assert split.cut_sample == int(fraction * n)
    tr, te = starts[split.train], starts[split.test]
    assert np.all(tr + window <= split.cut_sample)  # train windows end before the cut
    assert np.all(te >= split.cut_sample)  # test windows start after it
    assert not set(split.train) & set(split.test)
    if tr.size and te.size:  # sample ranges disjoint
        assert tr.max() + window <= te.min()
    crossing = (starts < split.cut_sample) & (starts + window > split.cut_sample)
    assert tr.size + te.size + crossing.sum() == starts.size  # only crossing windows dropped


def test_make_windows_copies_the_right_samples() -> None:
    signal = np.arange(20, dtype=np.float64)
    w = make_windows(signal, np.array([0, 5, 15]), 5)
    assert w.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [15, 16, 17, 18, 19]]


def test_cross_load_keeps_shared_classes(tmp_path: Path) -> None:
    for number in (97, 105, 106, 118, 119):
        write_mat(tmp_path, number, n=4096)
    runs = load_cwru(tmp_path)
    split = cwru_cross_load(runs, 0, 1)
    assert split.classes == ("B007", "IR007") and split.dropped == ("normal",)
    assert {r.meta["file_number"] for r in split.train} == {105, 118}
    assert {r.meta["file_number"] for r in split.test} == {106, 119}
    with pytest.raises(ValueError, match="different loads"):
        cwru_cross_load(runs, 1, 1)


@pytest.mark.integration
def test_real_files_including_the_3001_quirk() -> None:
    folder = real_cwru_dir()
    runs = {r.meta["file_number"]: r for r in load_cwru(folder, files=[97, 105, 3001, 3005])}
    assert runs[97].fault_class == "normal" and runs[97].meta["n_samples"] == 243_938
    assert runs[97].meta["rpm"] == 1796.0 and runs[105].meta["rpm"] == 1797.0
    assert runs[3001].meta["de_variable"] == "X056_DE_time"
    assert runs[3005].meta["de_variable"] == "X048_DE_time"
    assert runs[3005].fault_class == "B028" and runs[3005].meta["rpm_source"] == "nominal"
    split = cwru_time_split(runs[105])
    starts = runs[105].meta["window_starts"]
    assert starts[split.train].max() + 2048 <= split.cut_sample <= starts[split.test].min()
