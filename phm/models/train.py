"""Fit the MoE model on a dataset and save a checkpoint: `train_and_save(TrainOptions(...))`,
called by `phm train` (phm.models.cli) and `phm demo`.

A dataset enters through one function that turns its runs into `WindowSet`s (model inputs per
modality, targets, the asset of each window) and returns them as `Prepared`: fit, validation
and test sets, the data-dependent config fields, and the preprocessing the checkpoint must keep.
Validation is a split of the training assets (never rows, never test data); it drives early
stopping and the conformal calibration of the RUL interval. Test windows are scored only after
the checkpoint is written, for the report.

Training: AdamW, linear warmup then cosine decay, gradient clipping, bf16 autocast on CUDA,
seeds for python, numpy and torch, and a progress bar with the loss and the expert-load
coefficient of variation (CV, 0 = perfectly balanced).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from phm.errors import ConfigError
from phm.models.data import Prepared, TrainConfig, WindowSet, load_train_config
from phm.models.heads import grouped_conformal_factors, hazard_survival, survival_quantile
from phm.models.model import ModelConfig, PhmEnsemble, PhmModel, load_config, save_checkpoint
from phm.models.prepare import DATASETS, DatasetOptions
from phm.models.pretrain import load_pretrained, pretrain_source
from phm.models.surgery import SURGERIES, surgery_backward
from phm.resources import resource_path

# --- training ----------------------------------------------------------------------------------

PROGRESS_EVERY = 25  # steps between progress-bar updates (each reads the device: a sync)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code may use the global generator
    torch.manual_seed(seed)


def torch_runtime(device: str, threads: int = 0) -> None:
    """Check that `device` exists and set torch's CPU threads (`threads` > 0; 0 keeps torch's)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available")
    if threads > 0:
        torch.set_num_threads(threads)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1 over `warmup` steps, then cosine decay to `min_ratio` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: PhmModel, tcfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on tensors of 2+ dims only (not norms, biases, the gate bias)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": tcfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=tcfg.lr, betas=(0.9, 0.95))


class WeightAverage:
    """Exponential moving average of a model's parameters (buffers are left as they are).

    After each optimiser step `update` moves the average by (1 - decay) towards the weights;
    `swapped_in` evaluates with the average and restores the trained weights afterwards.
    """

    def __init__(self, model: PhmModel, decay: float) -> None:
        self.decay = decay
        self.params = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def update(self, model: PhmModel) -> None:
        torch._foreach_lerp_(self.params, [p.detach() for p in model.parameters()], 1 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: PhmModel) -> None:
        for p, a in zip(model.parameters(), self.params, strict=True):
            p.copy_(a)

    @contextlib.contextmanager
    def swapped_in(self, model: PhmModel) -> Iterator[None]:
        trained = [p.detach().clone() for p in model.parameters()]
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, t in zip(model.parameters(), trained, strict=True):
                    p.copy_(t)


@dataclass
class FitResult:
    """History per epoch, the best epoch (restored into the model) and training throughput.

    For an ensemble (`train_prepared` with `members` > 1): `members` holds each member's
    result; history and best epoch are the first member's, `best_score` the ensemble's own
    validation score, throughput and time over all members.
    """

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    windows_per_s: float
    train_seconds: float
    members: list[FitResult] = dataclasses.field(default_factory=list)


