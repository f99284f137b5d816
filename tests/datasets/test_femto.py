"""PRONOSTIA (FEMTO) adapter and protocols on tiny generated bearings and, if present, real data."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from phm.datasets import femto
from phm.datasets.femto import (
    extract_archive,
    femto_root,
    load_femto,
    read_bearing,
)
from phm.datasets.splits import (
    femto_challenge,
    femto_leave_one_bearing_out,
    femto_truncations,
)
from phm.errors import ConfigError, DataFormatError
from tests.datadir import real_data_dir

L = 2560


def real_femto_dir() -> Path:
    return real_data_dir("femto", "Learning_set.tar.xz")


def _us(value: float) -> str:
    """Microseconds the way some files write them: 4.2504e+005."""
    mantissa, exponent = f"{value:.4e}".split("e")
    return f"{mantissa}e{exponent[0]}{int(exponent[1:]):03d}"


def write_bearing(
    folder: Path,
    n: int = 4,
    start_s: float = 9 * 3600 + 39 * 60 + 39,
    sep: str = ",",
    temp: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """acc_NNNNN.csv every 10 s from `start_s` (clock seconds) and 2 temp files; returns acc
    (n, 2, L) as written (3 decimals)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    acc = np.round(rng.normal(scale=0.5 + 0.1 * np.arange(n)[:, None, None], size=(n, 2, L)), 3)
    for i in range(n):
        clock = (start_s + 10 * i) % 86_400
        h, m, s = int(clock // 3600), int(clock % 3600 // 60), int(clock % 60)
        us = 65_664 + 39 * np.arange(L)
        lines = [
            sep.join(
                [
                    str(h),
                    str(m),
                    str(s),
                    _us(us[j]) if sep == ";" else str(us[j]),
                    f"{acc[i, 0, j]:.3f}",
                    f"{acc[i, 1, j]:.3f}",
                ]
            )
            for j in range(L)
        ]
        (folder / f"acc_{i + 1:05d}.csv").write_text("\n".join(lines) + "\n")
    if temp:
        for k in range(2):
            clock = start_s + 60 * k
            h, m, s = int(clock // 3600 % 24), int(clock % 3600 // 60), int(clock % 60)
            rows = [f"{h:02d};{m:02d};{s:02d};{j % 10};{50 + k + j / 1000:.3f}" for j in range(600)]
            (folder / f"temp_{k + 1:05d}.csv").write_text("\n".join(rows) + "\n")
    return acc.astype(np.float32)


def test_reads_snapshots_times_rul_condition_and_temperature(tmp_path: Path) -> None:
    acc = write_bearing(tmp_path / "Learning_set" / "Bearing2_1", n=5)
    run = read_bearing(tmp_path / "Learning_set" / "Bearing2_1", cache_dir=tmp_path / "cache")
    assert run.asset_id == "Bearing2_1" and run.waveforms is not None
    assert run.waveforms.data.shape == (5, 2, L) and run.waveforms.data.dtype == np.float32
    np.testing.assert_array_equal(run.waveforms.data, acc)
    np.testing.assert_allclose(run.waveforms.times, [0, 10, 20, 30, 40], atol=1e-6)
    assert run.waveforms.sampling_rate_hz == 25_600.0
    assert run.labels is not None
    np.testing.assert_allclose(run.labels["rul_s"].to_numpy(), [40, 30, 20, 10, 0], atol=1e-6)
    m = run.meta
    assert (m["condition"], m["rpm"], m["load_n"], m["set"]) == (2, 1650.0, 4200.0, "Learning_set")
    assert m["run_to_failure"] and m["clock_repairs"] == []
    assert run.signals.columns == ["time", "temperature_c"] and run.signals.height == 1200
    # temp rows: tenths 0..9 within the second, first file starts at the first snapshot
    t = run.signals["time"].to_numpy()
    assert t[0] == pytest.approx(-0.065664, abs=1e-3) and t[1] - t[0] == pytest.approx(0.1)
    assert run.signals["temperature_c"][0] == pytest.approx(50.0)


def test_semicolons_scientific_microseconds_and_midnight(tmp_path: Path) -> None:
    acc = write_bearing(tmp_path / "Bearing3_1", n=4, start_s=86_400 - 15, sep=";", temp=False)
    run = read_bearing(tmp_path / "Bearing3_1", use_cache=False)
    np.testing.assert_array_equal(run.waveforms.data, acc)  # type: ignore[union-attr]
    np.testing.assert_allclose(run.waveforms.times, [0, 10, 20, 30], atol=1e-6)  # type: ignore[union-attr]
    assert run.signals.height == 0 and run.meta["condition"] == 3
    assert run.meta["set"] == "unknown" and run.labels is None


def test_out_of_order_snapshot_is_retimed_and_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "Bearing1_1"
    write_bearing(folder, n=5, temp=False)
    third = folder / "acc_00003.csv"
    third.write_text(third.read_text().replace("9,39,59,", "9,38,46,"))
    run = read_bearing(folder, use_cache=False)
    np.testing.assert_allclose(run.waveforms.times, [0, 10, 20, 30, 40], atol=1e-6)  # type: ignore[union-attr]
    assert [r["file"] for r in run.meta["clock_repairs"]] == ["acc_00003.csv"]


def test_parsed_cache_is_reused_and_invalidated(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "Learning_set" / "Bearing1_2"
    write_bearing(folder, n=3)
    cache = tmp_path / "cache"
    first = read_bearing(folder, cache_dir=cache)
    assert list((cache / "parsed").glob("Bearing1_2-*/acc.npy"))

    def boom(_: Path) -> None:
        raise AssertionError("parsed again although the cache is valid")

    monkeypatch.setattr(femto, "_parse_bearing", boom)
    warm = read_bearing(folder, cache_dir=cache)
    np.testing.assert_array_equal(warm.waveforms.data, first.waveforms.data)  # type: ignore[union-attr]
    monkeypatch.undo()
    write_bearing(folder, n=4)  # a new snapshot: fingerprint changes
    assert read_bearing(folder, cache_dir=cache).waveforms.data.shape[0] == 4  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.rsplit("\n", 2)[0] + "\n", "2559 rows"),
        (lambda t: t.replace("0.", "x.", 1), "numbers per row"),
        (lambda t: t.split("\n", 1)[0].rsplit(",", 1)[0] + "\n" + t.split("\n", 1)[1], "missing"),
    ],
)
def test_malformed_acc_file_is_named(tmp_path: Path, edit, message: str) -> None:
    folder = tmp_path / "Bearing1_1"
    write_bearing(folder, n=3, temp=False)
    bad = folder / "acc_00002.csv"
    bad.write_text(edit(bad.read_text()))
    with pytest.raises(DataFormatError, match=rf"acc_00002\.csv.*{message}"):
        read_bearing(folder, use_cache=False)


