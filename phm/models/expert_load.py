"""Expert load per operating condition: do a model's MoE experts specialise by condition?

`expert_load_by_condition` runs the model over windows whose every time step carries a
condition id (C-MAPSS: `phm.models.windows.cmapss_token_conditions`) and counts, per MoE layer,
which routed experts each condition's tokens chose. The choice is recomputed from the gate's
scores and balancing bias with `select_experts`, exactly as the layer routes. Only the
`process` tokens count (the summary and context tokens have no cycle, padding is never routed).

`condition_information` condenses one table into the mutual information between condition and
expert choice, in bits: 0 when every condition uses the experts alike, log2(K) at most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from phm.models.data import WindowSet
from phm.models.model import PhmEnsemble, PhmModel
from phm.models.moe import MoE, select_experts


@dataclass(frozen=True)
class LayerLoad:
    """One MoE layer's routing counts by condition.

    member: ensemble member (0 for a single model); layer: index among that model's MoE layers;
    counts: (K, E) routed slots of condition k's tokens sent to expert e (top_k per token).
    """

    member: int
    layer: int
    counts: np.ndarray
    top_k: int

    @property
    def fractions(self) -> np.ndarray:
        """(K, E) each condition's share of its routed slots per expert (rows sum to 1)."""
        total = self.counts.sum(axis=1, keepdims=True)
        return self.counts / np.maximum(total, 1)

    def to_dict(self) -> dict[str, object]:
        return {
            "member": self.member,
            "layer": self.layer,
            "fractions": np.round(self.fractions, 4).tolist(),
            "tokens_per_condition": (self.counts.sum(axis=1) // self.top_k).tolist(),
            "condition_information_bits": condition_information(self.counts),
        }


def condition_information(counts: np.ndarray) -> float:
    """Mutual information (bits) between condition (rows) and chosen expert (columns) of a
    (K, E) count table; 0 for an empty table."""
    p = np.asarray(counts, dtype=np.float64)
    if p.sum() <= 0:
        return 0.0
    p = p / p.sum()
    pk, pe = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log2(p[nz] / (pk @ pe)[nz])).sum())


@torch.no_grad()
def expert_load_by_condition(
    model: PhmModel,
    windows: WindowSet,
    token_condition: np.ndarray,
    n_conditions: int,
    device: str | torch.device = "cpu",
    batch_size: int = 1024,
) -> list[LayerLoad]:
    """Per MoE layer (of every ensemble member), routed slots per (condition, expert).

    windows: N windows with a `process` input of T steps; token_condition: (N, T) condition id
    of each step, -1 where padded. Returns [] for a dense model.
    """
    members = list(model.members) if isinstance(model, PhmEnsemble) else [model]
    if len(token_condition) != len(windows):
        raise ValueError(
            f"token_condition has {len(token_condition)} rows for {len(windows)} windows"
        )
    layers = [(i, j, moe) for i, m in enumerate(members) for j, moe in enumerate(m.moe_layers())]
    if not layers:
        return []
    n_experts = layers[0][2].config.n_routed_experts
    counts = {(i, j): np.zeros((n_conditions, n_experts), dtype=np.int64) for i, j, _ in layers}
    captured: dict[tuple[int, int], Tensor] = {}
    hooks = [
        moe.gate.register_forward_hook(_capture(captured, (i, j), moe)) for i, j, moe in layers
    ]
    model.eval()
    device = torch.device(device)
    data = windows.to(device)
    n_context = int(windows.inputs["context"].shape[1]) if "context" in windows.inputs else 0
    try:
        for start in range(0, len(windows), batch_size):
            idx = torch.arange(start, min(len(windows), start + batch_size), device=device)
            inputs, _ = data.batch(idx)
            captured.clear()
            model(inputs)
            cond = token_condition[start : start + len(idx)]  # (B, T)
            b = len(cond)
            lead = np.full((b, 1 + n_context), -1, dtype=np.int64)  # summary, context tokens
            per_token = np.concatenate([lead, cond], axis=1).reshape(-1)  # (B*N,)
            real = per_token >= 0
            for key, chosen in captured.items():
                ids = chosen.cpu().numpy()[real]  # (M, k) experts of the real process tokens
                rows = np.repeat(per_token[real], ids.shape[1])
                np.add.at(counts[key], (rows, ids.reshape(-1)), 1)
    finally:
        for h in hooks:
            h.remove()
    top_k = layers[0][2].config.n_activated_experts
    return [LayerLoad(i, j, counts[(i, j)], top_k) for i, j, _ in layers]


def _capture(
    store: dict[tuple[int, int], Tensor], key: tuple[int, int], moe: MoE
) -> Callable[..., None]:
    cfg = moe.config

    def hook(_module: torch.nn.Module, _args: object, scores: Tensor) -> None:
        _, indices = select_experts(
            scores,
            moe.gate.bias,
            cfg.n_activated_experts,
            cfg.n_expert_groups,
            cfg.n_limited_groups,
            cfg.route_scale,
        )
        store[key] = indices

    return hook