def fit(
    model: PhmModel,
    train: WindowSet,
    val: WindowSet | None,
    tcfg: TrainConfig,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
    augment: Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]] | None = None,
    extra_loss: Callable[[dict[str, Tensor], dict[str, Tensor]], Tensor] | None = None,
) -> FitResult:
    """Train `model` in place on `train`; early-stop on `val` (lower score is better).

    The score is the validation RMSE of the point RUL against min(rul_true, horizon) when
    the model has only a RUL head, else the validation loss. The best epoch's weights are
    restored.
    Without `val`, all `tcfg.epochs` run and the last weights stay. With `tcfg.ema_decay` > 0
    the model is evaluated, kept and returned with the moving average of its weights.
    `augment` (optional) transforms each training batch's inputs (seeded from `seed`);
    validation is never augmented. `extra_loss(inputs, out)` (optional, e.g. distillation) is
    added to each training batch's loss (not to the validation score).
    `tcfg.gradient_surgery` = "pcgrad" projects conflicting task gradients on the encoder
    (phm.models.surgery); "sum" backpropagates the plain sum.
    """
    if tcfg.gradient_surgery not in SURGERIES:
        raise ConfigError(
            f"[train] gradient_surgery must be one of {', '.join(SURGERIES)}, "
            f"got {tcfg.gradient_surgery!r}"
        )
    seed_everything(seed)
    device = torch.device(device)
    model.to(device)
    data = train.to(device)
    n = len(train)
    steps_per_epoch = max(1, math.ceil(n / tcfg.batch_size))
    total = tcfg.epochs * steps_per_epoch
    opt = make_optimizer(model, tcfg)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, tcfg.warmup_steps, total, tcfg.min_lr_ratio)
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    aug_gen = torch.Generator(device="cpu").manual_seed(seed + 7919)
    surgery_gen = torch.Generator(device="cpu").manual_seed(seed + 104729)
    ema = WeightAverage(model, tcfg.ema_decay) if tcfg.ema_decay > 0 else None
    history: list[dict[str, float]] = []
    best, best_epoch, best_state, stale = math.inf, -1, None, 0
    train_time, seen = 0.0, 0
    bar = tqdm(
        total=total,
        desc=f"train {model.config.name}",
        unit="step",
        disable=not progress,
        mininterval=1.0,
    )
    for epoch in range(tcfg.epochs):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen).to(device)
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * tcfg.batch_size : (i + 1) * tcfg.batch_size]
            inputs, targets = data.batch(idx)
            if augment is not None:
                inputs = augment(inputs, aug_gen)
            with autocast:
                out = model(inputs)
            parts = model.loss_parts(out, targets)
            if extra_loss is not None:
                parts["extra"] = extra_loss(inputs, out)
            opt.zero_grad(set_to_none=True)
            if tcfg.gradient_surgery == "pcgrad":
                loss = surgery_backward(model, parts, surgery_gen)
            else:
                loss = sum(parts.values())
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            opt.step()
            sched.step()
            model.update_expert_bias()
            if ema is not None:
                ema.update(model)
            losses.append(loss.detach())  # kept on the device: no sync per step
            seen += len(idx)
            if i % PROGRESS_EVERY == 0 and progress:
                cv = model.expert_load_cv()
                bar.set_postfix(
                    epoch=epoch,
                    loss=f"{float(losses[-1]):.3f}",
                    cv=f"{np.mean(cv or [0]):.2f}",
                    refresh=False,
                )
            bar.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - t0
        mean_loss = float(torch.stack(losses).float().mean())
        record = {"epoch": epoch, "loss": mean_loss, "lr": sched.get_last_lr()[0]}
        record["load_cv"] = float(np.mean(model.expert_load_cv() or [0.0]))
        if val is not None and len(val) > 0:
            with ema.swapped_in(model) if ema is not None else contextlib.nullcontext():
                record |= evaluate(model, val, tcfg, device)
                # RUL-only models stop on the RMSE they are judged by; with a fault head too,
                # on the loss of both heads, or the RUL head would decide alone (stop_score)
                score = stop_score(record, model)
                if score < best:
                    best, best_epoch, stale = score, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
            bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}", val=f"{score:.3f}")
        history.append(record)
        if val is not None and stale >= tcfg.patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history) - 1
        if ema is not None:
            ema.copy_to(model)
    return FitResult(history, best_epoch, best, seen / max(train_time, 1e-9), train_time)


