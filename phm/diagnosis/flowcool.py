"""Flow-cool symptom detectors of an ion mill etch tool, against its own recent behaviour.

The flow-cool loop's pressure and flow rate follow the fixture's heat load (the beam, lagged
by the fixture's thermal time constant) around a per-tool level that shifts a little at each
maintenance. A tool's reference (`fit_flowcool_baseline`, on the `reference_s` of rows just
before the lookback) is a least-squares fit of each channel on [1, heat, beam current], with
the spread of the residual's rolling mean. The lookback's rows (`flowcool_symptoms`) give the
largest rolling-mean residual, in those spreads (z), for each direction; a logistic of z is
the symptom strength in [0, 1] the flow-cool graph (phm/configs/kg/ion_mill_flowcool.yaml)
reads:

    proc.FLOWCOOLPRESSURE_rising    pressure above its baseline (restriction: pressure_high)
    proc.FLOWCOOLPRESSURE_falling   pressure below it (clogged filter, leak)
    proc.FLOWCOOLFLOWRATE_falling   flow below it (restriction, clogging)

The lookback is the rows since a window before the previous scoring, so a precursor that
rose and tripped between two scorings of a slow monitor still shows at the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.signal import lfilter

PRESSURE, FLOW, BEAM = "FLOWCOOLPRESSURE", "FLOWCOOLFLOWRATE", "ETCHBEAMCURRENT"
# the detector keys, each with the z of `flowcool_z` it reads
SYMPTOM_Z = {
    "proc.FLOWCOOLPRESSURE_rising": "pressure_up",
    "proc.FLOWCOOLPRESSURE_falling": "pressure_down",
    "proc.FLOWCOOLFLOWRATE_falling": "flow_down",
}


@dataclass(frozen=True)
class FlowcoolDetectorConfig:
    """The detectors' settings (times in seconds)."""

    reference_s: float = 8 * 3600.0  # the rows before the lookback that make the reference
    window_s: float = 600.0  # rolling mean of the residual over this span ...
    row_s: float = 4.0  # ... of rows this far apart (PHM 2018: 4 s)
    heat_tau_s: float = 60.0  # thermal time constant of the fixture (heat = lagged beam)
    z_mid: float = 4.5  # z of strength 0.5 ...
    z_scale: float = 0.5  # ... and the logistic's scale
    min_rows: int = 300  # fewer baseline rows: no baseline yet

    @property
    def window_rows(self) -> int:
        return max(1, round(self.window_s / self.row_s))


@dataclass(frozen=True)
class ChannelBaseline:
    """One channel's fit on [1, heat, beam] and its rolling-mean residual spread."""

    coef: tuple[float, float, float]
    spread: float


@dataclass(frozen=True)
class FlowcoolBaseline:
    pressure: ChannelBaseline
    flow: ChannelBaseline


def _design(rows: pl.DataFrame, config: FlowcoolDetectorConfig) -> np.ndarray:
    """(n, 3) [1, heat, beam]: heat is the beam current lagged by `heat_tau_s`."""
    beam = np.nan_to_num(rows[BEAM].to_numpy().astype(np.float64))
    a = 1.0 - np.exp(-config.row_s / config.heat_tau_s)
    start = beam[:1] * (1 - a) if beam.size else None
    heat = lfilter([a], [1.0, a - 1.0], beam, zi=start)[0] if beam.size else beam
    return np.column_stack([np.ones_like(beam), heat, beam])


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    if x.size < n:
        return np.array([x.mean()]) if x.size else x
    c = np.cumsum(np.insert(x, 0, 0.0))
    return (c[n:] - c[:-n]) / n


def fit_flowcool_baseline(
    rows: pl.DataFrame, config: FlowcoolDetectorConfig | None = None
) -> FlowcoolBaseline | None:
    """The tool's reference from `rows` (lake process rows with the flow-cool and beam
    columns); None when there are fewer than `min_rows` complete rows."""
    config = config or FlowcoolDetectorConfig()
    missing = [c for c in (PRESSURE, FLOW, BEAM) if c not in rows.columns]
    if missing:
        raise ValueError(f"flow-cool baseline: process rows lack column(s) {missing}")
    rows = rows.drop_nulls([PRESSURE, FLOW, BEAM]).filter(pl.col(PRESSURE).is_not_nan())
    if rows.height < config.min_rows:
        return None
    x = _design(rows, config)
    fits = []
    for col in (PRESSURE, FLOW):
        y = rows[col].to_numpy().astype(np.float64)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        spread = float(np.std(_rolling_mean(resid, config.window_rows)))
        fits.append(ChannelBaseline(tuple(float(c) for c in coef), max(spread, 1e-6)))
    return FlowcoolBaseline(*fits)


def flowcool_z(
    rows: pl.DataFrame, baseline: FlowcoolBaseline, config: FlowcoolDetectorConfig | None = None
) -> dict[str, float]:
    """The largest rolling-mean residual of `rows` per direction, in baseline spreads:
    pressure_up, pressure_down, flow_down (NaN without rows)."""
    config = config or FlowcoolDetectorConfig()
    rows = rows.drop_nulls([PRESSURE, FLOW, BEAM]).filter(pl.col(PRESSURE).is_not_nan())
    if rows.height == 0:
        return dict.fromkeys(("pressure_up", "pressure_down", "flow_down"), float("nan"))
    x = _design(rows, config)
    out = {}
    for col, fit, names in (
        (PRESSURE, baseline.pressure, ("pressure_up", "pressure_down")),
        (FLOW, baseline.flow, (None, "flow_down")),
    ):
        resid = rows[col].to_numpy().astype(np.float64) - x @ np.array(fit.coef)
        roll = _rolling_mean(resid, config.window_rows) / fit.spread
        if names[0] is not None:
            out[names[0]] = float(roll.max())
        out[names[1]] = float(-roll.min())
    return out


def strength(z: float, config: FlowcoolDetectorConfig | None = None) -> float:
    """Symptom strength in [0, 1] of a z (NaN stays NaN: unknown)."""
    config = config or FlowcoolDetectorConfig()
    if not np.isfinite(z):
        return float("nan")
    return float(1.0 / (1.0 + np.exp(-(z - config.z_mid) / config.z_scale)))


def flowcool_symptoms(
    rows: pl.DataFrame, baseline: FlowcoolBaseline, config: FlowcoolDetectorConfig | None = None
) -> dict[str, float]:
    """The flow-cool graph's detector strengths (see the module doc) on `rows`."""
    z = flowcool_z(rows, baseline, config)
    return {key: strength(z[name], config) for key, name in SYMPTOM_Z.items()}
