"""Scoring engines: the same chunks of assets through `score_chunk`, locally or on Ray.

Assets are partitioned into fixed chunks of `chunk_size` (in the report's asset order); each
chunk is one batch through the model. The local engine runs the chunks one after another; the
Ray engine runs one task per chunk, with the checkpoint bytes put in the object store once
(`ray.put`) and the model rebuilt once per worker process. Same chunks, same function, same
thread count: the numbers are identical (tests/reports/test_engines.py).

Ray is optional (`pip install phm[distributed]`) and imported only by the Ray engine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from phm.errors import ConfigError
from phm.models.predictor import Predictor
from phm.reports.rul import AssetRul, model_from_bytes, score_chunk
from phm.reports.sources import AssetWindow

ENGINES = ("local", "ray")
CHUNK_SIZE = 50  # assets per batch / per Ray task

_MODELS: dict[str, Predictor] = {}  # per process: checkpoint digest -> model


def _cached_model(data: bytes) -> Predictor:
    key = hashlib.sha256(data).hexdigest()
    if key not in _MODELS:
        _MODELS.clear()  # one checkpoint at a time per worker
        _MODELS[key] = model_from_bytes(data)
    return _MODELS[key]


def chunks(windows: list[AssetWindow], size: int = CHUNK_SIZE) -> list[list[AssetWindow]]:
    """Consecutive chunks of `size` assets (the last may be shorter)."""
    if size < 1:
        raise ConfigError(f"chunk size must be >= 1, got {size}")
    return [windows[i : i + size] for i in range(0, len(windows), size)]


def score_local(
    checkpoint: bytes,
    windows: list[AssetWindow],
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> list[AssetRul]:
    """Score every asset in this process; `progress(n)` after each chunk of n assets."""
    predictor = _cached_model(checkpoint)
    out: list[AssetRul] = []
    for part in chunks(windows, chunk_size):
        out += score_chunk(predictor, part)
        if progress is not None:
            progress(len(part))
    return out


def _score_remote(checkpoint: bytes, part: list[AssetWindow]) -> list[AssetRul]:
    return score_chunk(_cached_model(checkpoint), part)


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray, an optional extra: pip install 'phm[distributed]' "
            "(or pip install 'ray>=2.9')"
        ) from None
    return ray


def score_ray(
    checkpoint: bytes,
    windows: list[AssetWindow],
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[AssetRul]:
    """Score on Ray: one task per chunk. Connects to `address` (a cluster, e.g.
    ray://head:10001 or "auto") or starts a local instance with `num_cpus` workers; a Ray
    already initialised in this process is used as it is and left running."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ncpu = num_cpus or min(2, os.cpu_count() or 1)
            ray.init(num_cpus=ncpu, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        model_ref = ray.put(checkpoint)  # once; every task gets the same object
        task = ray.remote(num_cpus=1)(_score_remote)
        parts = chunks(windows, chunk_size)
        refs = [task.remote(model_ref, part) for part in parts]
        sizes = {ref: len(part) for ref, part in zip(refs, parts, strict=True)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            if progress is not None:
                progress(sizes[done[0]])
        out: list[AssetRul] = []
        for part in ray.get(refs):  # in chunk order, whatever the finishing order
            out += part
        return out
    finally:
        if started:
            ray.shutdown()


def score(
    engine: str,
    checkpoint: bytes,
    windows: list[AssetWindow],
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[AssetRul]:
    """Score with the named engine ("local" or "ray")."""
    if engine == "local":
        if address:
            raise ConfigError("--ray-address needs --engine ray")
        return score_local(checkpoint, windows, chunk_size, progress)
    if engine == "ray":
        return score_ray(checkpoint, windows, chunk_size, progress, address, num_cpus)
    raise ConfigError(f"unknown engine {engine!r}; expected one of {ENGINES}")