@torch.no_grad()
def predict(
    model: PhmModel, windows: WindowSet, device: str | torch.device = "cpu", batch_size: int = 1024
) -> dict[str, np.ndarray]:
    """Head outputs for every window: RUL summary (point, median, mean, lower, upper),
    `fault_prob` (N, n_classes), `ttf` (N, M) with NaN for no fault ahead, `ttf_no_fault`
    (N, M) the chance of no fault within the horizon, `ttf_median` (N, M) the median TTF,
    `ttf_logits` (N, M, J) the hazard logits."""
    model.eval()
    device = torch.device(device)
    data = windows.to(device)
    n = len(windows)
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size), device=device)
        inputs, _ = data.batch(idx)
        out = model(inputs)
        parts: dict[str, Tensor] = {}
        if model.rul is not None:
            parts |= model.rul.summary(out["rul"])
        if model.fault is not None:
            parts["fault_prob"] = out["fault"].float().softmax(-1)
        if model.ttf is not None:
            parts["ttf"] = model.ttf.predict(out["ttf"])
            parts["ttf_no_fault"] = model.ttf.no_fault_prob(out["ttf"])
            parts["ttf_logits"] = out["ttf"]  # (N, M, J) hazard logits, for decisions
            parts["ttf_median"] = survival_quantile(
                hazard_survival(out["ttf"]), model.ttf.grid, 0.5
            )
        for k, v in parts.items():
            chunks.setdefault(k, []).append(v.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in chunks.items()}


@torch.no_grad()
def evaluate(
    model: PhmModel, windows: WindowSet, tcfg: TrainConfig, device: str | torch.device
) -> dict[str, float]:
    """Validation loss, and RMSE of the point RUL against the capped truth (RUL head)."""
    model.eval()
    data = windows.to(device)
    n, losses = len(windows), []
    for start in range(0, n, tcfg.eval_batch_size):
        idx = torch.arange(start, min(n, start + tcfg.eval_batch_size), device=device)
        inputs, targets = data.batch(idx)
        loss, _ = model.loss(model(inputs), targets)
        losses.append(float(loss) * len(idx))
    result = {"val_loss": sum(losses) / n}
    if model.rul is not None and "rul_true" in windows.targets:
        pred = predict(model, windows, device, tcfg.eval_batch_size)
        # NaN truth (no failure ahead, e.g. a healthy asset) is "beyond the horizon"
        truth = np.fmin(windows.targets["rul_true"], model.config.rul_horizon)
        result["val_rmse"] = float(np.sqrt(np.mean((pred["point"] - truth) ** 2)))
    if model.fault is not None and "fault" in windows.targets:
        pred = predict(model, windows, device, tcfg.eval_batch_size)
        result["val_accuracy"] = float(
            np.mean(pred["fault_prob"].argmax(1) == windows.targets["fault"])
        )
    return result


def calibrate_interval(
    model: PhmModel, val: WindowSet, device: str | torch.device = "cpu"
) -> list[float]:
    """Group-conditional split-conformal calibration of the RUL interval on `val`.

    Truth: `rul_true`; the finite-sample correction counts validation assets (`val.groups`),
    whose windows are not exchangeable with each other. Sets the model's `conformal_factor`
    and `conformal_edges` (stored in the checkpoint) and returns the factors.
    """
    if model.rul is None:
        raise ValueError("the model has no RUL head to calibrate")
    model.rul.conformal_factor.zero_()
    pred = predict(model, val, device)
    known = ~np.isnan(val.targets["rul_true"])  # NaN: no failure ahead, nothing to cover
    if not known.any():
        warnings.warn(
            "no validation window has a known RUL: the interval stays uncalibrated", stacklevel=2
        )
        return model.rul.conformal_factor.tolist()
    factors, edges = grouped_conformal_factors(
        pred["lower"][known],
        pred["median"][known],
        pred["upper"][known],
        val.targets["rul_true"][known],
        model.config.interval_level,
        model.rul.min_width,
        model.config.conformal_groups,
        units=val.groups[known],
    )
    model.rul.conformal_factor.copy_(torch.as_tensor(factors))
    model.rul.conformal_edges.copy_(torch.as_tensor(edges))
    return [float(f) for f in factors]


