"""Empirical-Bayes posterior of a unit's remaining life from its observed length and a prediction.

A batch of test units is cut some time before failure. Generative model: each unit's remaining
life r is drawn from a truncation prior g, independently of its life L; the life is drawn from
the training life distribution f (`LifeDistribution`, a kernel density on the training lives)
conditioned on L > r; the observed length (cycles seen) is c = L - r. So p(c | r) =
f(c + r) / S(r), with S(r) = P(L > r) (`length_log_likelihood`). A point model's prediction y
adds p(y | r) (`PredictionLikelihood`, learned on held-out training units), and the posterior
is p(r | evidence) proportional to g(r) times the evidence (`rul_posterior`).

g is estimated from the batch itself, never from its truth: `fit_truncation_prior` by EM on
the grid r = 0..R (the nonparametric MLE) from the lengths (and optionally the predictions);
`fit_tilted_prior` by maximum likelihood in a two-parameter family (the fallback tilted by
exp(-tilt r) and cut off at r <= cutoff). Both shrink toward the fallback
`uniform_cut_prior` (the r of a uniformly random cut of a life drawn from f) by a pseudo-count,
so a single unit, or a small batch, leans on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp
from scipy.stats import norm

# exponential tilts (per cycle) of the fallback prior searched by `fit_tilted_prior`
TILTS = tuple(np.round(np.linspace(-0.01, 0.06, 71), 4))


class TruncationPriorError(ValueError):
    """Inputs the truncation prior cannot use (no lives, lengths below 1, an empty grid)."""


@dataclass(frozen=True)
class LifeDistribution:
    """Smoothed life distribution f: a Gaussian kernel density on the training lives (cycles),
    with `bandwidth` in cycles; P(L = l) is the density at the integer l."""

    lives: np.ndarray
    bandwidth: float

    @classmethod
    def fit(cls, lives: npt.ArrayLike, bandwidth: float | None = None) -> LifeDistribution:
        """From the training units' lives (cycles to failure, one per unit); bandwidth None:
        Silverman's rule, at least 1 cycle."""
        lv = np.asarray(lives, dtype=np.float64).ravel()
        if lv.size == 0 or np.any(lv < 1):
            raise TruncationPriorError(f"lives must be >= 1 cycle, one per unit; got {lv.size}")
        if bandwidth is None:
            iqr = np.subtract(*np.percentile(lv, [75, 25])) / 1.34
            spread = min(np.std(lv), iqr) if iqr > 0 else np.std(lv)
            bandwidth = max(0.9 * spread * lv.size ** (-0.2), 1.0)
        return cls(lv, float(bandwidth))

    def log_pmf(self, life: npt.ArrayLike) -> np.ndarray:
        """log P(L = life), any shape of integer lives."""
        x = np.asarray(life, dtype=np.float64)
        z = norm.logpdf((x[..., None] - self.lives) / self.bandwidth)
        return logsumexp(z, axis=-1) - np.log(self.lives.size * self.bandwidth)

    def log_survival(self, r: npt.ArrayLike) -> np.ndarray:
        """log P(L > r) for integer r (continuity-corrected at r + 0.5)."""
        x = np.asarray(r, dtype=np.float64)
        z = norm.logsf((x[..., None] + 0.5 - self.lives) / self.bandwidth)
        return logsumexp(z, axis=-1) - np.log(self.lives.size)

    def max_life(self) -> int:
        """The longest training life, the default reach R of the remaining-life grid."""
        return int(self.lives.max())


def length_log_likelihood(lengths: npt.ArrayLike, life: LifeDistribution, r_max: int) -> np.ndarray:
    """(N, R+1) log p(c_i | r) = log f(c_i + r) - log S(r) on r = 0..r_max."""
    c = np.asarray(lengths, dtype=np.float64).ravel()
    if c.size and (np.any(c < 1) or np.any(c != np.round(c))):
        raise TruncationPriorError("observed lengths must be whole cycles >= 1")
    r = np.arange(r_max + 1)
    log_f = life.log_pmf(np.arange(int(c.max(initial=0)) + r_max + 1))  # f on the whole grid
    return log_f[c.astype(np.int64)[:, None] + r] - life.log_survival(r)


def uniform_cut_prior(life: LifeDistribution, r_max: int) -> np.ndarray:
    """(R+1,) the fallback g0: r of a life L ~ f cut at a uniformly random cycle, so r is
    uniform on 0..L-1 and g0(r) = sum over l > r of f(l) / l."""
    grid = np.arange(1, 3 * r_max + 1)
    weight = np.exp(life.log_pmf(grid)) / grid
    tail = np.cumsum(weight[::-1])[::-1]  # tail[k] = sum over l >= k + 1
    g0 = tail[: r_max + 1]
    return g0 / g0.sum()


