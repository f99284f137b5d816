"""Self-supervised pretraining of the encoder by masked reconstruction, over several datasets.

Tokens of a window (process time steps, vibration snapshots) are masked at random: a learned
mask embedding (plus the token's modality and position embeddings) replaces them, about
`mask_ratio` of each window's real tokens, in contiguous spans of `span` steps for process
series (single snapshots for vibration). A light linear decoder per dataset reconstructs the
masked tokens' standardised inputs: the process values, and the band-pooled log spectra of
vibration snapshots (`SpectralTokens.log_bands`); the loss is the MSE over masked tokens only.

The transformer trunk (blocks and final norm, named as in `Encoder`) is shared; each source
(a dataset, or a C-MAPSS subset: "cmapss-FD002") keeps its own `ModalityEmbedders` and decoders,
since channel counts differ. Sources enter through the same `DATASETS` functions as training,
with fit and validation windows (training assets only; no labels are read; never test windows).

The pretrained checkpoint (format `PRETRAIN_FORMAT`) stores the trunk config, the trunk tensors
and each source's embedder tensors; `load_pretrained` initialises a `PhmModel` from it
(`[train] init`, `phm train --init`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.data import TrainConfig, WindowSet
from phm.models.encoder import Block, ModalityEmbedders, RMSNorm, attention_mask
from phm.models.model import ModelConfig, PhmModel, config_from_dict

PRETRAIN_FORMAT = "phm-pretrain-1"
SCALE_FLOOR = 0.05  # least scale of a reconstruction target (inputs are z-scored or log spectra)


@dataclass
class PretrainConfig:
    """Settings of `pretrain` (flags of `phm pretrain`)."""

    mask_ratio: float = 0.5  # share of real tokens masked per window
    span: int = 5  # process series: masked spans of this many steps
    epochs: int = 10  # passes over every source's windows
    batch_size: int = 128  # windows per step (one source per step)
    lr: float = 1e-3  # peak learning rate (AdamW, warmup then cosine)
    weight_decay: float = 0.05
    warmup_steps: int = 50
    grad_clip: float = 1.0
    max_windows: int = 20_000  # most windows kept per source (a seeded random subset)
    eval_windows: int = 1024  # validation windows per source for the held-out masked loss


def pretrain_source(header: CheckpointHeader) -> str:
    """The source name a model's embedders are stored under: the dataset, with the C-MAPSS
    subset ("cmapss-FD001")."""
    return f"{header.dataset}-{header.subset}" if header.subset else header.dataset


@dataclass
class Source:
    """One dataset's unlabelled windows and its data-dependent model config."""

    name: str
    config: ModelConfig
    train: dict[str, np.ndarray]  # model inputs (and masks) of the training windows
    val: dict[str, np.ndarray]  # inputs of held-out windows (for the held-out masked loss)


def source_from_windows(
    name: str, config: ModelConfig, fit: WindowSet, val: WindowSet, max_windows: int, seed: int
) -> Source:
    """A `Source` from prepared windows: the fit windows (at most `max_windows`, seeded) train,
    the validation windows measure the held-out masked loss."""
    rng = np.random.default_rng(seed)
    keep = np.arange(len(fit))
    if len(keep) > max_windows:
        keep = np.sort(rng.choice(len(keep), max_windows, replace=False))
    return Source(name, config, {k: v[keep] for k, v in fit.inputs.items()}, dict(val.inputs))


PRETRAIN_DATASETS: tuple[str, ...] = ("cmapss", "cwru", "femto", "phm2018", "plant")


