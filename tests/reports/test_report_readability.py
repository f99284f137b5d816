"""The report's readability rules without scoring a model: mini survival plots with axis
ticks, the banners for an untrained model and for stale data, healthy and failed windows."""

from __future__ import annotations

import re
import types

import numpy as np

from phm.reports.render import survival_svg, window_short, window_text
from phm.reports.report import STALE_S, banners
from phm.reports.rul import AssetRul


def asset(healthy: float, failed: bool = False, as_of: float | None = 1.7e9) -> AssetRul:
    return AssetRul("pump-001", 10.0, 20.0, 14.0, 17.0, 24.0, 30.0, 12.0, 32.0, 21.0,
                    np.linspace(1, 0, 5), {"healthy": healthy, "inner_race": 1 - healthy},
                    as_of=as_of, failed=failed)  # fmt: skip


def test_mini_survival_plot_has_ticks_on_both_axes() -> None:
    svg = survival_svg(np.linspace(0, 96, 5), np.linspace(1, 0, 5), 96.0, "hours")
    labels = re.findall(r">([^<>]+)</text>", svg)
    assert labels == ["0", "0.5", "1", "0", "48", "96 hours"]
    assert svg.count("<line") == 1 + 6  # the 0.5 guide and six tick marks


def test_banners_for_an_untrained_model_and_stale_data() -> None:
    fresh = [asset(0.2, as_of=1000.0)]
    assert banners({"history": [1], "metrics": {}}, fresh, 3600.0, now=1000.0 + 60) == []
    untrained = banners({}, fresh, 3600.0, now=1000.0 + 60)
    assert len(untrained) == 1 and untrained[0].startswith("UNTRAINED MODEL")
    stale = banners({"history": [1]}, fresh, 3600.0, now=1000.0 + STALE_S + 7200)
    assert len(stale) == 1 and stale[0].startswith("STALE DATA") and "26.0 h old" in stale[0]
    assert banners({"history": [1]}, fresh, None, now=1e12) == []  # cycles: no clock


def test_healthy_assets_get_no_window_and_failed_ones_say_so() -> None:
    report = types.SimpleNamespace(unit="hours", unit_s=3600.0)
    healthy = asset(0.95)
    assert not healthy.fault_evidence and healthy.plan_by == np.inf
    assert "plan by" not in window_text(report, healthy)
    assert window_short(report, healthy) == "none (healthy)"
    failed = asset(0.95, failed=True)
    assert failed.plan_by == 0.0 and window_short(report, failed) == "failed (history)"
    sick = asset(0.2)
    assert window_text(report, sick).startswith("plan by 2023-11-15 12:13 UTC (+14.0 h)")