def fit_truncation_prior(
    lengths: npt.ArrayLike,
    life: LifeDistribution,
    r_max: int | None = None,
    fallback: npt.ArrayLike | None = None,
    pseudo_count: float = 10.0,
    extra_log_likelihood: npt.ArrayLike | None = None,
    n_iter: int = 1000,
    tol: float = 1e-7,
) -> np.ndarray:
    """(R+1,) g(r) on r = 0..R from a batch's observed lengths, by EM.

    M-step with a Dirichlet prior: g = (sum_i p(r | c_i) + pseudo_count * g0) / (n + pseudo_count),
    g0 = `fallback` (default `uniform_cut_prior`): an empty batch gives g0, a single unit
    nearly g0, a large batch its own nonparametric MLE. `extra_log_likelihood` (N, R+1): more
    evidence on each unit's r (log p(y_i | r) of a prediction), added to the lengths'.
    """
    r_max = life.max_life() if r_max is None else int(r_max)
    if r_max < 1:
        raise TruncationPriorError(f"r_max must be >= 1 cycle, got {r_max}")
    g0 = uniform_cut_prior(life, r_max) if fallback is None else np.asarray(fallback, float)
    if g0.shape != (r_max + 1,):
        raise TruncationPriorError(f"fallback must have {r_max + 1} values, got {g0.shape}")
    loglik = length_log_likelihood(lengths, life, r_max)
    if extra_log_likelihood is not None:
        loglik = loglik + np.asarray(extra_log_likelihood, dtype=np.float64)
    n = loglik.shape[0]
    if n == 0:
        return g0
    # each unit's likelihood up to its own constant, which cancels in p(r | c_i)
    kernel = np.exp(loglik - loglik.max(axis=1, keepdims=True))  # (N, R+1)
    g = g0.copy()
    for _ in range(n_iter):
        evidence = kernel @ g  # (N,) p(c_i) up to the constants
        new = (g * (kernel.T @ (1.0 / evidence)) + pseudo_count * g0) / (n + pseudo_count)
        done = np.abs(new - g).max() < tol
        g = new
        if done:
            break
    return g


def fit_tilted_prior(
    log_evidence: npt.ArrayLike,
    base: npt.ArrayLike,
    tilts: npt.ArrayLike = TILTS,
    cutoffs: npt.ArrayLike | None = None,
    pseudo_count: float = 0.0,
) -> np.ndarray:
    """(R+1,) g(r) proportional to base(r) exp(-tilt r) [r <= cutoff], the (tilt, cutoff) of
    the grids that maximise the batch's marginal likelihood sum_i log sum_r g(r) e_i(r).

    log_evidence: (N, R+1) log e_i(r), each unit's evidence on its remaining life (up to a
    constant per unit); base: (R+1,) the fallback prior; cutoffs None: 100, 125, ... and R
    (every cutoff >= R is no cutoff). Two parameters, so a batch of ~100 units pins them down
    where a free g (`fit_truncation_prior`) overfits; the fit is mixed with `base` as
    `pseudo_count` pseudo-units: (n g + k base) / (n + k).
    """
    log_e = np.atleast_2d(np.asarray(log_evidence, dtype=np.float64))
    g0 = np.asarray(base, dtype=np.float64)
    r_max = g0.size - 1
    if log_e.shape[1] != g0.size:
        raise TruncationPriorError(f"evidence has {log_e.shape[1]} columns, base {g0.size}")
    n = log_e.shape[0] if log_e.size else 0
    if n == 0:
        return g0 / g0.sum()
    r = np.arange(r_max + 1)
    cut = np.arange(100, r_max, 25) if cutoffs is None else np.asarray(cutoffs)
    cut = np.unique(np.append(np.minimum(cut, r_max), r_max))
    tilt = np.asarray(tilts, dtype=np.float64)
    shapes = g0 * np.exp(-np.outer(tilt, r))  # (T, R+1)
    family = (shapes[:, None, :] * (r <= cut[:, None])).reshape(-1, r_max + 1)  # (T*C, R+1)
    family = family / np.maximum(family.sum(axis=1, keepdims=True), 1e-300)
    kernel = np.exp(log_e - log_e.max(axis=1, keepdims=True))  # (N, R+1)
    with np.errstate(divide="ignore"):
        loglik = np.log(kernel @ family.T).sum(axis=0)
    g = family[int(np.argmax(loglik))]
    return (n * g + pseudo_count * g0 / g0.sum()) / (n + pseudo_count)


