"""Dynamic batching of the monitor's model: the windows of all assets that are due go through
one forward pass instead of one pass each.

A scorer that can batch (`BatchingScorer`: the pump scorer) splits its `score` into
`prepare(asset_id, after)`, the asset's window (a batch of one) read from the lake, and
`finish(window, decoded, row, expert_load)`, the prediction from one row of the decoded
outputs (`finish_batch`: all rows, what can be vectorised over them done once). `score_due`
prepares the due assets one after another and runs the model on the windows gathered so far
when there are `max_batch` of them or the oldest has waited `max_wait_s` (the latency bound:
no window waits longer than that for more assets to fill its batch), and once at the end.
Each row is decoded exactly as a batch of one is, so predictions are those of one-at-a-time
scoring (tests/monitor/test_batching.py).

    t=0     prepare a1 -> [a1]
    t=3ms   prepare a2 -> [a1 a2]
    ...     64 windows, or a1 waited max_wait_s -> one forward pass, finish each row
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from phm.models.moe import MoE, select_experts
from phm.models.onnx_graph import OnnxPredictor
from phm.models.predictor import Decoded, Predictor
from phm.store.state import Prediction


@dataclass(frozen=True)
class BatchPolicy:
    """Most windows per forward pass, and the longest a window waits for more (s)."""

    max_batch: int = 64
    max_wait_s: float = 0.05

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")


DEFAULT_BATCHING = BatchPolicy()  # the monitor's default: `phm monitor --max-batch/--max-wait-ms`


class BatchingScorer(Protocol):
    """What `score_due` needs of a scorer (phm.monitor.pump_scorer.PumpScorer has it)."""

    model: Any

    def prepare(self, asset_id: str, after: float) -> Any: ...

    def finish_batch(
        self, windows: list[Any], out: Decoded, expert_loads: list[list[list[float]]]
    ) -> list[Prediction]: ...

    def finish(
        self, window: Any, out: Decoded, row: int, expert_load: list[list[float]]
    ) -> Prediction: ...


def can_batch(scorer: object) -> bool:
    return all(hasattr(scorer, m) for m in ("prepare", "finish", "finish_batch"))


def score_due(
    scorer: BatchingScorer,
    asset_ids: Iterable[str],
    after: dict[str, float],
    policy: BatchPolicy,
) -> dict[str, Prediction | Exception | None]:
    """Each asset's prediction (None: nothing new, or no model), or the exception that its
    window or its batch raised (the caller logs it and goes on with the other assets)."""
    out: dict[str, Prediction | Exception | None] = {}
    pending: list[Any] = []
    oldest = 0.0
    for asset_id in asset_ids:
        try:
            window = scorer.prepare(asset_id, after.get(asset_id, -np.inf))
        except Exception as exc:  # one asset's bad data must not stop the others
            out[asset_id] = exc
            continue
        if window is None:
            out[asset_id] = None
            continue
        if not pending:
            oldest = time.monotonic()
        pending.append(window)
        if len(pending) >= policy.max_batch or time.monotonic() - oldest >= policy.max_wait_s:
            out.update(_run(scorer, pending))
            pending = []
    if pending:
        out.update(_run(scorer, pending))
    return out


def _run(scorer: BatchingScorer, windows: list[Any]) -> dict[str, Prediction | Exception]:
    """One forward pass over `windows`, then each row's prediction."""
    try:
        inputs = {k: np.concatenate([w.inputs[k] for w in windows]) for k in windows[0].inputs}
        decoded, loads = predict_rows(scorer.model, inputs)
    except Exception as exc:
        return {w.asset_id: exc for w in windows}
    try:
        return dict(
            zip(
                [w.asset_id for w in windows],
                scorer.finish_batch(windows, decoded, loads),
                strict=True,
            )
        )
    except Exception:  # find the row that fails: the others still get their predictions
        pass
    out: dict[str, Prediction | Exception] = {}
    for i, w in enumerate(windows):
        try:
            out[w.asset_id] = scorer.finish(w, decoded, i, loads[i])
        except Exception as exc:
            out[w.asset_id] = exc
    return out


@torch.no_grad()
def predict_rows(
    predictor: Predictor, inputs: dict[str, np.ndarray]
) -> tuple[Decoded, list[list[list[float]]]]:
    """Decoded outputs of a batch and each row's expert load per MoE layer (what
    `Predictor.expert_load` gives after a batch of one). An ONNX predictor's graph gives the
    rows' loads; a torch model's are taken from its routers by hooks."""
    n = len(next(iter(inputs.values())))
    if isinstance(predictor, OnnxPredictor):
        decoded = predictor.predict(inputs)
        loads = predictor.last_load
        return decoded, [[] for _ in range(n)] if loads is None else loads.tolist()
    moes = predictor.model.moe_layers()
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [m.register_forward_hook(_capture(m, captured)) for m in moes]
    try:
        decoded = predictor.predict(inputs)
    finally:
        for h in hooks:
            h.remove()
    per_layer = [row_load(m, s, mask) for m, (s, mask) in zip(moes, captured, strict=True)]
    return decoded, [[layer[i].tolist() for layer in per_layer] for i in range(n)]


def _capture(moe: MoE, into: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    def hook(module: MoE, args: tuple, output: torch.Tensor) -> None:
        x, mask = args[0], args[1] if len(args) > 1 else None
        b, t, _ = x.shape
        keep = torch.ones(b, t, dtype=torch.bool) if mask is None else mask.reshape(b, t)
        into.append((module.gate(x.reshape(b * t, -1)).view(b, t, -1), keep))

    return hook


def row_load(moe: MoE, scores: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """(B, E) each row's share of routed slots per expert, from router scores (B, T, E) and
    the real-token mask (B, T), as `MoE` routes them."""
    cfg = moe.config
    b, t, e = scores.shape
    _, indices = select_experts(
        scores.reshape(b * t, e),
        moe.gate.bias,
        cfg.n_activated_experts,
        cfg.n_expert_groups,
        cfg.n_limited_groups,
        cfg.route_scale,
    )
    chosen = torch.zeros(b * t, e).scatter_(1, indices, 1.0) * mask.reshape(-1, 1).float()
    counts = chosen.view(b, t, e).sum(1)  # (B, E)
    return (counts / counts.sum(-1, keepdim=True).clamp_min(1.0)).numpy()


__all__ = [
    "DEFAULT_BATCHING",
    "BatchPolicy",
    "BatchingScorer",
    "can_batch",
    "predict_rows",
    "row_load",
    "score_due",
]
