"""Engines: the Ray path gives exactly the local numbers; chunking does not change them."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import fields

import numpy as np
import pytest

from phm.errors import ConfigError
from phm.reports.engines import chunks, score
from phm.reports.report import checkpoint_model, read_checkpoint
from phm.reports.rul import AssetRul
from phm.reports.sources import AssetWindow, cmapss_source

HAVE_RAY = importlib.util.find_spec("ray") is not None
IN_CI = bool(os.environ.get("CI"))


def windows(cmapss_case, copies: int = 1) -> tuple[bytes, list[AssetWindow]]:
    data, ckpt = cmapss_case
    raw = read_checkpoint(ckpt)
    base = cmapss_source(data, "FD001", checkpoint_model(raw), ckpt).assets
    out = [AssetWindow(f"{w.asset_id}-{k}", w.inputs, w.age) for k in range(copies) for w in base]
    return raw, out


def assert_identical(a: list[AssetRul], b: list[AssetRul]) -> None:
    assert [r.asset_id for r in a] == [r.asset_id for r in b]
    for x, y in zip(a, b, strict=True):
        for f in fields(AssetRul):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, np.ndarray):
                assert np.array_equal(u, v), (x.asset_id, f.name)
            else:
                assert u == v, (x.asset_id, f.name, u, v)


def test_local_engine_counts_progress_per_asset(cmapss_case) -> None:
    raw, ws = windows(cmapss_case, copies=3)
    seen: list[int] = []
    out = score("local", raw, ws, chunk_size=5, progress=seen.append)
    assert len(out) == 24 and sum(seen) == 24 and seen[:4] == [5, 5, 5, 5]
    assert chunks(ws, 10)[-1] == ws[20:]


def test_unknown_engine_and_address_without_ray_are_refused(cmapss_case) -> None:
    raw, ws = windows(cmapss_case)
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        score("spark", raw, ws)
    with pytest.raises(ConfigError, match="--ray-address needs --engine ray"):
        score("local", raw, ws, address="auto")


def test_missing_ray_gives_install_hint(cmapss_case, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    raw, ws = windows(cmapss_case)
    with pytest.raises(ConfigError, match=r"pip install 'phm\[distributed\]'"):
        score("ray", raw, ws)


@pytest.mark.slow
@pytest.mark.skipif(
    not HAVE_RAY and not IN_CI,
    reason="ray is not installed (pip install 'phm[distributed]'); CI installs it and runs this",
)
def test_ray_numbers_equal_local_numbers_exactly(cmapss_case) -> None:
    raw, ws = windows(cmapss_case, copies=4)  # 32 assets in 4 tasks of 8 on 2 workers
    local = score("local", raw, ws, chunk_size=8)
    seen: list[int] = []
    remote = score("ray", raw, ws, chunk_size=8, progress=seen.append, num_cpus=2)
    assert sorted(seen) == [8, 8, 8, 8]
    assert_identical(local, remote)
