"""Finding a dataset folder from --data or PHM_DATA_DIR."""

from pathlib import Path

import pytest

from phm.datasets.paths import dataset_dir
from phm.errors import ConfigError, DataFormatError


def has_marker(folder: Path) -> bool:
    return (folder / "marker.txt").is_file()


def test_folder_itself_its_named_child_or_env(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "cwru").mkdir()
    (tmp_path / "cwru" / "marker.txt").write_text("x")
    assert dataset_dir(tmp_path, "cwru", has_marker, "marker.txt") == tmp_path / "cwru"
    assert dataset_dir(tmp_path / "cwru", "cwru", has_marker, "marker.txt") == tmp_path / "cwru"
    monkeypatch.setenv("PHM_DATA_DIR", str(tmp_path))
    assert dataset_dir(None, "cwru", has_marker, "marker.txt") == tmp_path / "cwru"


def test_errors_name_the_folder_and_the_variable(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(DataFormatError, match=rf"{tmp_path}: no cwru data here.*marker\.txt"):
        dataset_dir(tmp_path, "cwru", has_marker, "marker.txt")
    monkeypatch.delenv("PHM_DATA_DIR", raising=False)
    with pytest.raises(ConfigError, match="PHM_DATA_DIR"):
        dataset_dir(None, "cwru", has_marker, "marker.txt")