@dataclass(frozen=True)
class PredictionLikelihood:
    """p(y | r) of a point model's prediction y: per band of min(r, reach) (width
    `band_width`, the last band everything at or past `reach`), a Gaussian kernel density
    (bandwidth `kernel` cycles) on the held-out predictions of that band, mixed with a uniform
    of weight `outlier` on [0, top] so that one wild prediction cannot veto the truth."""

    band_width: float
    reach: float
    samples: tuple[np.ndarray, ...]
    kernel: float
    outlier: float
    top: float

    @classmethod
    def fit(
        cls,
        pred: npt.ArrayLike,
        rul: npt.ArrayLike,
        reach: float,
        band_width: float = 5.0,
        kernel: float = 2.0,
        outlier: float = 0.02,
        min_rows: int = 30,
        max_rows: int = 2000,
        seed: int = 0,
    ) -> PredictionLikelihood:
        """From held-out predictions (N,) and their uncapped truth (N,). A band with fewer
        than `min_rows` rows borrows the nearest band's; at most `max_rows` per band are kept
        (a fixed random subset)."""
        p = np.asarray(pred, dtype=np.float64)
        b = np.minimum(np.asarray(rul, dtype=np.float64), reach)
        if p.shape != b.shape or p.ndim != 1 or p.size == 0:
            raise TruncationPriorError(
                f"pred and rul must be equal-length non-empty vectors, got {p.shape} / {b.shape}"
            )
        n_bands = int(np.ceil(reach / band_width)) + 1
        band = np.minimum((b // band_width).astype(int), n_bands - 1)
        band[b >= reach] = n_bands - 1
        counts = np.bincount(band, minlength=n_bands)
        full = np.flatnonzero(counts >= min_rows)
        if full.size == 0:
            raise TruncationPriorError(f"no band holds {min_rows} rows; give more predictions")
        rng = np.random.default_rng(seed)
        samples = []
        for k in range(n_bands):
            source = full[np.argmin(np.abs(full - k))]
            values = p[band == source]
            if values.size > max_rows:
                values = rng.choice(values, max_rows, replace=False)
            samples.append(np.sort(values))
        top = max(float(p.max()), 1.0)
        return cls(float(band_width), float(reach), tuple(samples), kernel, outlier, top)

    def band_of(self, r: npt.ArrayLike) -> np.ndarray:
        """Band index of each remaining life r."""
        b = np.minimum(np.asarray(r, dtype=np.float64), self.reach)
        k = np.minimum((b // self.band_width).astype(int), len(self.samples) - 1)
        return np.where(b >= self.reach, len(self.samples) - 1, k)

    def log_pdf(self, pred: npt.ArrayLike, r: npt.ArrayLike) -> np.ndarray:
        """(N, R) log p(pred_i | r_j)."""
        p = np.asarray(pred, dtype=np.float64).ravel()
        per_band = np.stack(
            [
                logsumexp(norm.logpdf((p[:, None] - v) / self.kernel), axis=1)
                - np.log(v.size * self.kernel)
                for v in self.samples
            ],
            axis=1,
        )  # (N, B)
        kde = per_band[:, self.band_of(r)] + np.log1p(-self.outlier)
        return np.logaddexp(kde, np.log(self.outlier / self.top))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready description: per band, the median and 5%/95% of its predictions."""
        return {
            "band_width": self.band_width,
            "reach": self.reach,
            "kernel": self.kernel,
            "outlier": self.outlier,
            "band_median": [float(np.median(v)) for v in self.samples],
            "band_q05": [float(np.quantile(v, 0.05)) for v in self.samples],
            "band_q95": [float(np.quantile(v, 0.95)) for v in self.samples],
        }


@dataclass(frozen=True)
class RulPosterior:
    """p(r | c, y) per unit: `prob` (N, R+1) on the grid r = 0..R (cycles)."""

    prob: np.ndarray

    @property
    def grid(self) -> np.ndarray:
        return np.arange(self.prob.shape[1], dtype=np.float64)

    def mean(self, cap: float | None = None) -> np.ndarray:
        """(N,) posterior mean of r, or of min(r, cap)."""
        r = self.grid if cap is None else np.minimum(self.grid, cap)
        return self.prob @ r

    def excess(self, cap: float) -> np.ndarray:
        """(N,) posterior mean of max(r - cap, 0), the remaining life past the cap."""
        return self.prob @ np.maximum(self.grid - cap, 0.0)

    def quantile(self, q: float) -> np.ndarray:
        """(N,) the smallest r whose posterior CDF reaches q."""
        cdf = np.cumsum(self.prob, axis=1)
        return np.argmax(cdf >= q - 1e-12, axis=1).astype(np.float64)

    def interval(self, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper): the central posterior interval of probability `level`."""
        tail = (1.0 - level) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)


def rul_posterior(prior: npt.ArrayLike, log_evidence: npt.ArrayLike) -> RulPosterior:
    """p(r | evidence_i) proportional to g(r) e_i(r) on r = 0..len(prior)-1; log_evidence
    (N, R+1): e.g. `length_log_likelihood` (the lengths), `PredictionLikelihood.log_pdf` (a
    prediction), or their sum."""
    g = np.asarray(prior, dtype=np.float64)
    log_e = np.asarray(log_evidence, dtype=np.float64)
    if log_e.ndim != 2 or log_e.shape[1] != g.size:
        raise TruncationPriorError(f"evidence must be (N, {g.size}), got {log_e.shape}")
    log_post = log_e + np.log(np.maximum(g, 1e-300))
    prob = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
    return RulPosterior(prob)
