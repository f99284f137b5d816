"""Multimodal encoder: one embedder per modality into a shared width, then transformer blocks.

Inputs are a dict; any modality may be absent and then contributes no tokens:
  process    (B, T, C) float  multichannel series at the process rate; `process_mask` (B, T)
  vibration  (B, S, C, L) float waveform snapshots; one spectral token per snapshot;
             `vibration_mask` (B, S)
  context    (B, K) int       categoricals (operating condition, recipe, tool type)
Masks are True on real entries (padding False). The token sequence is
[summary, context..., process..., vibration...]; process and vibration tokens carry a modality
embedding and a time-position embedding (their index in the window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phm.models.moe import Expert, MoE

if TYPE_CHECKING:
    from phm.models.model import ModelConfig

MODALITIES: tuple[str, ...] = ("context", "process", "vibration")


class RMSNorm(nn.Module):
    """x / rms(x) * weight, computed in fp32."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight).type_as(x)


class SpectralTokens(nn.Module):
    """Waveform snapshots -> one token each: log-magnitude rFFT pooled into bands, projected.

    (B, S, C, L) -> (B, S, D). Bands are equal-width groups of rFFT bins (adaptive average
    pooling), so any snapshot length works; the DC bin is dropped.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.bands = config.vibration_bands
        n_in = config.vibration_channels * config.vibration_bands
        self.norm = RMSNorm(n_in, config.norm_eps)
        self.proj = nn.Linear(n_in, config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.norm(self.log_bands(x)))  # (B, S, D)

    def log_bands(self, x: Tensor) -> Tensor:
        """(B, S, C, L) waveforms -> (B, S, C * bands) band-pooled log-magnitude spectra."""
        b, s, c, n = x.shape
        x = x.float() - x.float().mean(-1, keepdim=True)
        mag = torch.fft.rfft(x, dim=-1).abs()[..., 1:]  # (B, S, C, L//2)
        logmag = torch.log1p(mag / n**0.5)
        bands = F.adaptive_avg_pool1d(logmag.reshape(b * s * c, 1, -1), self.bands)
        return bands.reshape(b, s, c * self.bands)


class ModalityEmbedders(nn.Module):
    """Tokens and their mask and positions from a dict of modalities (see module docstring)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.summary = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.modality = nn.Embedding(len(MODALITIES), d)
        self.position = nn.Embedding(config.max_positions, d)
        self.process = nn.Linear(config.process_channels, d) if config.process_channels else None
        self.vibration = SpectralTokens(config) if config.vibration_channels else None
        cards = list(config.context_cardinalities)
        self.context = nn.Embedding(sum(cards), d) if cards else None
        offsets = torch.tensor([0, *cards[:-1]], dtype=torch.long).cumsum(0) if cards else None
        self.register_buffer("context_offsets", offsets, persistent=False)
        self.max_positions = config.max_positions

    def forward(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """-> tokens (B, N, D), mask (B, N) True on real tokens, positions (B, N) (-1: global)."""
        parts: list[tuple[Tensor, Tensor, Tensor]] = []
        b = _batch_size(inputs)
        device = self.summary.device
        if inputs.get("context") is not None:
            if self.context is None:
                raise ValueError("got `context` but the config has no context_cardinalities")
            tok = self.context(inputs["context"].long() + self.context_offsets)  # (B, K, D)
            parts.append(self._tag(tok, 0, None, timed=False))
        for i, name in enumerate(("process", "vibration"), start=1):
            x = inputs.get(name)
            if x is None:
                continue
            embed = getattr(self, name)
            if embed is None:
                raise ValueError(f"got `{name}` but the config has 0 {name}_channels")
            tok = embed(x.float())  # (B, T, D)
            if tok.shape[1] > self.max_positions:
                raise ValueError(
                    f"{name} has {tok.shape[1]} steps, more than max_positions {self.max_positions}"
                )
            parts.append(self._tag(tok, i, inputs.get(f"{name}_mask"), timed=True))
        if not parts:
            raise ValueError(f"no modality given: expected one of {MODALITIES}")
        summary = self.summary.expand(b, 1, -1)
        ones = torch.ones(b, 1, dtype=torch.bool, device=device)
        tokens = torch.cat([summary, *(p[0] for p in parts)], dim=1)  # (B, N, D)
        mask = torch.cat([ones, *(p[1] for p in parts)], dim=1)  # (B, N)
        pos = torch.cat([-ones.long(), *(p[2] for p in parts)], dim=1)  # (B, N)
        return tokens, mask, pos

    def _tag(
        self, tok: Tensor, modality: int, mask: Tensor | None, timed: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        b, t, _ = tok.shape
        tok = tok + self.modality.weight[modality]
        if not timed:  # context: no time position, attends globally
            pos = torch.full((b, t), -1, dtype=torch.long, device=tok.device)
        else:
            pos = torch.arange(t, device=tok.device).expand(b, t)
            tok = tok + self.position(pos)
        m = torch.ones(b, t, dtype=torch.bool, device=tok.device) if mask is None else mask.bool()
        return tok, m, pos


def attention_mask(mask: Tensor, positions: Tensor, window: int) -> Tensor:
    """(B, 1, N, N) bool, True where query i may attend key j.

    Keys must be real tokens; with window > 0, tokens whose time positions are `window` or
    more apart do not attend (global tokens, position -1, attend and are attended by all).
    Every token may attend itself, so no row is empty.
    """
    allowed = mask[:, None, :].expand(-1, mask.shape[1], -1)  # (B, N, N)
    if window > 0:
        pi, pj = positions[:, :, None], positions[:, None, :]
        near = ((pi - pj).abs() < window) | (pi < 0) | (pj < 0)
        allowed = allowed & near
    # float eye, then bool: onnxruntime has no boolean EyeLike (phm.models.onnx_graph)
    eye = torch.eye(mask.shape[1], device=mask.device).bool()
    return (allowed | eye)[:, None]


class GatedAttention(nn.Module):
    """Multi-head self-attention whose head outputs are scaled by a learned sigmoid gate.

    gate (B, N, H) = sigmoid(W_g x): one gate per head and token, applied to the output of
    scaled_dot_product_attention before the output projection.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        assert config.d_model % config.n_heads == 0, "d_model must be a multiple of n_heads"
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.gate = nn.Linear(config.d_model, config.n_heads)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.attn_dropout = config.attn_dropout

    def forward(self, x: Tensor, attn_mask: Tensor) -> Tensor:
        b, n, d = x.shape
        h = self.n_heads
        q, k, v = self.qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)  # (B, H, N, hd)
        # Dropout on attention probabilities forces PyTorch's slower unfused attention on CPU,
        # so it has its own switch, off in the CPU config.
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        g = torch.sigmoid(self.gate(x)).transpose(1, 2)[..., None]  # (B, H, N, 1)
        y = (y * g).transpose(1, 2).reshape(b, n, d)  # (B, N, D)
        return self.proj(y)


class Block(nn.Module):
    """x + attn(norm(x)), then x + ffn(norm(x)); the FFN is dense or a DeepSeekMoE layer."""

    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.norm1 = RMSNorm(config.d_model, config.norm_eps)
        self.attn = GatedAttention(config)
        self.norm2 = RMSNorm(config.d_model, config.norm_eps)
        self.is_moe = layer >= config.n_dense_blocks
        self.ffn = MoE(config) if self.is_moe else Expert(config.d_model, config.dense_hidden)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, attn_mask: Tensor, mask: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), attn_mask))
        h = self.norm2(x)
        f = self.ffn(h, mask) if self.is_moe else self.ffn(h)
        return x + self.drop(f)


class Encoder(nn.Module):
    """Modalities -> contextual tokens (B, N, D) and their mask (B, N)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = ModalityEmbedders(config)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)

    def forward(self, inputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        x, mask, pos = self.embed(inputs)  # (B, N, D), (B, N), (B, N)
        attn = attention_mask(mask, pos, self.config.attn_window)  # (B, 1, N, N)
        for block in self.blocks:
            x = block(x, attn, mask)
        return self.norm(x), mask


def _batch_size(inputs: dict[str, Tensor]) -> int:
    for name in MODALITIES:
        if inputs.get(name) is not None:
            return inputs[name].shape[0]  # no int(): an ONNX trace keeps the batch dynamic
    raise ValueError(f"no modality given: expected one of {MODALITIES}")
