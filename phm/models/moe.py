"""DeepSeekMoE feed-forward layer: shared experts plus fine-grained routed experts.

The router (`Gate`) only produces sigmoid affinities; `select_experts` picks the top-k experts
per token, adding the load-balancing bias for the choice only, and takes the gate weights from
the unbiased affinities, normalised to sum to 1. The bias is an fp32 buffer nudged after each
optimiser step (`MoE.update_bias`: bias += gamma * sign(mean load - load)), so balancing needs
no auxiliary loss; `sequence_balance_loss` is the optional small sequence-wise loss, a pure
function the model applies outside the block. Dispatch groups tokens by expert (argsort of
expert ids), runs every expert at once as a batched matmul and scatters back with index_add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from phm.models.model import ModelConfig


class Expert(nn.Module):
    """A SwiGLU feed-forward network: w2(silu(w1 x) * w3 x). Used for shared and dense FFNs."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:  # (..., D) -> (..., D)
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class RoutedExperts(nn.Module):
    """E SwiGLU experts with stacked weights, applied to tokens already grouped by expert."""

    def __init__(self, n_experts: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.n_experts = n_experts
        # nn.Linear's default init: uniform within +-1/sqrt(fan_in)
        self.w1 = nn.Parameter(torch.empty(n_experts, dim, hidden).uniform_(-1, 1) * dim**-0.5)
        self.w3 = nn.Parameter(torch.empty(n_experts, dim, hidden).uniform_(-1, 1) * dim**-0.5)
        self.w2 = nn.Parameter(torch.empty(n_experts, hidden, dim).uniform_(-1, 1) * hidden**-0.5)

    def forward(self, x: Tensor) -> Tensor:  # (E, C, D) -> (E, C, D), C tokens per expert
        return torch.bmm(F.silu(torch.bmm(x, self.w1)) * torch.bmm(x, self.w3), self.w2)

    def expert(self, e: int, x: Tensor) -> Tensor:  # (M, D) -> (M, D), one expert, for tests
        return (F.silu(x @ self.w1[e]) * (x @ self.w3[e])) @ self.w2[e]


class Gate(nn.Module):
    """Router: sigmoid affinity of each token to each routed expert (scores only, fp32).

    `config.router`: "linear" (one D x E map) or "lowrank" (D x r then r x E). Holds the
    load-balancing `bias` (E,) as an fp32 buffer; `select_experts` is where it is used.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d, e = config.d_model, config.n_routed_experts
        if config.router == "linear":
            self.proj: nn.Module = nn.Linear(d, e, bias=False)
        elif config.router == "lowrank":
            r = config.router_rank
            self.proj = nn.Sequential(nn.Linear(d, r, bias=False), nn.Linear(r, e, bias=False))
        else:
            raise ValueError(f"router must be 'linear' or 'lowrank', got {config.router!r}")
        self.register_buffer("bias", torch.zeros(e, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:  # (M, D) -> (M, E)
        return torch.sigmoid(self.proj(x).float())


def select_experts(
    scores: Tensor,
    bias: Tensor,
    top_k: int,
    n_groups: int = 1,
    top_groups: int = 1,
    route_scale: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Top-k experts per token: (weights (M, k), indices (M, k)) from scores (M, E).

    The bias only shifts the choice; weights are the unbiased scores of the chosen experts,
    normalised to sum to 1, times `route_scale`. With n_groups > 1, only the `top_groups` groups
    with the best sum of their two best biased scores stay eligible (others get -inf).
    """
    choice = scores.detach() + bias  # (M, E)
    if n_groups > 1:
        m, e = choice.shape
        grouped = choice.view(m, n_groups, e // n_groups)  # (M, G, E/G)
        group_score = grouped.topk(min(2, e // n_groups), dim=-1).values.sum(-1)  # (M, G)
        keep = torch.zeros_like(group_score, dtype=torch.bool)
        keep.scatter_(1, group_score.topk(top_groups, dim=-1).indices, True)
        choice = grouped.masked_fill(~keep[..., None], float("-inf")).view(m, e)
    indices = choice.topk(top_k, dim=-1).indices  # (M, k)
    weights = scores.gather(-1, indices)  # (M, k) unbiased affinities
    weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-20)
    return weights * route_scale, indices


def grouped_dispatch(x: Tensor, weights: Tensor, indices: Tensor, experts: RoutedExperts) -> Tensor:
    """Sum over each token's chosen experts of weight * expert(token), tokens grouped by expert.

    x (M, D), weights and indices (M, k) -> (M, D). Tokens are sorted by expert id, packed into
    an (E, C, D) tensor (C = the busiest expert's token count), run as one batched matmul and
    added back to their rows with index_add; no Python loop over tokens or experts.
    """
    m, d = x.shape
    k = indices.shape[1]
    flat = indices.reshape(-1)  # (M*k,) expert of each (token, slot)
    order = flat.argsort(stable=True)  # slots grouped by expert
    expert_of = flat[order]  # (M*k,)
    token_of = order // k  # (M*k,) source row of each grouped slot
    counts = torch.bincount(flat, minlength=experts.n_experts)  # (E,)
    starts = counts.cumsum(0) - counts
    rank = torch.arange(m * k, device=x.device) - starts[expert_of]  # position within expert
    capacity = int(counts.max()) if m > 0 else 0
    grouped = x.new_zeros(experts.n_experts, capacity, d)  # (E, C, D)
    grouped[expert_of, rank] = x[token_of]
    out = experts(grouped)  # (E, C, D)
    y = out[expert_of, rank] * weights.reshape(-1)[order, None].to(out.dtype)  # (M*k, D)
    return torch.zeros_like(x).index_add_(0, token_of, y.to(x.dtype))


def sequence_balance_loss(scores: Tensor, indices: Tensor, mask: Tensor | None = None) -> Tensor:
    """DeepSeek-V3 sequence-wise balance loss: mean over sequences of sum_i f_i * P_i.

    scores (B, T, E) sigmoid affinities, indices (B, T, k) chosen experts, mask (B, T) True on
    real tokens. f_i = E / (k T) * tokens choosing i; P_i = mean over tokens of the normalised
    affinity to i. Equals 1 when the load is uniform; multiply by a small weight.
    """
    b, t, e = scores.shape
    k = indices.shape[-1]
    m = torch.ones(b, t, device=scores.device) if mask is None else mask.float()
    n = m.sum(1, keepdim=True).clamp_min(1.0)  # (B, 1)
    chosen = torch.zeros(b, t, e, device=scores.device).scatter_(-1, indices, 1.0)
    f = (chosen * m[..., None]).sum(1) * e / (k * n)  # (B, E)
    p = (scores / scores.sum(-1, keepdim=True) * m[..., None]).sum(1) / n  # (B, E)
    return (f.detach() * p).sum(-1).mean()


class MoE(nn.Module):
    """Shared experts (always on) plus top-k of `n_routed_experts` fine-grained experts.

    Padded tokens (mask False) are neither routed nor counted. After each forward,
    `last_load` holds the fraction of routed slots per expert; in training the counts also
    accumulate until `update_bias` consumes them.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.gate = Gate(config)
        self.experts = RoutedExperts(config.n_routed_experts, config.d_model, config.expert_hidden)
        self.shared = (
            Expert(config.d_model, config.n_shared_experts * config.expert_hidden)
            if config.n_shared_experts > 0
            else None
        )
        e = config.n_routed_experts
        self.register_buffer("load_counts", torch.zeros(e), persistent=False)
        self.register_buffer("last_load", torch.full((e,), 1.0 / e), persistent=False)
        self.routing: tuple[Tensor, Tensor, Tensor] | None = None  # for the balance loss

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # (B, T, D), (B, T)
        b, t, d = x.shape
        cfg = self.config
        flat = x.reshape(b * t, d)  # (B*T, D)
        keep = torch.ones(b * t, dtype=torch.bool, device=x.device) if mask is None else mask
        keep = keep.reshape(b * t)
        scores = self.gate(flat)  # (B*T, E)
        weights, indices = select_experts(
            scores,
            self.gate.bias,
            cfg.n_activated_experts,
            cfg.n_expert_groups,
            cfg.n_limited_groups,
            cfg.route_scale,
        )
        rows = keep.nonzero().squeeze(1)  # (M,) real tokens only
        routed = grouped_dispatch(flat[rows], weights[rows], indices[rows], self.experts)
        y = torch.zeros_like(flat).index_copy_(0, rows, routed.to(flat.dtype))
        if self.shared is not None:
            y = y + self.shared(flat)
        self._record(indices[rows])
        if self.training and cfg.balance_loss_weight > 0:
            self.routing = (scores.view(b, t, -1), indices.view(b, t, -1), keep.view(b, t))
        return y.view(b, t, d)

    @torch.no_grad()
    def _record(self, indices: Tensor) -> None:
        counts = torch.bincount(indices.reshape(-1), minlength=self.config.n_routed_experts)
        self.last_load.copy_(counts.float() / counts.sum().clamp_min(1))
        if self.training:
            self.load_counts += counts.float()

    @torch.no_grad()
    def update_bias(self, gamma: float) -> None:
        """bias += gamma * sign(mean load - load) over the tokens since the last update."""
        load = self.load_counts  # all zero (no tokens since): sign(0) = 0, no change
        self.gate.bias += gamma * torch.sign(load.mean() - load)
        load.zero_()


def load_cv(load: Tensor) -> float:
    """Coefficient of variation (std / mean) of per-expert load; 0 when perfectly even."""
    load = load.float()
    return float(load.std(unbiased=False) / load.mean().clamp_min(1e-12))
