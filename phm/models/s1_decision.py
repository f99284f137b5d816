"""PHM 2018 submissions as Bayes decisions: the TTF (or NaN) with the least expected S1.

The official S1 cost of every submission is known for every true TTF (`phm.metrics.
phm2018_cell_scores`), so given a predicted distribution of the true TTF of one mode the best
submission needs no threshold: it is the candidate (a number of seconds, or NaN) whose expected
cost under the distribution is least. A distribution here is

- `support` (K,) or (N, K): TTF values in seconds within the horizon, with `mass` (N, K) on them;
- `far` (N,): the rest, P(no fault within the horizon). A far truth is either NaN (no further
  fault in the record) with probability `far_nan_share`, else a number just past the horizon.

`hazard_distribution` turns discrete-time hazard logits (the networks' `TtfHead`) into that
form; `fit_hazard_calibration` fits a per-mode temperature and shift of those logits on held-out
training tools; `far_nan_share` estimates the NaN share of far truths from training labels;
`policy_stability` summarises the fitted calibration across fleets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

S1_DECAY_PER_S = 0.001  # the official score weighs an error at TTF t by exp(-0.001 t)
CANDIDATE_STEP_S = 30.0  # submitted TTFs are searched on this grid from 0 to the horizon
SUB_POINTS = 4  # points per hazard bin standing for the bin's mass (uniform within the bin)
CHUNK_ROWS = 8192


def s1_cost(truth: np.ndarray, submission: np.ndarray) -> np.ndarray:
    """The S1 cell cost, broadcasting `truth` against `submission` (NaN = no fault)."""
    gt, sub = np.broadcast_arrays(np.asarray(truth, float), np.asarray(submission, float))
    gt_nan, sub_nan = np.isnan(gt), np.isnan(sub)
    g, s = np.nan_to_num(gt), np.nan_to_num(sub)
    both = np.exp(-S1_DECAY_PER_S * g) * np.abs(g - s)
    only_sub = np.exp(-S1_DECAY_PER_S * s) * s
    only_gt = np.exp(-S1_DECAY_PER_S * g) * g
    return np.where(gt_nan, np.where(sub_nan, 0.0, only_sub), np.where(sub_nan, only_gt, both))


def candidates(horizon_s: float, step_s: float = CANDIDATE_STEP_S) -> np.ndarray:
    """Submitted TTFs searched, seconds: 0, step, ..., horizon; NaN is always searched too."""
    return np.arange(0.0, horizon_s + step_s / 2, step_s)


def expected_costs(
    support: np.ndarray,
    mass: np.ndarray,
    far: np.ndarray,
    horizon_s: float,
    far_nan_share: float,
    cands: np.ndarray,
) -> np.ndarray:
    """Expected S1 (N, C + 1) of each candidate (C,) and, in the last column, of NaN."""
    mass, far = np.asarray(mass, float), np.asarray(far, float)
    options = np.append(cands, np.nan)  # (C+1,)
    # a far truth: NaN with prob q, else a number just past the horizon
    far_cost = far_nan_share * s1_cost(np.nan, options) + (1 - far_nan_share) * s1_cost(
        horizon_s, options
    )  # (C+1,)
    support = np.asarray(support, float)
    if support.ndim == 1:
        inner = mass @ s1_cost(support[:, None], options[None, :])  # (N, C+1)
    else:
        cost = s1_cost(support[:, :, None], options[None, None, :])  # (N, K, C+1)
        inner = np.einsum("nk,nkc->nc", mass, cost)
    return inner + far[:, None] * far_cost[None, :]


def bayes_submission(
    support: np.ndarray,
    mass: np.ndarray,
    far: np.ndarray,
    horizon_s: float,
    far_nan_share: float,
    step_s: float = CANDIDATE_STEP_S,
) -> np.ndarray:
    """The submission (N,) of least expected S1 per row: a TTF in seconds, or NaN.

    support (K,) or (N, K) seconds, mass (N, K), far (N,) as in the module docstring; rows
    whose masses do not sum to one with `far` are scored as given (no renormalising).
    """
    mass = np.asarray(mass, float)
    if mass.ndim != 2:
        raise ValueError(f"mass must be (rows, points), got shape {mass.shape}")
    if not 0.0 <= far_nan_share <= 1.0:
        raise ValueError(f"far_nan_share must be in [0, 1], got {far_nan_share}")
    cands = candidates(horizon_s, step_s)
    options = np.append(cands, np.nan)
    out = np.empty(len(mass))
    support = np.asarray(support, float)
    if support.ndim == 2:  # per-row points: put their mass on the candidate grid (error <= step/2)
        support, mass = cands, on_grid(support, mass, step_s, len(cands))
    for start in range(0, len(mass), CHUNK_ROWS):
        sl = slice(start, start + CHUNK_ROWS)
        cost = expected_costs(
            support, mass[sl], np.asarray(far)[sl], horizon_s, far_nan_share, cands
        )
        # ties go to NaN (the last column): argmin of the reversed columns
        best = cost.shape[1] - 1 - np.argmin(cost[:, ::-1], axis=1)
        out[sl] = options[best]
    return out


def on_grid(support: np.ndarray, mass: np.ndarray, step_s: float, n_grid: int) -> np.ndarray:
    """Mass (N, n_grid) on the grid 0, step, ... of per-row points support (N, K) with mass
    (N, K): each point's mass goes to the nearest grid point (clipped to the grid)."""
    n = len(mass)
    idx = np.clip(np.rint(support / step_s), 0, n_grid - 1).astype(np.int64)
    flat = (np.arange(n)[:, None] * n_grid + idx).ravel()
    return np.bincount(flat, weights=mass.ravel(), minlength=n * n_grid).reshape(n, n_grid)


