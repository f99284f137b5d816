"""The phm model: multimodal MoE encoder plus fault, RUL and TTF heads; config and checkpoints.

One `ModelConfig` is passed whole to every module. Sizes live in phm/configs/models/*.toml (tiny for
tests, small for CPU, base for GPU, dense-* for the dense ablation); `load_config` reads one.
Fields that depend on the data (input channels, categorical levels, classes, the RUL horizon)
are filled in by training before the model is built, and the checkpoint stores the resolved
config, so `load_checkpoint` rebuilds exactly the model that was saved.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phm.config import from_mapping, read_toml
from phm.errors import ConfigError
from phm.models.checkpoint import FORMAT_VERSION, CheckpointHeader, header_from_state
from phm.models.encoder import Encoder
from phm.models.heads import FaultHead, RulHead, TtfHead, mixture_hazard_logits
from phm.models.moe import MoE, load_cv, sequence_balance_loss


@dataclass
class ModelConfig:
    """Every size and switch of `PhmModel`. Times (horizons) are in the dataset's unit."""

    name: str = "tiny"  # label of this size, kept in checkpoints and logs
    # --- inputs (set from the data by training) ---
    process_channels: int = 0  # C of `process` (B, T, C); 0: no process embedder
    vibration_channels: int = 0  # C of `vibration` (B, S, C, L); 0: no vibration embedder
    vibration_bands: int = 32  # log-spectrum bands per snapshot and channel
    context_cardinalities: tuple[int, ...] = ()  # levels of each column of `context` (B, K)
    max_positions: int = 512  # most time steps (process) or snapshots (vibration) in a window
    # --- trunk ---
    d_model: int = 32  # shared token width
    n_layers: int = 2  # transformer blocks
    n_heads: int = 2  # attention heads; d_model must be a multiple
    attn_window: int = 0  # local attention: positions this far apart don't attend; 0 = global
    dropout: float = 0.0  # dropout on residual branches
    attn_dropout: float = 0.0  # dropout on attention probabilities (2x slower on CPU)
    norm_eps: float = 1e-6  # RMSNorm epsilon
    # --- feed-forward: dense blocks first, then DeepSeekMoE blocks ---
    n_dense_blocks: int = 1  # the first this many blocks use a dense SwiGLU FFN
    dense_hidden: int = 64  # hidden width of the dense FFN
    n_shared_experts: int = 1  # always-on experts (fused into one SwiGLU of n x expert_hidden)
    n_routed_experts: int = 8  # fine-grained routed experts per MoE layer
    n_activated_experts: int = 2  # top-k routed experts per token
    expert_hidden: int = 32  # hidden width of each expert
    n_expert_groups: int = 1  # group-limited routing: expert groups (1: off)
    n_limited_groups: int = 1  # groups a token may route to when n_expert_groups > 1
    router: str = "linear"  # "linear" (D x E) or "lowrank" (D x r, r x E)
    router_rank: int = 8  # r of the low-rank router
    route_scale: float = 1.0  # multiplies the normalised routed gate weights
    bias_update_speed: float = 1e-3  # gamma of the auxiliary-loss-free bias update
    balance_loss_weight: float = 0.0  # weight of the sequence-wise balance loss (0: off)
    # --- heads ---
    n_classes: int = 0  # fault-diagnosis classes incl. healthy; 0: no fault head
    rul_head: str = "hazard"  # "hazard" (discrete-time), "weibull", or "none"
    rul_horizon: float = 125.0  # RUL distribution support/grid end (C-MAPSS: the RUL cap)
    rul_bins: int = 25  # hazard bins (or Weibull integration steps) on [0, rul_horizon]
    point_loss_weight: float = 1.0  # weight of MSE(restricted mean, capped RUL) / horizon^2
    rul_point: str = "mean"  # point RUL: "mean" (restricted, squared-error optimal) or "median"
    interval_level: float = 0.9  # coverage of the RUL interval
    conformal_groups: int = 4  # conformal calibration per band of predicted median (1: pooled)
    n_fault_modes: int = 0  # PHM 2018 TTF modes; 0: no TTF head
    ttf_horizon: float = 3600.0  # TTF horizon; survival past it means "no fault" (NaN)
    ttf_bins: int = 30  # hazard bins of each TTF mode

    def __post_init__(self) -> None:
        self.context_cardinalities = tuple(int(c) for c in self.context_cardinalities)

    @property
    def dense(self) -> bool:
        """True when no block is MoE (the dense ablation)."""
        return self.n_dense_blocks >= self.n_layers


def config_from_dict(values: dict[str, Any], source: str = "<dict>") -> ModelConfig:
    """A ModelConfig from a mapping; unknown keys or wrong types raise ConfigError."""
    return from_mapping(ModelConfig, values, source, "model config")


