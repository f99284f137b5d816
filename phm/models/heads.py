"""Output heads: fault diagnosis, remaining useful life as a distribution, PHM 2018 TTF per mode.

RUL heads predict a distribution of the time to failure T, never a point, and train on a
censoring-aware likelihood: a failure at t contributes the probability of failing at t, a row
censored at c (known only to survive past c) contributes the probability of surviving to c.
Two families, chosen by `config.rul_head`:
  hazard   discrete-time hazard over `rul_bins` equal bins on [0, rul_horizon) plus an open tail
           bin; h_j = P(fail in bin j | alive at its start); survival is linear within a bin.
  weibull  S(t) = exp(-(t / scale) ** shape).
Summaries: median, restricted mean E[min(T, horizon)] (the point estimate that minimises squared
error on horizon-capped labels), and a central interval at `interval_level`, widened or narrowed
by split-conformal factors calibrated on validation data, one per band of predicted median
(`conformal_factor`, `conformal_edges`: buffers, so they travel in the checkpoint). Quantiles
past the horizon are reported as the horizon (lower quantiles, median) or +inf (upper bound):
the data says no more than "beyond the horizon".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from phm.models.model import ModelConfig


class FaultHead(nn.Module):
    """Class logits (B, n_classes); class 0 is conventionally `healthy`."""

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, n_classes)

    def forward(self, h: Tensor) -> Tensor:  # (B, F) -> (B, n_classes)
        return self.proj(h)


# --- discrete-time hazard -------------------------------------------------------------------


def hazard_nll(logits: Tensor, time: Tensor, event: Tensor, edges: Tensor) -> Tensor:
    """Negative log-likelihood (B,) of times under per-bin hazards logits (B, J).

    edges (J+1,) from 0 to the horizon. An event at t in bin j: survive bins < j, fail in j (t
    past the horizon: survive all J). Censored at c: survive the bins that end by c, nothing
    more, so a censored row never penalises probability mass after its censoring time.
    """
    j_bins = logits.shape[-1]
    j = torch.searchsorted(edges[1:].contiguous(), time.float().contiguous(), right=True)  # (B,)
    log_surv = F.logsigmoid(-logits.float())  # log(1 - h)
    log_haz = F.logsigmoid(logits.float())  # log h
    before = torch.arange(j_bins, device=logits.device)[None] < j[:, None]  # (B, J)
    ll = (log_surv * before).sum(-1)
    fails = event.bool() & (j < j_bins)
    ll = ll + torch.where(fails, log_haz.gather(-1, j.clamp_max(j_bins - 1)[:, None])[:, 0], 0.0)
    return -ll


def hazard_survival(logits: Tensor) -> Tensor:
    """Survival at the bin edges (B, J+1): S_0 = 1, S_{j+1} = prod_{i<=j} (1 - h_i)."""
    log_s = F.logsigmoid(-logits.float()).cumsum(-1)
    return torch.cat([torch.ones_like(log_s[..., :1]), log_s.exp()], dim=-1)


def mixture_hazard_logits(logits: Tensor) -> Tensor:
    """Hazard logits (..., J) of the equal-weight mixture of K hazard distributions (K, ..., J).

    The mixture's survival is the mean of the members' survivals; its hazard in bin j is
    1 - S_{j+1} / S_j, so `hazard_survival` of the result gives back that mean (to float
    precision; a survival that reaches 0 is floored at 1e-30).
    """
    surv = hazard_survival(logits.double()).mean(0)  # (..., J+1)
    s0, s1 = surv[..., :-1], surv[..., 1:]
    tiny = 1e-30
    return (torch.log((s0 - s1).clamp_min(tiny)) - torch.log(s1.clamp_min(tiny))).float()


def survival_quantile(surv: Tensor, grid: Tensor, q: float) -> Tensor:
    """Time where the CDF reaches q, survival (..., G) linear between grid points (G,).

    +inf where survival stays above 1 - q on the whole grid.
    """
    target = 1.0 - q
    below = surv <= target  # (..., G)
    first = below.float().argmax(-1).clamp_min(1)  # first grid point at or below the target
    s0 = surv.gather(-1, (first - 1)[..., None])[..., 0]
    s1 = surv.gather(-1, first[..., None])[..., 0]
    t0, t1 = grid[first - 1], grid[first]
    frac = ((s0 - target) / (s0 - s1).clamp_min(1e-12)).clamp(0.0, 1.0)
    t = t0 + frac * (t1 - t0)
    return torch.where(below.any(-1), t, torch.full_like(t, math.inf))


def restricted_mean(surv: Tensor, grid: Tensor) -> Tensor:
    """E[min(T, grid[-1])] = integral of the survival over the grid (trapezoids), (...,)."""
    widths = grid[1:] - grid[:-1]
    return ((surv[..., 1:] + surv[..., :-1]) * 0.5 * widths).sum(-1)


# --- Weibull -----------------------------------------------------------------------------------


def weibull_nll(log_scale: Tensor, log_shape: Tensor, time: Tensor, event: Tensor) -> Tensor:
    """Negative log-likelihood (B,): events log f(t), censored rows log S(t). Times > 0."""
    k = log_shape.exp()
    z = (time.float().log() - log_scale) * k  # log (t / scale) ** k
    log_s = -z.exp()
    log_f = log_shape - log_scale + (k - 1) * (time.float().log() - log_scale) + log_s
    return -torch.where(event.bool(), log_f, log_s)


# --- heads -------------------------------------------------------------------------------------


class RulHead(nn.Module):
    """RUL distribution head: `forward` gives raw parameters; `nll`, `survival`, `summary` use them.

    Parameters: (B, rul_bins) hazard logits, or (B, 2) Weibull (log scale, log shape).
    """

    def __init__(self, config: ModelConfig, in_dim: int) -> None:
        super().__init__()
        if config.rul_head not in ("hazard", "weibull"):
            raise ValueError(f"rul_head must be 'hazard' or 'weibull', got {config.rul_head!r}")
        self.kind = config.rul_head
        self.horizon = float(config.rul_horizon)
        self.level = float(config.interval_level)
        if config.rul_point not in ("mean", "median"):
            raise ValueError(f"rul_point must be 'mean' or 'median', got {config.rul_point!r}")
        self.point = config.rul_point
        n_out = config.rul_bins if self.kind == "hazard" else 2
        self.proj = nn.Linear(in_dim, n_out)
        if self.kind == "hazard":  # start near a flat hazard of 1/J per bin
            nn.init.constant_(self.proj.bias, -math.log(config.rul_bins - 1))
        grid = torch.linspace(0.0, self.horizon, config.rul_bins + 1)
        self.register_buffer("grid", grid)  # bin edges (hazard) or integration grid (Weibull)
        g = config.conformal_groups
        self.register_buffer("conformal_factor", torch.zeros(g, dtype=torch.float32))
        self.register_buffer("conformal_edges", torch.zeros(g - 1, dtype=torch.float32))
        # Times are floored at half a bin for the Weibull density (a failure "at 0" is within it).
        self.t_min = 0.5 * self.horizon / config.rul_bins

    def forward(self, h: Tensor) -> Tensor:
        out = self.proj(h).float()
        if self.kind == "weibull":  # centre the scale on the horizon, shape around 1
            out = out + torch.tensor([math.log(self.horizon), 0.0], device=out.device)
            out = torch.stack([out[:, 0], out[:, 1].clamp(-3.0, 3.0)], dim=-1)
        return out

    def nll(self, params: Tensor, time: Tensor, event: Tensor) -> Tensor:
        """(B,) censoring-aware negative log-likelihood of times (B,) and event flags (B,)."""
        if self.kind == "hazard":
            return hazard_nll(params, time, event, self.grid)
        return weibull_nll(params[:, 0], params[:, 1], time.clamp_min(self.t_min), event)

    def survival(self, params: Tensor) -> Tensor:
        """Survival (B, G) on `self.grid` (0 .. horizon)."""
        if self.kind == "hazard":
            return hazard_survival(params)
        t = self.grid[None, :]
        return torch.exp(-((t / params[:, :1].exp()) ** params[:, 1:].exp()))

    def quantile(self, params: Tensor, q: float) -> Tensor:
        """(B,) time where the CDF reaches q; +inf past the horizon for the hazard head."""
        if self.kind == "hazard":
            return survival_quantile(self.survival(params), self.grid, q)
        return params[:, 0].exp() * (-math.log1p(-q)) ** (1.0 / params[:, 1].exp())

    def mean(self, params: Tensor) -> Tensor:
        """(B,) restricted mean E[min(T, horizon)]: differentiable, used for the point loss."""
        return restricted_mean(self.survival(params), self.grid)

    def summary(self, params: Tensor) -> dict[str, Tensor]:
        """point (`config.rul_point`), median, restricted mean, lower, upper, each (B,).

        lower/upper: the central `interval_level` interval after conformal calibration.
        """
        a = (1.0 - self.level) / 2.0
        h = self.horizon
        med = self.quantile(params, 0.5).clamp_max(h)
        lo = self.quantile(params, a).clamp_max(h)
        hi = self.quantile(params, 1.0 - a)
        group = torch.bucketize(med, self.conformal_edges, right=True)  # (B,)
        lo, hi = calibrated_interval(lo, med, hi, self.conformal_factor[group], self.min_width)
        mean = self.mean(params)
        point = mean if self.point == "mean" else med
        return {"point": point, "median": med, "mean": mean, "lower": lo, "upper": hi}

    @property
    def min_width(self) -> float:
        """Floor of each half-width in the conformal score: one bin of the grid."""
        return self.horizon / (self.grid.numel() - 1)


def calibrated_interval(
    lower: Tensor, median: Tensor, upper: Tensor, factor: Tensor | float, min_width: float
) -> tuple[Tensor, Tensor]:
    """Widen (factor > 0) or narrow each side by factor x its half-width (floored); lower >= 0."""
    w_lo = (median - lower).clamp_min(min_width)
    w_hi = (upper - median).clamp_min(min_width)
    lo = torch.minimum(lower - factor * w_lo, median).clamp_min(0.0)
    hi = torch.where(upper.isinf(), upper, torch.maximum(upper + factor * w_hi, median))
    return lo, hi


def conformal_factor(
    lower: np.ndarray,
    median: np.ndarray,
    upper: np.ndarray,
    y: np.ndarray,
    level: float,
    min_width: float,
    units: np.ndarray | None = None,
) -> float:
    """Split-conformal factor for `calibrated_interval` from validation rows (all (N,)).

    Score: the larger normalised excess max((lower - y) / w_lo, (y - upper) / w_hi), with
    half-widths w floored at min_width (an infinite upper bound never misses above). The factor
    is the ceil((N + 1) level)-th smallest score, so on exchangeable data the calibrated
    interval covers with probability >= level.

    `units` (N,), the asset of each row: windows of one asset are not exchangeable (their
    errors move together), the assets are. The finite-sample correction then counts assets,
    not rows: the factor is the ceil(q N)-th smallest score with q = ceil((U + 1) level) / U
    for U assets (q = 1, the largest score, below level / (1 - level) assets).
    """
    lower, median, upper, y = (np.asarray(a, dtype=np.float64) for a in (lower, median, upper, y))
    w_lo = np.maximum(median - lower, min_width)
    w_hi = np.maximum(upper - median, min_width)
    with np.errstate(invalid="ignore"):
        above = np.where(np.isinf(upper), -np.inf, (y - upper) / w_hi)
    scores = np.maximum((lower - y) / w_lo, above)
    n = scores.size
    if n == 0:
        raise ValueError("conformal calibration needs at least one validation row")
    if units is None:
        rank = min(math.ceil((n + 1) * level), n)
        return float(max(np.sort(scores)[rank - 1], -1.0))
    n_units = len(np.unique(units))
    q = min(1.0, math.ceil((n_units + 1) * level) / n_units)
    rank = min(max(math.ceil(q * n - 1e-9), 1), n)
    return float(max(np.sort(scores)[rank - 1], -1.0))


def grouped_conformal_factors(
    lower: np.ndarray,
    median: np.ndarray,
    upper: np.ndarray,
    y: np.ndarray,
    level: float,
    min_width: float,
    n_groups: int,
    min_rows: int = 50,
    units: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Group-conditional (Mondrian) split conformal: one factor per band of predicted median.

    Bands are cut at quantiles of the validation medians, so each interval is calibrated
    against rows the model judged alike (near failure, mid-life, healthy) and coverage holds
    within each band even when test rows mix the bands differently than validation rows.
    A band with fewer than `min_rows` rows uses the pooled factor. `units`: the asset of each
    row (see `conformal_factor`). Returns (factors (G,),
    edges (G-1,)) for `RulHead.conformal_factor` / `conformal_edges`.
    """
    median = np.asarray(median, dtype=np.float64)
    pooled = conformal_factor(lower, median, upper, y, level, min_width, units)
    qs = np.linspace(0, 1, n_groups + 1)[1:-1]
    edges = np.quantile(median, qs) if n_groups > 1 else np.zeros(0)
    group = np.searchsorted(edges, median, side="right")
    factors = np.full(n_groups, pooled)
    for g in range(n_groups):
        rows = group == g
        if rows.sum() >= min_rows:
            factors[g] = conformal_factor(
                lower[rows],
                median[rows],
                upper[rows],
                y[rows],
                level,
                min_width,
                None if units is None else np.asarray(units)[rows],
            )
    return factors, edges


