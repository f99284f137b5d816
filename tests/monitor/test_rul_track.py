"""The displayed RUL falls with data time, never rises while tracked, and reaches failed."""

from __future__ import annotations

import itertools

import pytest

from phm.monitor.rul_track import RulTrack, rul_text, track_rul

H = 3600.0


def test_a_track_ages_with_data_time_and_floors_at_failed() -> None:
    t = RulTrack(0.0, 5.0, 2.0, None)
    aged = t.at(3 * H)
    assert (aged.median, aged.lower, aged.upper, aged.time) == (2.0, 0.0, None, 3 * H)
    assert t.at(-H) == t  # an earlier time ages nothing
    gone = t.at(6 * H)
    assert gone.median == 0.0 and gone.failed and rul_text(gone).startswith("failed")
    assert rul_text(None) == "open"


def test_a_model_saying_five_hours_at_every_scoring_still_counts_down_to_failed() -> None:
    track = None
    shown = []
    for k in range(40):  # a scoring every 10 min; the model's median stuck at 5 h
        track = track_rul(track, k * 600.0, 5.0, 1.0, 20.0)
        shown.append(track.median)
    assert all(b <= a for a, b in itertools.pairwise(shown))
    assert shown[0] == 5.0 and shown[-1] == 0.0  # 5 h of data time later: failed
    assert track is not None and track.failed


def test_a_lower_model_median_pulls_half_way_and_a_higher_one_is_not_taken() -> None:
    start = track_rul(None, 0.0, 18.0, 8.0, 40.0)
    assert start == RulTrack(0.0, 18.0, 8.0, 40.0)
    lower = track_rul(start, H, 5.0, 1.0, 12.0, weight=0.5)
    assert lower.median == pytest.approx(17.0 + 0.5 * (5.0 - 17.0))
    assert track_rul(start, H, 5.0, 1.0, 12.0).median == 5.0  # default: the lower median
    assert lower.lower <= lower.median <= lower.upper
    higher = track_rul(start, H, 60.0, 30.0, None)  # the model says more: aged estimate kept
    assert (higher.median, higher.lower, higher.upper) == (17.0, 7.0, 39.0)
    assert track_rul(None, 0.0, None, None, None) is None  # nothing to start from


def test_a_track_round_trips_through_alert_details() -> None:
    t = RulTrack(1.7e9, 4.5, None, 9.0)
    assert RulTrack.from_details(t.as_details()) == t
    assert RulTrack.from_details(None) is None
    assert RulTrack.from_details({"median": "x", "time": 1.0}) is None