def load_sources(
    datasets: list[str],
    config: ModelConfig,
    tcfg: TrainConfig,
    data: Path | None = None,
    subsets: tuple[str, ...] = ("FD001", "FD002", "FD003"),
    max_windows: int = 20_000,
    seed: int = 0,
    log: Any = print,
) -> list[Source]:
    """The sources of `datasets` (names of `DATASETS`; C-MAPSS once per subset), each through
    its training `DATASETS` function with its default options (data from `data` or
    $PHM_DATA_DIR; the plant simulated without test pumps). A dataset whose files are missing
    is skipped with a printed note."""
    from phm.errors import PhmError
    from phm.models.prepare import DATASETS, OPTIONS, PlantOptions

    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ConfigError(
            f"--datasets: unknown {', '.join(unknown)}; expected some of {', '.join(DATASETS)}"
        )
    jobs: list[tuple[str, Any]] = []
    for name in datasets:
        if name == "cmapss":
            jobs += [(f"cmapss-{s}", OPTIONS["cmapss"](data=data, subset=s)) for s in subsets]
        elif name == "plant":
            jobs.append(("plant", PlantOptions(test_pumps=0)))
        elif name == "phm2018":  # its loader takes the dataset folder itself, not the parent
            base = data if data is not None else os.environ.get("PHM_DATA_DIR")
            root = Path(base) if base is not None else None
            if root is not None and (root / "phm2018").is_dir():
                root = root / "phm2018"
            if root is None or not list(Path(root).glob("train/*_DC_train.csv")):
                log(f"skip phm2018: no training files (train/*_DC_train.csv) under {root}")
                continue
            jobs.append((name, OPTIONS[name](data=root)))  # type: ignore[call-arg]
        else:
            jobs.append((name, OPTIONS[name](data=data)))  # type: ignore[call-arg]
    sources = []
    for name, options in jobs:
        t0 = time.perf_counter()
        try:
            prep = DATASETS[options.dataset](options, tcfg, seed)
        except (PhmError, FileNotFoundError) as exc:
            log(f"skip {name}: {exc}")
            continue
        cfg = dataclasses.replace(config, **prep.config_updates)
        sources.append(source_from_windows(name, cfg, prep.fit, prep.val, max_windows, seed))
        n = len(next(iter(sources[-1].train.values())))
        log(f"{name}: {n} windows ({len(prep.val)} held out), {time.perf_counter() - t0:.1f} s")
    return sources


