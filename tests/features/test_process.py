"""Process window features: causal, time-based, per recipe step."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phm.features.process import ProcessFeatureConfig, feature_names, process_features

CONFIG = ProcessFeatureConfig(
    channels=("FLOWCOOLPRESSURE",), recent_s=8, short_s=20, mid_s=40, long_s=80, gap_s=30
)


def frame(times: list[int], steps: list[str], values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"time": times, "recipe_step": steps, "FLOWCOOLPRESSURE": values},
        schema={"time": pl.Int64, "recipe_step": pl.String, "FLOWCOOLPRESSURE": pl.Float32},
    )


def test_step_mean_uses_only_earlier_rows_of_the_same_step_within_the_window() -> None:
    times = [0, 4, 8, 12, 16, 20, 24]
    steps = ["a", "b", "a", "b", "a", "b", "a"]
    values = [1.0, 10.0, 3.0, 20.0, 5.0, 30.0, 7.0]
    out = process_features(frame(times, steps, values), CONFIG)
    mean = out["FLOWCOOLPRESSURE__step_mean_20s"].to_list()
    # step a at t=24: window (4, 24] holds a-values at 8, 16, 24 -> (3 + 5 + 7) / 3
    assert mean[6] == pytest.approx(5.0)
    # step b at t=20: b-values at 4, 12, 20 -> 20
    assert mean[5] == pytest.approx(20.0)
    assert mean[0] == pytest.approx(1.0)


def test_time_since_pause_restarts_after_a_gap() -> None:
    times = [0, 4, 8, 100, 104]
    out = process_features(frame(times, ["a"] * 5, [0.0] * 5), CONFIG)
    assert out["time_since_pause_s"].to_list() == [0.0, 4.0, 8.0, 0.0, 4.0]


def test_feature_names_match_columns() -> None:
    out = process_features(frame([0, 4], ["a", "a"], [1.0, 2.0]), CONFIG)
    assert out.columns[3:] == feature_names(CONFIG)
    assert len(feature_names(CONFIG)) == 10


def test_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="FLOWCOOLPRESSURE"):
        process_features(pl.DataFrame({"time": [0], "recipe_step": ["a"]}), CONFIG)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=60),
    data=st.data(),
)
def test_features_are_causal(steps: list[int], data: st.DataObject) -> None:
    """A row's features do not change when later rows are appended (streaming == batch)."""
    n = len(steps)
    times = np.cumsum([0, *steps[1:]]).tolist()
    step_names = data.draw(st.lists(st.sampled_from("xyz"), min_size=n, max_size=n))
    values = data.draw(st.lists(st.floats(-3, 3, width=32), min_size=n, max_size=n))
    cut = data.draw(st.integers(min_value=1, max_value=n))
    full = process_features(frame(times, step_names, values), CONFIG)
    prefix = process_features(frame(times[:cut], step_names[:cut], values[:cut]), CONFIG)
    names = feature_names(CONFIG)
    a = full.head(cut).select(names).to_numpy()
    b = prefix.select(names).to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