def fault_report(pred: dict[str, np.ndarray], truth: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of the most probable class."""
    from phm.metrics import accuracy, macro_f1

    label = pred["fault_prob"].argmax(1)
    return {"accuracy": accuracy(truth, label), "macro_f1": macro_f1(truth, label), "n": len(truth)}


def rul_report(pred: dict[str, np.ndarray], truth: np.ndarray, cap: float) -> dict[str, float]:
    """RMSE and NASA score of the point RUL clipped to [0, cap], and interval coverage, over
    the rows whose truth is known (NaN truth: no failure ahead)."""
    from phm.metrics import nasa_score, rmse

    known = ~np.isnan(truth)
    pred, truth = {k: v[known] for k, v in pred.items()}, truth[known]
    if not known.any():
        return {"n": 0}
    point = np.clip(pred["point"], 0.0, cap)
    covered = (truth >= pred["lower"]) & (truth <= pred["upper"])
    finite = np.isfinite(pred["upper"])
    width = np.where(finite, pred["upper"] - pred["lower"], np.nan)
    return {
        "rmse": rmse(truth, point),
        "nasa_score": nasa_score(truth, point),
        "coverage": float(covered.mean()),
        "interval_width_median": float(np.nanmedian(width)) if finite.any() else math.inf,
        "open_ended_share": float(1.0 - finite.mean()),
        "n": len(truth),
    }


def member_seed(seed: int, member: int) -> int:
    """Seed of an ensemble's member: member 0 keeps `seed` (a 1-member run is a plain run)."""
    return seed + 1000 * member


def stop_score(record: dict[str, float], model: PhmModel) -> float:
    """The validation score `fit` stops on: RMSE for RUL-only models, else the loss."""
    only_rul = model.fault is None and "val_rmse" in record
    return record["val_rmse"] if only_rul else record["val_loss"]


def train_prepared(
    prep: Prepared,
    config: ModelConfig,
    tcfg: TrainConfig,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> tuple[PhmModel, FitResult]:
    """Build the model of `config` with the data's fields, train it with early stopping on
    `prep.val`, and calibrate its RUL interval there when it has a RUL head.

    With `tcfg.members` > 1, train that many models (seeds from `member_seed`) on the same
    split and return their `PhmEnsemble`, calibrated as a whole.
    """
    if tcfg.members < 1:
        raise ConfigError(f"[train] members must be at least 1, got {tcfg.members}")
    config = dataclasses.replace(config, **prep.config_updates)
    models, results = [], []
    for k in range(tcfg.members):
        s = member_seed(seed, k)
        seed_everything(s)
        model = PhmModel(config)
        if tcfg.init:
            print(load_pretrained(model, tcfg.init, pretrain_source(prep.header)).describe())
        results.append(fit(model, prep.fit, prep.val, tcfg, device, s, progress, prep.augment))
        models.append(model)
    if tcfg.members == 1:
        model, result = models[0], results[0]
    else:
        model = PhmEnsemble(models).to(device)
        seconds = sum(r.train_seconds for r in results)
        seen = sum(r.windows_per_s * r.train_seconds for r in results)
        score = math.nan
        if prep.val is not None and len(prep.val) > 0:
            score = stop_score(evaluate(model, prep.val, tcfg, device), model)
        first = results[0]
        result = FitResult(
            first.history, first.best_epoch, score, seen / max(seconds, 1e-9), seconds, results
        )
    if model.rul is not None:
        calibrate_interval(model, prep.val, device)
    return model, result


# --- train and save ---------------------------------------------------------------------------

DEFAULT_MODEL_CONFIG = resource_path("models/small.toml")  # the shipped small size


@dataclass(frozen=True)
class TrainOptions:
    """What `train_and_save` trains: the dataset (its options dataclass names it), the model
    TOML (its [train] table unless overridden), where the checkpoint goes, and how to run."""

    data: DatasetOptions
    out: Path
    config: Path = DEFAULT_MODEL_CONFIG
    device: str = "cpu"
    seed: int = 0  # model, data order and split seed
    epochs: int | None = None  # overrides [train] epochs
    members: int | None = None  # overrides [train] members (deep ensemble)
    init: str | None = None  # overrides [train] init (a `phm pretrain` checkpoint)
    metrics_out: Path | None = None  # write the metrics JSON here too
    threads: int = 0  # CPU threads for torch (0: torch's default)
    test: bool = True  # score the test windows after saving


def train_and_save(options: TrainOptions) -> Path:
    """Prepare data, train with early stopping, calibrate, save; then score the test windows.

    Prints the model size, progress and the metrics JSON; returns the checkpoint path.
    """
    import json

    torch_runtime(options.device, options.threads)
    cfg = load_config(options.config)
    tcfg = load_train_config(options.config)
    if options.epochs is not None:
        tcfg = dataclasses.replace(tcfg, epochs=options.epochs)
    if options.members is not None:
        tcfg = dataclasses.replace(tcfg, members=options.members)
    if options.init is not None:
        tcfg = dataclasses.replace(tcfg, init=str(options.init))
    t_start = time.perf_counter()
    prep = DATASETS[options.data.dataset](options.data, tcfg, options.seed)
    cfg = dataclasses.replace(cfg, **prep.config_updates)
    one = PhmModel(cfg)
    members = f"{tcfg.members} members of " if tcfg.members > 1 else ""
    print(
        f"{members}{cfg.name}: {one.n_params():,} parameters, {one.n_params(active=True):,} "
        f"active per token; {len(prep.fit)} fit / {len(prep.val)} validation windows"
    )
    model, result = train_prepared(prep, cfg, tcfg, options.device, options.seed)
    metrics: dict[str, Any] = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_windows_per_s": result.windows_per_s,
        "train_seconds": result.train_seconds,
    }
    if result.members:
        metrics["members"] = [
            {"best_epoch": r.best_epoch, "epochs_run": len(r.history), "val_score": r.best_score}
            for r in result.members
        ]
    if model.rul is not None:
        metrics["conformal_factors"] = model.rul.conformal_factor.tolist()
        val_pred = predict(model, prep.val, options.device)
        metrics["val"] = rul_report(val_pred, prep.val.targets["rul_true"], cfg.rul_horizon)
        capped = np.fmin(prep.val.targets["rul_true"], cfg.rul_horizon)
        for name in ("point", "median", "mean"):
            err = np.clip(val_pred[name], 0, cfg.rul_horizon) - capped
            metrics["val"][f"rmse_capped_{name}"] = float(np.sqrt(np.mean(err**2)))
    if model.fault is not None:
        metrics.setdefault("val", {})["fault"] = fault_report(
            predict(model, prep.val, options.device), prep.val.targets["fault"]
        )
    metrics["load_cv_per_layer"] = model.expert_load_cv()
    training = prep.extra | {
        "train_config": dataclasses.asdict(tcfg),
        "seed": options.seed,
        "metrics": json.loads(json.dumps(metrics)),
        "history": result.history,
        "members_history": [r.history for r in result.members],
    }
    save_checkpoint(options.out, model, dataclasses.replace(prep.header, training=training))
    metrics["wall_seconds"] = time.perf_counter() - t_start
    print(f"wrote {options.out}")
    if prep.test is not None and options.test:
        test_pred = predict(model, prep.test, options.device)
        metrics["test"] = {}
        if model.rul is not None:
            metrics["test"] = rul_report(test_pred, prep.test.targets["rul_true"], cfg.rul_horizon)
        if model.fault is not None:
            metrics["test"]["fault"] = fault_report(test_pred, prep.test.targets["fault"])
    text = json.dumps(metrics, indent=2, default=float)
    print(text)
    if options.metrics_out is not None:
        options.metrics_out.parent.mkdir(parents=True, exist_ok=True)
        options.metrics_out.write_text(text + "\n")
    return options.out
