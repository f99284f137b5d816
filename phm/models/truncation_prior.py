"""Empirical-Bayes posterior of a unit's remaining life from its observed length and a prediction.

A batch of test units is cut some time before failure. Generative model: each unit's remaining
life r is drawn from a truncation prior g, independently of its life L; the life is drawn from
the training life distribution f conditioned on L > r; the observed length (cycles seen) is
c = L - r. So p(c | r) = f(c + r) / S(r), with S(r) = P(L > r). The observed lengths of a batch
identify g (a deconvolution): `fit_truncation_prior` estimates it by EM on the grid r = 0..R
(the nonparametric MLE), shrunk toward a fallback prior by `pseudo_count` pseudo-units, so a
single unit (or a small batch) leans on the fallback: `uniform_cut_prior`, the r of a uniformly
random cut of a life drawn from f. A point model's prediction y adds the likelihood p(y | r)
(`PredictionLikelihood`, learned on held-out training units), and
p(r | c, y) is proportional to g(r) f(c + r) / S(r) p(y | r) (`rul_posterior`). Nothing here
reads a truth: the batch's lengths and predictions are inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import logsumexp
from scipy.stats import norm


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
    if c.size and np.any(c < 1):
        raise TruncationPriorError("observed lengths must be >= 1 cycle")
    r = np.arange(r_max + 1)
    return life.log_pmf(c[:, None] + r) - life.log_survival(r)


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
    g = g0.copy()
    for _ in range(n_iter):
        joint = loglik + np.log(np.maximum(g, 1e-300))
        post = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
        new = (post.sum(axis=0) + pseudo_count * g0) / (n + pseudo_count)
        done = np.abs(new - g).max() < tol
        g = new
        if done:
            break
    return g


@dataclass(frozen=True)
class PredictionLikelihood:
    """p(y | r) of a capped point model's prediction y: Gaussian around mean(b), width std(b),
    b = min(r, reach), both linear between band centres; mixed with a uniform on [0, cap] of
    weight `outlier` so that one wild prediction cannot veto the truth. `reach` >= `cap` lets
    the bands go past the label cap (the sensors still move a little there)."""

    centers: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    cap: float
    outlier: float
    reach: float

    @classmethod
    def fit(
        cls,
        pred: npt.ArrayLike,
        rul: npt.ArrayLike,
        cap: float,
        band_width: float = 5.0,
        min_rows: int = 30,
        min_std: float = 2.0,
        outlier: float = 0.02,
        reach: float | None = None,
    ) -> PredictionLikelihood:
        """From held-out predictions (N,) and their uncapped truth (N,): per band of
        min(truth, cap) (width `band_width`, the last band exactly the cap) the mean and the
        standard deviation of the predictions; bands with fewer than `min_rows` rows are left
        out (interpolated over). reach None: the cap."""
        reach = cap if reach is None else float(reach)
        if reach < cap:
            raise TruncationPriorError(f"reach must be >= cap {cap}, got {reach}")
        p = np.asarray(pred, dtype=np.float64)
        b = np.minimum(np.asarray(rul, dtype=np.float64), reach)
        if p.shape != b.shape or p.ndim != 1 or p.size == 0:
            raise TruncationPriorError(
                f"pred and rul must be equal-length non-empty vectors, got {p.shape} / {b.shape}"
            )
        edges = np.arange(0.0, reach, band_width)
        band = np.where(b >= reach, edges.size, np.searchsorted(edges, b, side="right") - 1)
        centers, mean, std = [], [], []
        for k in range(edges.size + 1):
            rows = band == k
            if rows.sum() < min_rows:
                continue
            centers.append(reach if k == edges.size else float(b[rows].mean()))
            mean.append(float(p[rows].mean()))
            std.append(max(float(p[rows].std()), min_std))
        if not centers:
            raise TruncationPriorError(f"no band holds {min_rows} rows; give more predictions")
        return cls(np.array(centers), np.array(mean), np.array(std), float(cap), outlier, reach)

    def log_pdf(self, pred: npt.ArrayLike, r: npt.ArrayLike) -> np.ndarray:
        """(N, R) log p(pred_i | r_j)."""
        p = np.asarray(pred, dtype=np.float64).ravel()[:, None]
        b = np.minimum(np.asarray(r, dtype=np.float64), self.reach)
        mu = np.interp(b, self.centers, self.mean)
        sd = np.interp(b, self.centers, self.std)
        gauss = norm.logpdf(p, mu, sd) + np.log1p(-self.outlier)
        return np.logaddexp(gauss, np.log(self.outlier / self.cap))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready description."""
        return {
            "band_centers": self.centers.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "cap": self.cap,
            "outlier": self.outlier,
            "reach": self.reach,
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


def rul_posterior(
    lengths: npt.ArrayLike,
    pred: npt.ArrayLike | None,
    prior: npt.ArrayLike,
    life: LifeDistribution,
    likelihood: PredictionLikelihood | None,
) -> RulPosterior:
    """p(r | c_i, y_i) proportional to g(r) f(c_i + r) / S(r) p(y_i | r) on r = 0..len(prior)-1;
    pred/likelihood None: from the lengths alone."""
    g = np.asarray(prior, dtype=np.float64)
    r_max = g.size - 1
    log_post = length_log_likelihood(lengths, life, r_max) + np.log(np.maximum(g, 1e-300))
    if pred is not None and likelihood is not None:
        log_post = log_post + likelihood.log_pdf(pred, np.arange(r_max + 1))
    prob = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
    return RulPosterior(prob)