def hazard_distribution(
    logits: np.ndarray, horizon_s: float, sub_points: int = SUB_POINTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(support (J * sub_points,), mass (N, J * sub_points), far (N,)) of hazard logits (N, J)
    over J equal bins from 0 to the horizon; each bin's mass spread evenly on its points."""
    logits = np.asarray(logits, np.float64)
    n, j = logits.shape
    log_surv = np.cumsum(-np.logaddexp(0.0, logits), axis=1)  # log S at each bin's end
    surv = np.concatenate([np.ones((n, 1)), np.exp(log_surv)], axis=1)  # (N, J+1)
    bin_mass = surv[:, :-1] - surv[:, 1:]  # (N, J)
    width = horizon_s / j
    offsets = (np.arange(sub_points) + 0.5) / sub_points * width
    support = (np.arange(j)[:, None] * width + offsets[None, :]).ravel()
    mass = np.repeat(bin_mass / sub_points, sub_points, axis=1)
    return support, mass, surv[:, -1]


def s1_estimate(logits: np.ndarray, horizon_s: float, sub_points: int = SUB_POINTS) -> np.ndarray:
    """(N,) the TTF of least expected S1 given that a fault comes within the horizon: the
    median of the hazard logits' (N, J) in-horizon distribution weighted by exp(-0.001 t), as
    gbm's regressor is fitted (absolute error weighted so). NaN where no mass lies within the
    horizon. Unlike the plain median it exists for every row and leans to the near faults
    S1 weighs most."""
    support, mass, _ = hazard_distribution(logits, horizon_s, sub_points)
    w = mass * np.exp(-S1_DECAY_PER_S * support)[None, :]
    total = w.sum(axis=1)
    cdf = np.cumsum(w, axis=1)
    idx = np.argmax(cdf >= 0.5 * total[:, None], axis=1)
    return np.where(total > 1e-12, support[idx], np.nan)


def ttf_interval(
    logits: np.ndarray, horizon_s: float, level: float = 0.9, given_fault: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) (N,) of the central `level` interval of the TTF distribution of hazard
    logits (N, J) over J equal bins to the horizon: where the CDF reaches (1 - level) / 2 and
    (1 + level) / 2, linear within a bin; +inf where it never does within the horizon (the
    fault may come later: the interval is open on the right). `given_fault`: of the
    distribution given that a fault comes within the horizon (the CDF divided by its value at
    the horizon; NaN where no mass lies within it), the interval of a submitted TTF."""
    logits = np.asarray(logits, np.float64)
    n, j = logits.shape
    log_surv = np.cumsum(-np.logaddexp(0.0, logits), axis=1)
    cdf = 1.0 - np.concatenate([np.ones((n, 1)), np.exp(log_surv)], axis=1)  # (N, J+1) at edges
    edges = np.linspace(0.0, horizon_s, j + 1)
    if given_fault:
        within = cdf[:, -1:]
        cdf = np.where(within > 1e-12, cdf / np.maximum(within, 1e-12), np.nan)

    def quantile(q: float) -> np.ndarray:
        reached = cdf >= q
        first = np.clip(reached.argmax(axis=1), 1, j)  # first edge at or past q
        c0 = np.take_along_axis(cdf, (first - 1)[:, None], 1)[:, 0]
        c1 = np.take_along_axis(cdf, first[:, None], 1)[:, 0]
        frac = np.clip((q - c0) / np.maximum(c1 - c0, 1e-12), 0.0, 1.0)
        t = edges[first - 1] + frac * (edges[first] - edges[first - 1])
        t = np.where(reached.any(axis=1), t, np.inf)
        return np.where(np.isnan(cdf[:, -1]), np.nan, t)

    return quantile((1.0 - level) / 2.0), quantile((1.0 + level) / 2.0)


def hazard_nll(
    logits: np.ndarray, time_s: np.ndarray, event: np.ndarray, horizon_s: float, weight=None
) -> float:
    """Weighted mean negative log-likelihood of discrete-time hazards (N, J) (as `phm.models.
    heads.hazard_nll`: events fail in their bin, censored rows survive the bins ending by then)."""
    n, j = logits.shape
    edges = np.linspace(0.0, horizon_s, j + 1)
    b = np.searchsorted(edges[1:], np.asarray(time_s, float), side="right")  # (N,)
    log_surv = -np.logaddexp(0.0, logits)
    log_haz = -np.logaddexp(0.0, -logits)
    before = np.arange(j)[None, :] < b[:, None]
    ll = (log_surv * before).sum(1)
    fails = np.asarray(event, bool) & (b < j)
    ll = ll + np.where(fails, log_haz[np.arange(n), np.minimum(b, j - 1)], 0.0)
    w = np.ones(n) if weight is None else np.asarray(weight, float)
    return float(-(ll * w).sum() / w.sum())


def fit_hazard_calibration(
    logits: np.ndarray,
    time_s: np.ndarray,
    event: np.ndarray,
    horizon_s: float,
    weight: np.ndarray | None = None,
) -> tuple[float, float]:
    """(temperature a, shift b) with calibrated logits a * logits + b, least weighted NLL on
    held-out rows of one mode. (1, 0) leaves the network as it is; a is kept in [0.2, 5]."""
    from scipy.optimize import minimize

    logits = np.asarray(logits, np.float64)
    if len(logits) == 0 or not np.any(event):
        return 1.0, 0.0

    def loss(p: np.ndarray) -> float:
        return hazard_nll(p[0] * logits + p[1], time_s, event, horizon_s, weight)

    res = minimize(
        loss, x0=np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0.2, 5.0), (-5.0, 5.0)]
    )
    if not res.success or loss(res.x) > loss(np.array([1.0, 0.0])):
        return 1.0, 0.0
    return float(res.x[0]), float(res.x[1])


def far_nan_share(
    ttf: np.ndarray, horizon_s: float, weight: np.ndarray | None = None
) -> np.ndarray:
    """Per mode (M,): among training rows with no fault within the horizon (TTF (N, M), NaN =
    no further fault in the record), the weighted share whose TTF is NaN."""
    ttf = np.asarray(ttf, float)
    w = np.ones(len(ttf)) if weight is None else np.asarray(weight, float)
    far = ~(ttf <= horizon_s)  # NaN compares False, so NaN rows are far
    out = np.zeros(ttf.shape[1])
    for m in range(ttf.shape[1]):
        total = w[far[:, m]].sum()
        out[m] = w[far[:, m] & np.isnan(ttf[:, m])].sum() / total if total > 0 else 1.0
    return out


def policy_stability(per_fleet: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, std (ddof 0), min, max and coefficient of variation of each policy parameter over
    fleets: per_fleet {fleet: {parameter: value}}, every fleet naming the same parameters."""
    fleets: Sequence[str] = list(per_fleet)
    if not fleets:
        raise ValueError("policy_stability needs at least one fleet")
    keys = list(per_fleet[fleets[0]])
    for f in fleets:
        if list(per_fleet[f]) != keys:
            raise ValueError(f"fleet {f!r} has parameters {list(per_fleet[f])}, expected {keys}")
    out = {}
    for k in keys:
        v = np.array([per_fleet[f][k] for f in fleets], float)
        mean, std = float(v.mean()), float(v.std())
        out[k] = {
            "mean": mean,
            "std": std,
            "min": float(v.min()),
            "max": float(v.max()),
            "cv": std / abs(mean) if mean else float("inf"),
        }
    return out