def test_bad_folder_names_and_sets(tmp_path: Path) -> None:
    write_bearing(tmp_path / "femto" / "Learning_set" / "Bearing1_1", n=2, temp=False)
    with pytest.raises(DataFormatError, match="Bearing9_1"):
        read_bearing(tmp_path / "Bearing9_1")
    with pytest.raises(DataFormatError, match="Bearing1_5"):
        load_femto(tmp_path, bearings=["Bearing1_5"], use_cache=False)
    with pytest.raises(DataFormatError, match="Test_set"):
        load_femto(tmp_path, sets=["Test_set"], use_cache=False)
    with pytest.raises(ConfigError, match="inside the repository"):
        read_bearing(tmp_path / "femto" / "Learning_set" / "Bearing1_1",
                     cache_dir=Path(__file__).resolve().parents[2] / "cache")  # fmt: skip


def _tar(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


def test_extract_archive_once_then_read(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src" / "Learning_set" / "Bearing1_1"
    write_bearing(src, n=2, temp=False)
    members = {f"Learning_set/Bearing1_1/{p.name}": p.read_bytes() for p in src.iterdir()}
    data = tmp_path / "data" / "femto"
    data.mkdir(parents=True)
    _tar(data / "Learning_set.tar.xz", members)
    cache = tmp_path / "cache"
    runs = load_femto(tmp_path / "data", cache_dir=cache)  # parent of femto/ accepted
    assert [r.asset_id for r in runs] == ["Bearing1_1"]
    assert (cache / ".Learning_set.tar.xz.extracted").is_file()
    assert not list(cache.glob(".extract-*"))  # temporary folder cleaned up

    def no_reopen(*args, **kwargs):
        raise AssertionError("archive extracted twice")

    monkeypatch.setattr(tarfile, "open", no_reopen)
    assert extract_archive(data / "Learning_set.tar.xz", cache) == cache.resolve()
    assert femto_root(data, cache) == cache.resolve()


@pytest.mark.parametrize(
    ("members", "symlink"),
    [({"../evil.csv": b"x"}, None), ({"/tmp/evil.csv": b"x"}, None), ({}, "Learning_set/link")],
)
def test_extract_archive_refuses_unsafe_members(tmp_path: Path, members, symlink) -> None:
    archive = _tar(
        tmp_path / "Learning_set.tar.xz", {"Learning_set/a.csv": b"1", **members}, symlink
    )
    cache = tmp_path / "cache"
    with pytest.raises(DataFormatError, match=r"Learning_set\.tar\.xz.*unsafe"):
        extract_archive(archive, cache)
    assert not (tmp_path / "evil.csv").exists() and not (cache / "Learning_set").exists()
    assert not (cache / ".Learning_set.tar.xz.extracted").exists()


def _learning_and_test(root: Path) -> list:
    for i, name in enumerate(["Bearing1_1", "Bearing1_2", "Bearing2_1", "Bearing2_2"]):
        write_bearing(root / "Learning_set" / name, n=6 + i, temp=False, seed=i)
    write_bearing(root / "Test_set" / "Bearing1_3", n=3, temp=False)
    return load_femto(root, sets=["Learning_set", "Test_set"], cache_dir=root / "cache")


def test_protocols_leave_one_bearing_out_truncations_and_challenge(tmp_path: Path) -> None:
    runs = _learning_and_test(tmp_path / "femto")
    by = {(r.meta["set"], r.asset_id): r for r in runs}
    folds = femto_leave_one_bearing_out(runs)
    assert [(f.test, f.train) for f in folds] == [
        ("Bearing1_1", ("Bearing1_2",)), ("Bearing1_2", ("Bearing1_1",)),
        ("Bearing2_1", ("Bearing2_2",)), ("Bearing2_2", ("Bearing2_1",)),
    ]  # fmt: skip
    for fold in femto_leave_one_bearing_out(runs, scope="all"):
        assert fold.test not in fold.train and len(fold.train) == 3
    held = by[("Learning_set", "Bearing1_1")]  # 6 snapshots, RUL 50..0
    cuts = femto_truncations(held, (0.5, 0.9, 0.99))
    assert [c.index for c in cuts] == [2, 4, 4]  # never the last snapshot
    assert [c.actual_rul_s for c in cuts] == pytest.approx([30.0, 10.0, 10.0])
    test = by[("Test_set", "Bearing1_3")]
    assert test.meta["actual_rul_s"] == 5730.0 and not test.meta["run_to_failure"]
    assert test.labels["rul_s"].to_numpy() == pytest.approx([5750, 5740, 5730])  # type: ignore[index]
    challenge = femto_challenge(runs)
    assert "Bearing1_3" not in challenge.train and len(challenge.train) == 4
    (cut,) = challenge.test
    assert (cut.bearing, cut.index, cut.actual_rul_s) == ("Bearing1_3", 2, 5730.0)
    with pytest.raises(ValueError, match="Test_set"):
        femto_challenge([r for r in runs if r.meta["set"] == "Learning_set"])


@pytest.mark.integration
@pytest.mark.slow
def test_real_learning_bearing() -> None:
    """Bearing3_1 (the shortest); extracts the archive into the user cache on first use."""
    (run,) = load_femto(real_femto_dir(), bearings=["Bearing3_1"])
    assert run.waveforms is not None and run.waveforms.data.shape == (515, 2, L)
    assert run.meta["duration_s"] == pytest.approx(5140.0)  # 1 h 25 min 40 s
    assert np.all(np.diff(run.waveforms.times) == pytest.approx(10.0))
    assert run.signals.height > 50_000 and 20 < run.signals["temperature_c"].mean() < 150
    assert run.labels is not None and run.labels["rul_s"][0] == pytest.approx(5140.0)
    assert np.abs(run.waveforms.data[-1]).max() > np.abs(run.waveforms.data[0]).max()
