"""phm.resources: the shipped configs, graphs and templates live inside the package, resolve by
name, and are in the wheel; an installed wheel finds them from outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from phm.kg.loader import load_graph, shipped_graphs
from phm.kg.schema import GraphError
from phm.plant import load_plant
from phm.resources import ResourceError, as_file, read_text, resource_path, shipped

REPO = Path(__file__).resolve().parents[1]
# what the code reads by name: every one must be in the package and in the wheel
SHIPPED = (
    "plant.toml",
    "mosquitto.conf",
    "mosquitto.acl",
    "mosquitto-shared.conf",
    "models/tiny.toml",
    "models/small.toml",
    "models/dense-small.toml",
    "models/cmapss.toml",
    "models/dense-cmapss.toml",
    "models/plant.toml",
    "kg/rotating_equipment.yaml",
    "kg/ion_mill_flowcool.yaml",
    "kg/turbofan.yaml",
    "fmea/pump_station.csv",
)
TEMPLATES = ("phm/reports/templates/rul_report.html.j2",)


def test_shipped_names_resolve_to_files_inside_the_package():
    package = REPO / "phm"
    for name in SHIPPED:
        path = resource_path(name)
        assert path.is_file() and path.is_relative_to(package), name
        assert read_text(name) == path.read_text()
    with as_file("mosquitto.conf") as path:
        assert path.is_file() and "listener" in path.read_text()
    assert shipped("kg", ".yaml") == [
        "kg/ion_mill_flowcool.yaml",
        "kg/rotating_equipment.yaml",
        "kg/turbofan.yaml",
    ]
    assert "plant.toml" in shipped()


def test_a_missing_name_is_a_clear_error_naming_it():
    with pytest.raises(ResourceError, match=r"models/huge\.toml: no such shipped file") as err:
        resource_path("models/huge.toml")
    assert "models/small.toml" in str(err.value)  # says what is shipped there
    with pytest.raises(ResourceError, match=r"nowhere/plant\.toml"):
        read_text("nowhere/plant.toml")
    with pytest.raises(ResourceError, match="not a shipped file name"):
        resource_path("../pyproject.toml")
    with pytest.raises(FileNotFoundError):  # ResourceError is one, for callers that catch it
        resource_path("")


def test_defaults_come_from_the_package_and_a_user_file_overrides(tmp_path: Path):
    assert {"pump", "ion_mill"} <= set(load_plant().types)
    assert {"rotating_equipment", "ion_mill_flowcool"} <= set(shipped_graphs())
    assert (
        load_graph("rotating_equipment").name
        == load_graph(resource_path("kg/rotating_equipment.yaml")).name
    )
    with pytest.raises(GraphError, match="no such graph"):
        load_graph("no_such_graph")
    own = tmp_path / "plant.toml"
    text = read_text("plant.toml")
    own.write_text(text)
    assert set(load_plant(own).types) == set(load_plant().types)


def _wheel(tmp_path: Path) -> Path:
    """The wheel built from a copy of the sources (a stale build/ in the checkout could add
    files the sources no longer have)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "phm", src / "phm", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    out = tmp_path / "wheel"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-q", "-w", str(out), str(src)], check=True, cwd=tmp_path)
    (wheel,) = out.glob("phm-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_ships_the_configs_graphs_and_templates_and_works_outside_the_checkout(
    tmp_path: Path,
):
    wheel = _wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"phm/configs/{name}" in names, name
    for name in TEMPLATES:
        assert name in names
    in_source = {
        p.relative_to(REPO).as_posix()
        for folder in ("phm/configs", "phm/reports/templates", "phm/dashboard/app")
        for p in (REPO / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert in_source <= names, sorted(in_source - names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import phm, phm.plant, phm.kg.loader, phm.ingest.broker, phm.models.nn_estimators\n"
        "from phm.reports.render import TEMPLATES\n"
        "print(phm.__file__)\n"
        "print(sorted(phm.plant.load_plant().types))\n"
        "print(phm.kg.loader.load_graph('rotating_equipment').name)\n"
        "print(phm.ingest.broker.MOSQUITTO_CONF.is_file())\n"
        "print(phm.models.nn_estimators.resolve_config('tiny')[0].name)\n"
        "import phm.dashboard.cli\n"
        "print(phm.dashboard.cli.APP.is_file())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    where, types, graph, conf, size, app = done.stdout.splitlines()
    assert Path(where).is_relative_to(site)  # the wheel's package, not the checkout's
    assert "pump" in types and graph and conf == "True" and size and app == "True"
