"""Flow-cool detectors: a reference fit on [1, heat, beam] and rolling-mean residual z."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from phm.diagnosis.flowcool import (
    FlowcoolDetectorConfig,
    fit_flowcool_baseline,
    flowcool_symptoms,
    flowcool_z,
    strength,
)


def rows(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    """n rows 4 s apart: beam steps between 0 and 1 every 10 min; pressure 2 + 0.8 beam and
    flow 1 + 0.5 beam, each with white noise 0.1; `shift` added to the pressure."""
    rng = np.random.default_rng(seed)
    beam = ((np.arange(n) // 150) % 2).astype(float)
    return pl.DataFrame(
        {
            "time": 4.0 * np.arange(n),
            "ETCHBEAMCURRENT": beam,
            "FLOWCOOLPRESSURE": 2 + 0.8 * beam + 0.1 * rng.standard_normal(n) + shift,
            "FLOWCOOLFLOWRATE": 1 + 0.5 * beam + 0.1 * rng.standard_normal(n),
        }
    )


def test_the_reference_fit_recovers_the_levels_and_a_shift_reads_in_spreads() -> None:
    cfg = FlowcoolDetectorConfig()
    ref = fit_flowcool_baseline(rows(7200, 0), cfg)
    assert ref is not None
    a, heat, beam = ref.pressure.coef
    assert a == pytest.approx(2.0, abs=0.02) and heat + beam == pytest.approx(0.8, abs=0.03)
    # the residual's 150-row rolling mean of white noise 0.1 spreads about 0.1 / sqrt(150)
    assert ref.pressure.spread == pytest.approx(0.1 / np.sqrt(150), rel=0.25)
    calm = flowcool_z(rows(600, 1), ref, cfg)
    assert max(calm.values()) < 4.0
    shift = 10 * ref.pressure.spread  # a pressure rise of ten spreads
    z = flowcool_z(rows(600, 1, shift), ref, cfg)
    assert z["pressure_up"] == pytest.approx(10.0 + calm["pressure_up"], abs=1.0)
    assert z["pressure_down"] < 0 and z["flow_down"] < 4.0
    symptoms = flowcool_symptoms(rows(600, 1, shift), ref, cfg)
    assert symptoms["proc.FLOWCOOLPRESSURE_rising"] > 0.99
    assert symptoms["proc.FLOWCOOLPRESSURE_falling"] < 0.01


def test_strengths_thresholds_and_bad_input() -> None:
    cfg = FlowcoolDetectorConfig()
    assert strength(cfg.z_mid, cfg) == pytest.approx(0.5)
    assert np.isnan(strength(float("nan"), cfg))
    assert fit_flowcool_baseline(rows(100, 0), cfg) is None  # too short for a reference
    with pytest.raises(ValueError, match="FLOWCOOLFLOWRATE"):
        fit_flowcool_baseline(rows(400, 0).drop("FLOWCOOLFLOWRATE"), cfg)
    ref = fit_flowcool_baseline(rows(400, 0), cfg)
    assert ref is not None
    assert all(np.isnan(v) for v in flowcool_z(rows(0, 0), ref, cfg).values())