class TtfHead(nn.Module):
    """PHM 2018: time to failure per fault mode, each a discrete-time hazard over `ttf_bins`.

    `no_fault_prob` = survival at `ttf_horizon`: the chance of no fault of that mode within the
    horizon; above 0.5 the prediction is NaN, the official "no fault ahead".
    """

    def __init__(self, config: ModelConfig, in_dim: int) -> None:
        super().__init__()
        self.n_modes, self.n_bins = config.n_fault_modes, config.ttf_bins
        self.proj = nn.Linear(in_dim, self.n_modes * self.n_bins)
        nn.init.constant_(self.proj.bias, -math.log(self.n_bins - 1))
        self.register_buffer("grid", torch.linspace(0.0, config.ttf_horizon, self.n_bins + 1))

    def forward(self, h: Tensor) -> Tensor:  # (B, F) -> (B, M, J)
        return self.proj(h).float().view(-1, self.n_modes, self.n_bins)

    def nll(self, logits: Tensor, time: Tensor, event: Tensor) -> Tensor:
        """(B,) summed over modes; time, event (B, M); rows with no fault ahead are censored."""
        b, m, j = logits.shape
        flat = hazard_nll(logits.reshape(b * m, j), time.reshape(-1), event.reshape(-1), self.grid)
        return flat.view(b, m).sum(-1)

    def no_fault_prob(self, logits: Tensor) -> Tensor:  # (B, M)
        return hazard_survival(logits)[..., -1]

    def summary(self, logits: Tensor) -> dict[str, Tensor]:
        """(B, M) each, per mode: `median`, `lower` and `upper` (the 5% and 95% quantiles, +inf
        past the horizon) of the TTF in the grid's unit, and `no_fault` (`no_fault_prob`)."""
        surv = hazard_survival(logits)
        return {
            "median": survival_quantile(surv, self.grid, 0.5),
            "lower": survival_quantile(surv, self.grid, 0.05),
            "upper": survival_quantile(surv, self.grid, 0.95),
            "no_fault": surv[..., -1],
        }

    def predict(self, logits: Tensor) -> Tensor:
        """(B, M) median TTF per mode, NaN where no fault is likely within the horizon."""
        s = self.summary(logits)
        return torch.where(s["no_fault"] >= 0.5, math.nan, s["median"])