class SourceHead(nn.Module):
    """A source's embedders, its decoders (process values, vibration log bands) and the
    standardisation of their targets (buffers)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.embed = ModalityEmbedders(config)
        c_proc = config.process_channels
        c_vib = config.vibration_channels * config.vibration_bands
        self.process = nn.Linear(d, c_proc) if c_proc else None
        self.vibration = nn.Linear(d, c_vib) if config.vibration_channels else None
        self.register_buffer("process_mean", torch.zeros(c_proc))
        self.register_buffer("process_scale", torch.ones(c_proc))
        self.register_buffer("vibration_mean", torch.zeros(c_vib))
        self.register_buffer("vibration_scale", torch.ones(c_vib))

    @torch.no_grad()
    def fit_scales(self, inputs: dict[str, np.ndarray], n: int = 2048, seed: int = 0) -> None:
        """Target means and scales from the real tokens of n windows drawn at random (seeded)
        from the training windows; scales are floored at SCALE_FLOOR (a channel constant in
        the sample, such as a flag, must not blow up the loss elsewhere)."""
        total = len(next(iter(inputs.values())))
        pick = np.sort(np.random.default_rng(seed).permutation(total)[:n])
        sample = {k: v[pick] for k, v in inputs.items()}
        if self.process is not None and "process" in sample:
            x = torch.as_tensor(sample["process"]).float()  # (B, T, C)
            rows = x[_mask_of(sample, "process", x.shape[:2])]
            self.process_mean.copy_(rows.mean(0))
            self.process_scale.copy_(rows.std(0).clamp_min(SCALE_FLOOR))
        if self.vibration is not None and "vibration" in sample:
            x = torch.as_tensor(sample["vibration"]).float()
            real = _mask_of(sample, "vibration", x.shape[:2])
            bands = self.embed.vibration.log_bands(x)[real]  # type: ignore[union-attr]
            self.vibration_mean.copy_(bands.mean(0))
            self.vibration_scale.copy_(bands.std(0).clamp_min(SCALE_FLOOR))


def _mask_of(inputs: dict[str, np.ndarray], name: str, shape: Any) -> Tensor:
    if f"{name}_mask" in inputs:
        return torch.as_tensor(inputs[f"{name}_mask"]).bool()
    return torch.ones(tuple(shape), dtype=torch.bool)


def token_mask(
    real: Tensor, ratio: float, span: int, generator: torch.Generator | None = None
) -> Tensor:
    """(B, T) True on masked tokens: spans of `span` tokens, each masked with probability
    `ratio`, only where `real`; every window with a real token gets at least one masked."""
    b, t = real.shape
    n_spans = math.ceil(t / span)
    chosen = torch.rand(b, n_spans, generator=generator) < ratio  # (B, n_spans)
    masked = chosen.repeat_interleave(span, dim=1)[:, :t].to(real.device) & real
    # a window with no masked token: mask its last real token (the newest step)
    empty = ~masked.any(1) & real.any(1)
    if empty.any():
        last = t - 1 - real.flip(1).float().argmax(1)  # (B,)
        masked[empty, last[empty]] = True
    return masked


class MaskedPretrainer(nn.Module):
    """Shared trunk (`blocks`, `norm`: the names of `Encoder`) and one `SourceHead` per source.

    forward(source, inputs) -> masked-reconstruction MSE (scalar, mean over modalities).
    """

    def __init__(self, config: ModelConfig, sources: dict[str, ModelConfig]) -> None:
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.mask_token = nn.Parameter(torch.randn(config.d_model) * 0.02)
        self.heads = nn.ModuleDict({name: SourceHead(cfg) for name, cfg in sources.items()})

    def forward(
        self,
        source: str,
        inputs: dict[str, Tensor],
        ratio: float,
        span: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        head: SourceHead = self.heads[source]  # type: ignore[assignment]
        tokens, mask, pos = head.embed(inputs)  # (B, N, D), (B, N), (B, N)
        masked = torch.zeros_like(mask)
        start = 1 + (inputs["context"].shape[1] if inputs.get("context") is not None else 0)
        segments: list[tuple[str, int, int]] = []  # (modality, modality id, first token)
        for i, name in enumerate(("process", "vibration"), start=1):
            if inputs.get(name) is None:
                continue
            t = inputs[name].shape[1]
            real = mask[:, start : start + t]
            masked[:, start : start + t] = token_mask(
                real.cpu(), ratio, span if name == "process" else 1, generator
            ).to(mask.device)
            segments.append((name, i, start))
            start += t
        # the mask embedding keeps the token's modality and time position
        modality = torch.zeros_like(pos)
        for name, i, first in segments:
            modality[:, first : first + inputs[name].shape[1]] = i
        fill = (
            self.mask_token + head.embed.modality(modality) + head.embed.position(pos.clamp_min(0))
        )
        x = torch.where(masked[..., None], fill.to(tokens.dtype), tokens)  # (B, N, D)
        attn = attention_mask(mask, pos, self.config.attn_window)
        for block in self.blocks:
            x = block(x, attn, mask)
        h = self.norm(x)
        losses = []
        for name, _, first in segments:
            t = inputs[name].shape[1]
            sel = masked[:, first : first + t]  # (B, T)
            if name == "process":
                target = (inputs["process"].float() - head.process_mean) / head.process_scale
                decoder = head.process
            else:
                bands = head.embed.vibration.log_bands(inputs["vibration"])  # type: ignore[union-attr]
                target = (bands - head.vibration_mean) / head.vibration_scale
                decoder = head.vibration
            pred = decoder(h[:, first : first + t].float())  # type: ignore[misc]  # (B, T, C)
            err = (pred - target).pow(2).mean(-1)  # (B, T)
            losses.append((err * sel).sum() / sel.sum().clamp_min(1))
        return torch.stack(losses).mean()

    def update_expert_bias(self) -> None:
        from phm.models.moe import MoE

        for block in self.blocks:
            if isinstance(block.ffn, MoE):
                block.ffn.update_bias(self.config.bias_update_speed)


@dataclass
class PretrainResult:
    """Per-epoch history (train loss, held-out masked loss per source) and timings."""

    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _batches(inputs: dict[str, np.ndarray], idx: np.ndarray, device: torch.device) -> dict:
    return {k: torch.from_numpy(np.ascontiguousarray(v[idx])).to(device) for k, v in inputs.items()}


@torch.no_grad()
def held_out_loss(
    model: MaskedPretrainer, source: Source, pcfg: PretrainConfig, device: torch.device, seed: int
) -> float:
    """Masked-reconstruction MSE of `source.val` (first `eval_windows`), with a fixed mask."""
    model.eval()
    n = min(len(next(iter(source.val.values()))), pcfg.eval_windows)
    if n == 0:
        return math.nan
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for s in range(0, n, pcfg.batch_size):
        idx = np.arange(s, min(n, s + pcfg.batch_size))
        loss = model(
            source.name, _batches(source.val, idx, device), pcfg.mask_ratio, pcfg.span, gen
        )
        total += float(loss) * len(idx)
    return total / n


def pretrain(
    sources: list[Source],
    config: ModelConfig,
    pcfg: PretrainConfig,
    device: str | torch.device = "cpu",
    seed: int = 0,
    log: Any = print,
) -> tuple[MaskedPretrainer, PretrainResult]:
    """Masked-reconstruction pretraining over `sources` (each step one source's batch, the
    order shuffled per epoch); returns the model and the history."""
    from phm.models.train import lr_factor, seed_everything

    if not sources:
        raise ConfigError("no dataset to pretrain on (all were skipped)")
    if not 0.0 < pcfg.mask_ratio < 1.0:
        raise ConfigError(f"mask_ratio must be in (0, 1), got {pcfg.mask_ratio}")
    seed_everything(seed)
    device = torch.device(device)
    model = MaskedPretrainer(config, {s.name: s.config for s in sources})
    for s in sources:
        model.heads[s.name].fit_scales(s.train, seed=seed)  # type: ignore[operator]
    model.to(device)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    sizes = {s.name: len(next(iter(s.train.values()))) for s in sources}
    steps_per_epoch = sum(math.ceil(n / pcfg.batch_size) for n in sizes.values())
    total = pcfg.epochs * steps_per_epoch
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": pcfg.weight_decay}, {"params": no_decay}],
        lr=pcfg.lr,
        betas=(0.9, 0.95),
        weight_decay=0.0,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, pcfg.warmup_steps, total, 0.05)
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    result = PretrainResult()
    by_name = {s.name: s for s in sources}
    start = time.perf_counter()
    record: dict[str, Any] = {"epoch": -1}
    for s in sources:
        record[f"val_{s.name}"] = held_out_loss(model, s, pcfg, device, seed)
    result.history.append(record)
    for epoch in range(pcfg.epochs):
        model.train()
        plan = [
            (name, chunk)
            for name, n in sizes.items()
            for chunk in np.array_split(rng.permutation(n), math.ceil(n / pcfg.batch_size))
        ]
        order = rng.permutation(len(plan))
        losses = []
        for k in order:
            name, idx = plan[k]
            with autocast:
                loss = model(
                    name,
                    _batches(by_name[name].train, idx, device),
                    pcfg.mask_ratio,
                    pcfg.span,
                    gen,
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), pcfg.grad_clip)
            opt.step()
            sched.step()
            model.update_expert_bias()
            losses.append(loss.detach())
        record = {"epoch": epoch, "loss": float(torch.stack(losses).float().mean())}
        for s in sources:
            record[f"val_{s.name}"] = held_out_loss(model, s, pcfg, device, seed)
        result.history.append(record)
        log(
            " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
            )
        )
    result.seconds = time.perf_counter() - start
    return model, result


def save_pretrained(path: str | Path, model: MaskedPretrainer, extra: dict[str, Any]) -> None:
    """Write the trunk config and tensors and each source's embedders and config
    (`PRETRAIN_FORMAT`); `extra` (JSON-like provenance: datasets, history) rides along."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    trunk = {k: v for k, v in state.items() if k.startswith(("blocks.", "norm."))}
    embedders = {
        name: {k: v for k, v in head.embed.state_dict().items()}  # type: ignore[union-attr]
        for name, head in model.heads.items()
    }
    sources = {
        name: _plain(dataclasses.asdict(head.config))  # type: ignore[union-attr]
        for name, head in model.heads.items()
    }
    out = {
        "format": PRETRAIN_FORMAT,
        "config": _plain(dataclasses.asdict(model.config)),
        "trunk": trunk,
        "embedders": embedders,
        "sources": sources,
        "extra": extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(out, tmp)
    os.replace(tmp, path)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@dataclass
class InitReport:
    """What `load_pretrained` loaded into a model and what it left at random init."""

    path: str
    source: str
    loaded: list[str]
    skipped: list[str]  # "name: reason"
    random: list[str]  # encoder tensors no pretrained tensor initialised

    def describe(self) -> str:
        lines = [
            f"init from {self.path} (source {self.source}): loaded {len(self.loaded)} tensors, "
            f"skipped {len(self.skipped)}, {len(self.random)} encoder tensors left at random init"
        ]
        lines += [f"  skipped {s}" for s in self.skipped]
        if self.random:
            lines.append(f"  random init: {', '.join(self.random)}")
        return "\n".join(lines)


def read_pretrained(path: str | Path) -> dict[str, Any]:
    """The state of a `phm pretrain` checkpoint; ConfigError when missing or of another kind."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"[train] init: {path}: pretrained checkpoint not found") from None
    except Exception as exc:  # a corrupt or non-torch file
        raise ConfigError(f"[train] init: {path}: not a torch checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != PRETRAIN_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ConfigError(
            f"[train] init: {path}: not a pretrained checkpoint of `phm pretrain` "
            f"(format {got!r}, expected {PRETRAIN_FORMAT!r})"
        )
    return state


@torch.no_grad()
def load_pretrained(model: PhmModel, path: str | Path, source: str) -> InitReport:
    """Initialise `model.encoder` from a pretrained checkpoint: trunk tensors whose names and
    shapes match, and the embedders stored for `source` where their shapes match.

    Raises ConfigError if the file is not a pretrained checkpoint or no weight matrix matches.
    """
    state = read_pretrained(path)
    config_from_dict(state["config"], str(path))  # a readable trunk config, else ConfigError
    target = model.encoder.state_dict()
    loaded, skipped = [], []
    offered: dict[str, Tensor] = dict(state["trunk"])
    embedders = state["embedders"]
    if source in embedders:
        offered |= {f"embed.{k}": v for k, v in embedders[source].items()}
    else:
        skipped.append(f"embed.*: no embedders for {source} (has {', '.join(sorted(embedders))})")
    for name, value in offered.items():
        if name not in target:
            skipped.append(f"{name}: not in this model")
        elif target[name].shape != value.shape:
            skipped.append(
                f"{name}: shape {tuple(value.shape)} != model's {tuple(target[name].shape)}"
            )
        else:
            target[name].copy_(value.to(target[name].dtype))
            loaded.append(name)
    # biases and buffers alone (attention gate, expert balance) are no init: a matrix must match
    matrices = {name for name, p in model.encoder.named_parameters() if p.dim() >= 2}
    if not matrices.intersection(loaded):
        raise ConfigError(
            f"[train] init: {path}: no pretrained tensor matches this model "
            f"(source {source}; d_model, n_layers or expert sizes differ?)"
        )
    random = [k for k in target if k not in set(loaded)]
    return InitReport(str(path), source, loaded, skipped, random)
