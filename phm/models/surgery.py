"""Gradient surgery for multitask training: PCGrad (Yu et al. 2020, "Gradient Surgery for
Multi-Task Learning").

Each task's gradient on the shared parameters is projected onto the normal plane of every other
task's gradient it conflicts with (negative dot product), the others taken in a random order,
always against their original (unprojected) gradients; the projected gradients are summed. Heads
get their own task's plain gradient. `[train] gradient_surgery` picks "sum" (plain sum of the
losses) or "pcgrad"; `fit` calls `surgery_backward` for the latter.

Task groups of `PhmModel.loss_parts`: fault (`fault`), rul (`rul_nll` + `rul_point`), ttf
(`ttf_nll`); any other part (the expert balance loss, a distillation term) joins the shared sum
unprojected.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

SURGERIES: tuple[str, ...] = ("sum", "pcgrad")

TASK_GROUPS: dict[str, tuple[str, ...]] = {
    "fault": ("fault",),
    "rul": ("rul_nll", "rul_point"),
    "ttf": ("ttf_nll",),
}


def task_losses(parts: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
    """(loss per task group present, the sum of the other parts or None)."""
    tasks: dict[str, Tensor] = {}
    grouped: set[str] = set()
    for task, names in TASK_GROUPS.items():
        present = [parts[n] for n in names if n in parts]
        if present:
            tasks[task] = sum(present[1:], present[0])
            grouped.update(names)
    rest = [v for k, v in parts.items() if k not in grouped]
    return tasks, (sum(rest[1:], rest[0]) if rest else None)


def pcgrad(grads: list[Tensor], generator: torch.Generator | None = None) -> Tensor:
    """Sum of the PCGrad-projected task gradients, each (P,) flat; returns (P,).

    g_i <- g_i - (g_i . g_j) / |g_j|^2 g_j for every other task j (random order) with
    g_i . g_j < 0, where g_i is the running projection and g_j the original gradient.
    """
    out = torch.zeros_like(grads[0])
    for i, g in enumerate(grads):
        g = g.clone()
        order = torch.randperm(len(grads), generator=generator).tolist()
        for j in order:
            if j == i:
                continue
            dot = torch.dot(g, grads[j])
            if dot < 0:
                g = g - dot / grads[j].pow(2).sum().clamp_min(1e-20) * grads[j]
        out += g
    return out


def shared_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters every task shares: the encoder's (embedders and trunk)."""
    return [p for p in model.encoder.parameters() if p.requires_grad]  # type: ignore[union-attr]


def surgery_backward(
    model: nn.Module,
    parts: dict[str, Tensor],
    generator: torch.Generator | None = None,
) -> Tensor:
    """Set `.grad` of every parameter as PCGrad would and return the total loss (detached).

    With one task group or none this is the plain backward of the summed loss.
    """
    tasks, rest = task_losses(parts)
    total = torch.stack([v.float() for v in parts.values()]).sum()
    if len(tasks) < 2:
        total.backward()
        return total.detach()
    shared = shared_parameters(model)
    shared_ids = {id(p) for p in shared}
    heads = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
    losses = [*tasks.values(), *([rest] if rest is not None else [])]
    flat: list[Tensor] = []  # per loss, its gradient on the shared parameters (P,)
    head_grads: list[Tensor | None] = [None] * len(heads)
    for k, loss in enumerate(losses):
        grads = torch.autograd.grad(
            loss, shared + heads, retain_graph=k < len(losses) - 1, allow_unused=True
        )
        flat.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(shared, grads[: len(shared)], strict=True)
                ]
            )
        )
        for i, g in enumerate(grads[len(shared) :]):
            if g is not None:
                head_grads[i] = g if head_grads[i] is None else head_grads[i] + g
    combined = pcgrad(flat[: len(tasks)], generator)
    if rest is not None:  # the balance loss and other terms join unprojected
        combined = combined + flat[-1]
    offset = 0
    for p in shared:
        p.grad = combined[offset : offset + p.numel()].view_as(p).to(p.dtype)
        offset += p.numel()
    for p, g in zip(heads, head_grads, strict=True):
        p.grad = g
    return total.detach()
