"""Order tracking: a bearing defect stays at its order whatever the speed and sampling rate."""

from __future__ import annotations

import numpy as np
import pytest

from phm.features.orders import (
    OrderConfig,
    angle_windows,
    defect_lines,
    envelope_diagnosis,
    multiband_features,
    order_features,
    order_spectrum,
)
from phm.features.spectral import SKF_6205

ORDERS = SKF_6205.multiples()


def impacts(
    order: float,
    rpm: float,
    fs: float,
    seconds: float = 3.0,
    gain: float = 1.0,
    ring_hz: float = 3000.0,
):
    """Decaying `ring_hz` bursts at `order` x shaft speed, plus noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * fs)) / fs
    x = 0.05 * rng.standard_normal(t.size)
    period = 60.0 / (rpm * order)
    for t0 in np.arange(0, seconds, period):
        m = (t >= t0) & (t < t0 + 0.004)
        x[m] += np.exp(-(t[m] - t0) * 1500) * np.sin(2 * np.pi * ring_hz * (t[m] - t0))
    return gain * x


@pytest.mark.parametrize(
    ("rpm", "fs"), [(900, 12_000), (1800, 12_000), (900, 48_000), (1800, 25_600)]
)
def test_defect_peak_stays_at_its_order(rpm: float, fs: float) -> None:
    cfg = OrderConfig()
    w = angle_windows(impacts(ORDERS.bpfo, rpm, fs), fs, rpm, cfg)
    assert w.envelope.shape[1] == cfg.window_revs * cfg.samples_per_rev
    orders, amp = order_spectrum(w.envelope, cfg.samples_per_rev)
    band = (orders > 1.5) & (orders < 12)
    peak = orders[band][amp.mean(axis=0)[band].argmax()]
    assert abs(peak - ORDERS.bpfo) < 1.0 / cfg.window_revs
    lines = defect_lines(w, ORDERS)
    assert np.nanmean(lines["bpfo_h1"]) > 2.0 > np.nanmean(lines["bpfi_h1"])
    loc = envelope_diagnosis(lines, ("normal", "inner_race", "outer_race"))
    assert np.mean(loc == "outer_race") > 0.9


def test_features_are_scale_free_and_speed_invariant() -> None:
    cfg = OrderConfig()
    a = order_features(angle_windows(impacts(ORDERS.bpfi, 900, 12_000), 12_000, 900, cfg), ORDERS)
    b_x = impacts(ORDERS.bpfi, 900, 12_000, gain=100.0)
    b = order_features(angle_windows(b_x, 12_000, 900, cfg), ORDERS)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-9)
    names = a[1]
    fast = order_features(
        angle_windows(impacts(ORDERS.bpfi, 1500, 25_600), 25_600, 1500, cfg), ORDERS
    )
    i = names.index("env_bpfi_h1")
    assert np.nanmean(a[0][:, i]) > 2.0 and np.nanmean(fast[0][:, i]) > 2.0


def test_noise_is_normal_for_the_envelope_diagnosis() -> None:
    rng = np.random.default_rng(1)
    cfg = OrderConfig()
    w = angle_windows(rng.standard_normal(36_000), 12_000, 1200, cfg)
    loc = envelope_diagnosis(
        defect_lines(w, ORDERS), ("normal", "inner_race", "outer_race", "ball")
    )
    assert np.mean(loc == "normal") > 0.8


def test_multiband_lines_find_a_resonance_outside_the_default_band() -> None:
    # bursts ringing at 700 Hz, below the default 1.2-4.8 kHz demodulation band, in noise
    cfg = OrderConfig()
    x = impacts(ORDERS.bpfo, 1200, 12_000, ring_hz=700.0)
    x = x + 0.3 * np.random.default_rng(5).standard_normal(x.size)
    single = defect_lines(angle_windows(x, 12_000, 1200, cfg), ORDERS)["bpfo_h1"]
    M, names = multiband_features(x, 12_000, 1200, ORDERS, cfg)
    assert M.shape == (angle_windows(x, 12_000, 1200, cfg).envelope.shape[0], len(names))
    strongest = M[:, names.index("envmax_bpfo_h1")]
    assert np.nanmean(single) < 1.0 < 2.0 < np.nanmean(strongest)
    kurt = [i for i, n in enumerate(names) if n.startswith("kurt_")]
    assert names[kurt[int(M[:, kurt].mean(axis=0).argmax())]] == "kurt_300_1200"
    louder, _ = multiband_features(50.0 * x, 12_000, 1200, ORDERS, cfg)  # scale-free
    np.testing.assert_allclose(M, louder, rtol=1e-6, atol=1e-9)