def load_config(path: str | Path) -> ModelConfig:
    """Read a model config TOML: top-level keys are ModelConfig fields; [train] is ignored here."""
    values = read_toml(path)
    values.pop("train", None)
    return config_from_dict(values, str(path))


class PhmModel(nn.Module):
    """Encoder -> pooled summary (summary token and masked mean) -> heads.

    forward(inputs) returns a dict with, where configured: `fault` (B, n_classes) logits,
    `rul` RUL distribution parameters, `ttf` (B, n_fault_modes, ttf_bins) hazard logits.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        d = 2 * config.d_model
        self.fault = FaultHead(d, config.n_classes) if config.n_classes > 0 else None
        self.rul = RulHead(config, d) if config.rul_head != "none" else None
        self.ttf = TtfHead(config, d) if config.n_fault_modes > 0 else None

    def forward(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        h, mask = self.encoder(inputs)  # (B, N, D), (B, N)
        m = mask[:, 1:, None].to(h.dtype)
        mean = (h[:, 1:] * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, D)
        pooled = torch.cat([h[:, 0], mean], dim=-1).float()  # (B, 2D)
        out: dict[str, Tensor] = {}
        for name in ("fault", "rul", "ttf"):
            head = getattr(self, name)
            if head is not None:
                out[name] = head(pooled)
        return out

    def loss(
        self, out: dict[str, Tensor], targets: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total training loss and its parts (detached, on the device) from the targets present
        (the parts: `loss_parts`)."""
        parts = self.loss_parts(out, targets)
        total = sum(parts.values())
        return total, {k: v.detach() for k, v in parts.items()}

    def loss_parts(self, out: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """The loss terms (with their graphs) whose sum is the training loss: `fault`,
        `rul_nll`, `rul_point`, `ttf_nll`, `balance`, those the heads and targets give.

        targets: `fault` (B,) class ids; `rul_time`, `rul_event` (B,); `ttf_time`, `ttf_event`
        (B, M). The RUL point loss compares the restricted mean with min(time, horizon) on rows
        where that capped value is known (events, or censored at or past the horizon).
        """
        cfg = self.config
        parts: dict[str, Tensor] = {}
        if self.fault is not None and "fault" in targets:
            parts["fault"] = F.cross_entropy(out["fault"], targets["fault"].long())
        if self.rul is not None and "rul_time" in targets:
            t, e = targets["rul_time"].float(), targets["rul_event"].bool()
            parts["rul_nll"] = self.rul.nll(out["rul"], t, e).mean()
            if cfg.point_loss_weight > 0:
                known = (e | (t >= cfg.rul_horizon)).float()
                err = (self.rul.mean(out["rul"]) - t.clamp_max(cfg.rul_horizon)) / cfg.rul_horizon
                mse = (err.pow(2) * known).sum() / known.sum().clamp_min(1.0)
                parts["rul_point"] = cfg.point_loss_weight * mse
        if self.ttf is not None and "ttf_time" in targets:
            parts["ttf_nll"] = self.ttf.nll(out["ttf"], targets["ttf_time"], targets["ttf_event"])
            parts["ttf_nll"] = parts["ttf_nll"].mean()
        if cfg.balance_loss_weight > 0 and self.training:
            parts["balance"] = cfg.balance_loss_weight * self.balance_loss()
        if not parts:
            raise ValueError(f"no target matches a head: got {sorted(targets)}")
        return parts

    def moe_layers(self) -> list[MoE]:
        return [b.ffn for b in self.encoder.blocks if isinstance(b.ffn, MoE)]

    def balance_loss(self) -> Tensor:
        """Mean sequence-wise balance loss over MoE layers, from the last training forward."""
        losses = [sequence_balance_loss(*m.routing) for m in self.moe_layers() if m.routing]
        return torch.stack(losses).mean() if losses else torch.zeros(())

    @torch.no_grad()
    def update_expert_bias(self) -> None:
        """Nudge every MoE layer's balancing bias; call after each optimiser step."""
        for moe in self.moe_layers():
            moe.update_bias(self.config.bias_update_speed)

    def expert_load(self) -> list[np.ndarray]:
        """Per MoE layer, the fraction of routed slots each expert took in the last forward."""
        return [m.last_load.detach().cpu().numpy().copy() for m in self.moe_layers()]

    def expert_load_cv(self) -> list[float]:
        """Per MoE layer, the coefficient of variation of the last forward's expert load."""
        return [load_cv(m.last_load) for m in self.moe_layers()]

    def n_params(self, active: bool = False) -> int:
        """Parameters in total, or active per token (only top-k of the routed experts count)."""
        n = sum(p.numel() for p in self.parameters())
        if active:
            for moe in self.moe_layers():
                per_expert = sum(p[0].numel() for p in moe.experts.parameters())
                unused = moe.experts.n_experts - self.config.n_activated_experts
                n -= unused * per_expert
        return n

    @torch.no_grad()
    def predict_rul(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """point, median, mean, lower, upper (B,) RUL; the interval is conformal-calibrated."""
        if self.rul is None:
            raise ValueError("this model has no RUL head (rul_head = 'none')")
        return self.rul.summary(self(inputs)["rul"])


class PhmEnsemble(PhmModel):
    """A deep ensemble: K `PhmModel`s of one config, trained apart (other seeds, same data).

    `forward` returns the outputs of the equal-weight mixture, in the members' own formats, so
    everything that takes a `PhmModel` (predict, loss, summaries, conformal calibration,
    checkpoints) takes an ensemble: `fault` is the log of the mean class probabilities, `rul`
    and `ttf` the hazard logits whose survival is the mean of the members' survivals.
    The ensemble's heads are copies of the first member's, used for their grids and summaries
    and holding the ensemble's own conformal calibration (their weights are not used).
    """

    def __init__(self, members: Sequence[PhmModel]) -> None:
        nn.Module.__init__(self)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        config = members[0].config
        for i, m in enumerate(members[1:], 1):
            if m.config != config:
                raise ValueError(f"ensemble member {i} has another config than member 0")
        if config.rul_head == "weibull":
            raise ConfigError(
                "an ensemble mixes hazard distributions: rul_head = 'weibull' cannot be "
                "ensembled (a mixture of Weibulls is not a Weibull); use rul_head = 'hazard'"
            )
        self.config = config
        self.members = nn.ModuleList(members)
        self.fault = copy.deepcopy(members[0].fault)
        self.rul = copy.deepcopy(members[0].rul)
        self.ttf = copy.deepcopy(members[0].ttf)
        if self.rul is not None:
            self.rul.conformal_factor.zero_()

    def forward(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        outs = [m(inputs) for m in self.members]
        mixed: dict[str, Tensor] = {}
        if "fault" in outs[0]:
            probs = torch.stack([o["fault"].float().softmax(-1) for o in outs]).mean(0)
            mixed["fault"] = probs.clamp_min(1e-30).log()
        for name in ("rul", "ttf"):
            if name in outs[0]:
                mixed[name] = mixture_hazard_logits(torch.stack([o[name] for o in outs]))
        return mixed

    def moe_layers(self) -> list[MoE]:
        return [layer for m in self.members for layer in m.moe_layers()]

    def n_params(self, active: bool = False) -> int:
        """Summed over the members (each runs on every window)."""
        return sum(m.n_params(active) for m in self.members)


def model_from_state(state: Any, source: str) -> PhmModel:
    """Rebuild the model a checkpoint's state holds (a `PhmEnsemble` when it has members)."""
    if not isinstance(state, dict) or "config" not in state:
        raise ConfigError(f"{source}: not a phm checkpoint (no config inside)")
    config = config_from_dict(state["config"], source)
    n_members = int(state.get("members", 0))
    if n_members:
        model: PhmModel = PhmEnsemble([PhmModel(config) for _ in range(n_members)])
    else:
        model = PhmModel(config)
    model.load_state_dict(state["state_dict"])
    return model.eval()


def save_checkpoint(path: str | Path, model: PhmModel, header: CheckpointHeader) -> None:
    """Write the header (`phm.models.checkpoint`, format FORMAT_VERSION), config, weights and
    buffers (balancing bias, conformal factor); an ensemble also writes its member count.
    Written to a temp name and renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT_VERSION,
        "header": header.to_state(),
        "config": dataclasses.asdict(model.config),
        "state_dict": model.state_dict(),
    }
    if isinstance(model, PhmEnsemble):
        state["members"] = len(model.members)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def checkpoint_from_state(state: Any, source: str) -> tuple[PhmModel, CheckpointHeader]:
    """(model in eval mode, header) of a loaded checkpoint state; a CheckpointFormatError for
    a checkpoint without a header or of another format version."""
    if not isinstance(state, dict) or "config" not in state:
        raise ConfigError(f"{source}: not a phm checkpoint (no config inside)")
    header = header_from_state(state, source)
    return model_from_state(state, source), header


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[PhmModel, CheckpointHeader]:
    """Rebuild the saved model (or ensemble) from its stored config and load its weights
    (eval mode).

    Returns (model, header).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: checkpoint not found") from None
    return checkpoint_from_state(state, str(path))
