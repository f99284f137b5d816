"""Streaming process features equal the batch ones over the same rows, chunked any way."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phm.features.process import ProcessFeatureConfig, process_features
from phm.monitor.streaming import StreamingProcessFeatures

CONFIG = ProcessFeatureConfig(recent_s=40, short_s=120, mid_s=400, long_s=1200, gap_s=300)


def record(n: int, seed: int) -> pl.DataFrame:
    """n rows at 4 s with two long pauses, three recipe steps, drifting channels."""
    rng = np.random.default_rng(seed)
    dt = np.full(n, 4)
    dt[n // 3] = 900  # pauses longer than gap_s
    dt[2 * n // 3] = 2000
    time = np.cumsum(dt)
    frame = {"time": time.astype(np.int64), "recipe_step": (np.arange(n) // 7 % 3).astype(str)}
    for i, c in enumerate(CONFIG.channels):
        frame[c] = np.cumsum(rng.normal(0, 1, n)) + i
    return pl.DataFrame(frame)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), cuts=st.lists(st.integers(1, 599), max_size=12))
def test_streaming_equals_batch(seed: int, cuts: list[int]) -> None:
    data = record(600, seed)
    batch = process_features(data, CONFIG)
    stream = StreamingProcessFeatures(CONFIG)
    edges = [0, *sorted(set(cuts)), data.height]
    parts = [stream.update(data.slice(a, b - a)) for a, b in itertools.pairwise(edges)]
    streamed = pl.concat(parts)
    assert streamed.height == batch.height
    for name in stream.names:
        a, b = batch[name].to_numpy(), streamed[name].to_numpy()
        np.testing.assert_array_equal(np.isnan(a.astype(float)), np.isnan(b.astype(float)))
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, err_msg=name)


def test_rows_must_move_forward() -> None:
    data = record(50, 0)
    stream = StreamingProcessFeatures(CONFIG)
    stream.update(data.slice(0, 30))
    with pytest.raises(ValueError, match="not after"):
        stream.update(data.slice(10, 5))
