"""A small snapshot encoder pretrained self-supervised, by masked reconstruction, on one asset's
healthy commissioning snapshots: the embedding and reconstruction error the healthy-baseline
scorer (`method = "encoder"`) measures anomalies with.

Input: each vibration snapshot as the encoder's spectral token, the band-pooled log spectrum
of `SpectralTokens.log_bands` (per channel, `bands` equal-width bands), of the waveform divided
by a reference level: the commissioning snapshots' median RMS per channel ("level": a louder
machine reads louder) or the snapshot's own RMS ("shape": blind to the sensor's gain). The
bands are standardised by their commissioning mean and spread.

Pretraining: spans of bands (as `pretrain.token_mask` masks process series) are masked
(set to 0, with a mask indicator beside them), a two-layer MLP encodes the snapshot to
`embed_dim` numbers, a two-layer MLP decodes every band from that; the loss is the MSE over
all bands, masked ones weighing `masked_weight` times more. Fresh masks every step are the
augmentation that lets a few dozen snapshots train it (full batch, AdamW, seeded: the same
snapshots give the same encoder). Scoring feeds the snapshot unmasked.

Why the asset's own commissioning snapshots and no shipped checkpoint: they are the only
vibration that is surely healthy and surely from this machine, sensor and mounting, and a
replayed test rig is then never in the encoder's training data (the fault recordings never;
the healthy one only for its first `snapshots`, as for the statistical baseline).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phm.models.encoder import SpectralTokens
from phm.models.model import ModelConfig

SCALE_FLOOR = 0.05  # least spread of a standardised band (as `pretrain.SCALE_FLOOR`)


@dataclass(frozen=True)
class SnapshotEncoderConfig:
    """Size and pretraining of a `SnapshotEncoder` (stored with it)."""

    channels: int = 1
    bands: int = 64  # band-pooled log spectrum per channel (SpectralTokens.log_bands)
    hidden: int = 32
    embed_dim: int = 4
    mask_ratio: float = 0.3  # share of band spans masked per snapshot and step
    span: int = 4  # bands per masked span
    masked_weight: float = 4.0  # loss weight of a masked band over a visible one
    steps: int = 300  # full-batch AdamW steps
    lr: float = 3e-3
    weight_decay: float = 1e-2
    seed: int = 0


def snapshot_bands(x: np.ndarray, reference: np.ndarray | None, bands: int) -> np.ndarray:
    """Band-pooled log spectra (S, C * bands) of snapshots x (S, C, L), each channel divided by
    `reference` (C,) levels, or with None by the snapshot's own RMS (gain-blind)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    if reference is None:
        level = np.sqrt(np.mean(x**2, axis=-1, keepdims=True))  # (S, C, 1)
    else:
        level = np.asarray(reference, dtype=np.float64)[None, :, None]
    x = x / np.maximum(level, 1e-20)
    tokens = SpectralTokens(ModelConfig(vibration_channels=x.shape[1], vibration_bands=bands))
    with torch.no_grad():
        out = tokens.log_bands(torch.as_tensor(x, dtype=torch.float32)[None])  # (1, S, C*bands)
    return out[0].numpy().astype(np.float64)


def band_mask(shape: tuple[int, int], ratio: float, span: int, gen: torch.Generator) -> Tensor:
    """(N, F) True on masked bands: spans of `span` bands, each masked with probability
    `ratio` (the live path must not import `pretrain`, whose data loading reaches the
    simulator)."""
    n, f = shape
    chosen = torch.rand(n, math.ceil(f / span), generator=gen) < ratio
    return chosen.repeat_interleave(span, dim=1)[:, :f]


class SnapshotEncoder(nn.Module):
    """Standardised band spectra (B, F) and a mask (B, F) -> embedding (B, E) -> spectra (B, F)."""

    def __init__(self, config: SnapshotEncoderConfig) -> None:
        super().__init__()
        self.config = config
        n = config.channels * config.bands
        with torch.random.fork_rng():  # seeded weights, the caller's random state untouched
            torch.manual_seed(config.seed)
            self.encode = nn.Sequential(
                nn.Linear(2 * n, config.hidden), nn.GELU(),
                nn.Linear(config.hidden, config.embed_dim),
            )  # fmt: skip
            self.decode = nn.Sequential(
                nn.Linear(config.embed_dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, n)
            )
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("scale", torch.ones(n))

    def forward(self, bands: Tensor, masked: Tensor) -> tuple[Tensor, Tensor]:
        """-> embedding (B, E), reconstruction of the standardised bands (B, F)."""
        z = (bands - self.mean) / self.scale
        z = torch.where(masked, torch.zeros_like(z), z)
        emb = self.encode(torch.cat([z, masked.float()], dim=-1))
        return emb, self.decode(emb)

    def fit(self, bands: np.ndarray) -> SnapshotEncoder:
        """Pretrain on band spectra (N, F) of healthy snapshots; returns self."""
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed)
        x = torch.as_tensor(bands, dtype=torch.float32)
        self.mean.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp_min(SCALE_FLOOR) if len(x) > 1 else torch.ones(x.shape[1]))
        target = (x - self.mean) / self.scale
        opt = torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.train()
        for _ in range(cfg.steps):
            masked = band_mask(x.shape, cfg.mask_ratio, cfg.span, gen)  # (N, F)
            _, recon = self(x, masked)
            weight = 1.0 + (cfg.masked_weight - 1.0) * masked.float()
            loss = (weight * (recon - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.eval()
        return self

    @torch.no_grad()
    def embed(self, bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (S, E) and reconstruction errors (S,: MSE over standardised bands) of
        band spectra (S, F), fed unmasked."""
        x = torch.as_tensor(bands, dtype=torch.float32)
        emb, recon = self(x, torch.zeros(x.shape, dtype=torch.bool))
        error = ((recon - (x - self.mean) / self.scale) ** 2).mean(-1)
        return emb.numpy().astype(np.float64), error.numpy().astype(np.float64)

    def to_json(self) -> dict[str, Any]:
        """The config and every tensor as nested lists (a few thousand numbers)."""
        return {
            "config": asdict(self.config),
            "state": {k: v.tolist() for k, v in self.state_dict().items()},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SnapshotEncoder:
        model = cls(SnapshotEncoderConfig(**raw["config"]))
        state = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in raw["state"].items()}
        model.load_state_dict(state)
        return model.eval()
