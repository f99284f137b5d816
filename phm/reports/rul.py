"""Per-asset RUL for the report: one chunk of assets through the model, into plain numbers.

For each asset: the RUL median, the central 50% interval (quantiles 0.25 / 0.75 of the
model's survival curve) and 90% interval (0.05 / 0.95) plus the conformal-calibrated 90%
interval of `RulHead.summary`, the restricted mean, the survival curve on the model's grid,
fault-mode probabilities (models with a fault head) and a recommended maintenance window:
plan by now + the 5% quantile (5% risk of failing first), at the latest by now + the median.
An asset its model sees healthy (P(healthy) above 1 - the monitor's watch threshold: no fault
evidence) gets no window: its RUL is open-ended, as on the dashboard.
Quantiles past the model's horizon are +inf ("beyond the horizon").

`score_chunk` is the one function both engines run, on the same fixed chunks, with a fixed
thread count, so the local and Ray reports are bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from phm.models.predictor import Predictor
from phm.monitor.alerts import AlertPolicy
from phm.reports.sources import AssetWindow

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HEALTHY_OPEN = 1.0 - AlertPolicy().watch_on  # P(healthy) from which an asset has no window
SCORING_THREADS = 1  # fixed, so results do not depend on the machine or engine


@dataclass
class AssetRul:
    """The report's numbers for one asset (times in the model's unit, from `as of` on)."""

    asset_id: str
    age: float
    median: float
    q05: float
    q25: float
    q75: float
    q95: float
    lower90: float  # conformal-calibrated 90% interval (as the monitor reports it)
    upper90: float
    mean: float  # restricted mean E[min(T, horizon)]
    survival: np.ndarray  # (G,) on the model's grid
    fault_probs: dict[str, float] = field(default_factory=dict)
    as_of: float | None = None
    root_causes: list[dict[str, Any]] = field(default_factory=list)
    alert: str | None = None
    failed: bool = False  # the failure history (the Weibull page's source) counts it failed

    @property
    def fault_evidence(self) -> bool:
        """False when the model sees the asset healthy (P(healthy) >= HEALTHY_OPEN); True
        for a model without a fault head (its RUL is the evidence)."""
        p = self.fault_probs.get("healthy")
        return p is None or p < HEALTHY_OPEN

    @property
    def plan_by(self) -> float:
        """Start of the maintenance window: the 5% quantile of RUL (inf: no window; 0 for an
        asset that has failed)."""
        if self.failed:
            return 0.0
        return self.q05 if self.fault_evidence else math.inf

    @property
    def latest(self) -> float:
        """End of the maintenance window: the RUL median (inf: no window)."""
        if self.failed:
            return 0.0
        return self.median if self.fault_evidence else math.inf

    @property
    def top_mode(self) -> str | None:
        if not self.fault_probs:
            return None
        return max(self.fault_probs, key=self.fault_probs.__getitem__)

    def scalars(self) -> dict[str, Any]:
        """Every scalar as a flat row (fault probabilities as `p_<mode>`)."""
        row: dict[str, Any] = {
            "asset_id": self.asset_id,
            "age": self.age,
            "as_of": self.as_of,
            "rul_median": self.median,
            "rul_q05": self.q05,
            "rul_q25": self.q25,
            "rul_q75": self.q75,
            "rul_q95": self.q95,
            "rul_lower90_conformal": self.lower90,
            "rul_upper90_conformal": self.upper90,
            "rul_mean": self.mean,
            "plan_by": self.plan_by,
            "latest": self.latest,
            "fault_evidence": self.fault_evidence,
            "failed": self.failed,
            "top_mode": self.top_mode,
        }
        for mode, p in self.fault_probs.items():
            row[f"p_{mode}"] = p
        causes = self.root_causes
        row["root_causes"] = "; ".join(c["cause"] for c in causes) if causes else "none recorded"
        actions = [a for c in causes for a in c.get("actions", [])]
        row["actions"] = "; ".join(dict.fromkeys(actions)) if actions else "none recorded"
        return row


def model_from_bytes(data: bytes) -> Predictor:
    """The `Predictor` of checkpoint bytes, as `Predictor.load` reads a file."""
    return Predictor.from_bytes(data)


@torch.no_grad()
def score_chunk(predictor: Predictor, windows: list[AssetWindow]) -> list[AssetRul]:
    """Score one chunk of assets in one batch; see the module doc for what each holds."""
    if not windows:
        return []
    names = list(windows[0].inputs)
    batch = {n: np.concatenate([w.inputs[n] for w in windows]) for n in names}
    threads = torch.get_num_threads()
    torch.set_num_threads(SCORING_THREADS)
    try:
        out = predictor.predict(batch, QUANTILES)
    finally:
        torch.set_num_threads(threads)
    head = predictor.model.rul
    assert head is not None and out.rul is not None and out.rul_survival is not None
    summary = {k: v.astype(np.float64) for k, v in out.rul.items()}
    qs = {q: v.astype(np.float64) for q, v in out.rul_quantiles.items()}
    surv = out.rul_survival.astype(np.float64)
    horizon = float(head.horizon)
    results = []
    for i, w in enumerate(windows):
        # quantiles at or below the horizon are exact; the median is capped as in `summary`
        q = {k: float(v[i]) for k, v in qs.items()}
        fault = out.fault_probs(i)
        results.append(
            AssetRul(
                asset_id=w.asset_id,
                age=w.age,
                median=float(min(q[0.5], horizon)),
                q05=q[0.05],
                q25=q[0.25],
                q75=q[0.75],
                q95=q[0.95],
                lower90=float(summary["lower"][i]),
                upper90=float(summary["upper"][i]),
                mean=float(summary["mean"][i]),
                survival=surv[i],
                fault_probs=fault,
                as_of=w.as_of,
                root_causes=w.root_causes,
                alert=w.alert,
            )
        )
    return results


def rank(results: list[AssetRul]) -> list[AssetRul]:
    """Most urgent first: earliest plan-by date, then the lower median, then the id."""
    return sorted(results, key=lambda r: (r.plan_by, r.median, r.asset_id))
