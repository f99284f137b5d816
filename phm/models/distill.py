"""Distillation of a trained model (or deep ensemble) into a smaller student, with a report.

The student trains on the teacher's prepared data (same dataset, windows, split seed) with

    loss = hard loss (the student's own heads on the labels)
         + alpha * [ T^2 KL(teacher || student) of the fault probabilities at temperature T
                   + KL(teacher || student) of the RUL / TTF distributions' per-bin mass ]

where a hazard head's per-bin mass is the probability of failing in each bin plus the tail
past the horizon (J + 1 values, from the survival at the bin edges). alpha is chosen on the
validation score `fit` stops on (hard loss, or RMSE for RUL-only models) among `alphas`; alpha
0 is the same student trained without the teacher, reported beside it. The report holds, for
teacher, student and student-alone: parameters, validation and test accuracy / RMSE, and CPU
latency (p50 at batch 1, windows/s at batch 64) measured in one process with the same threads.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from phm.config import from_mapping
from phm.errors import ConfigError
from phm.models.data import Prepared, TrainConfig, WindowSet, load_train_config
from phm.models.heads import hazard_survival
from phm.models.model import PhmModel, load_checkpoint, load_config, save_checkpoint
from phm.models.prepare import DATASETS, DatasetOptions

# [train] fields that shape the data: the student takes the teacher's, so both see one split
DATA_FIELDS = ("window", "include_cycle", "snapshot", "snapshots", "val_fraction")
TEMPERATURE = 2.0  # softens the fault probabilities (Hinton et al. 2015)
ALPHAS = (0.0, 0.5, 1.0, 2.0)  # distillation weights tried; 0: the student alone


def bin_mass(logits: Tensor, grid: Tensor | None = None, onto: Tensor | None = None) -> Tensor:
    """(..., J) hazard logits -> (..., K + 1) probability of failing in each bin, then the
    tail past the horizon. With `grid` (J + 1,) the logits' bin edges and `onto` (K + 1,)
    another grid's, the mass is that of the other grid's bins (survival is linear within a
    bin), so a teacher and a student with other bin counts compare; else K = J."""
    surv = hazard_survival(logits)  # (..., J + 1)
    if grid is not None and onto is not None and not torch.equal(grid, onto):
        idx = torch.searchsorted(grid, onto).clamp(1, len(grid) - 1)
        g0, g1 = grid[idx - 1], grid[idx]
        w = ((onto - g0) / (g1 - g0)).clamp(0.0, 1.0)
        surv = surv[..., idx - 1] * (1 - w) + surv[..., idx] * w  # (..., K + 1)
    return torch.cat([surv[..., :-1] - surv[..., 1:], surv[..., -1:]], dim=-1).clamp_min(1e-8)


def distillation_loss(
    teacher: dict[str, Tensor],
    student: dict[str, Tensor],
    t: float,
    grids: dict[str, tuple[Tensor, Tensor]] | None = None,
) -> Tensor:
    """KL(teacher || student) summed over the heads both have (batch means): fault at
    temperature t (times t^2), RUL and TTF on the per-bin mass (`bin_mass`) of the student's
    bins; `grids` maps "rul" / "ttf" to (teacher's, student's) bin edges where they differ."""
    grids = grids or {}
    terms = []
    if "fault" in teacher and "fault" in student:
        p = F.log_softmax(teacher["fault"].float() / t, -1)
        q = F.log_softmax(student["fault"].float() / t, -1)
        terms.append(t * t * F.kl_div(q, p, log_target=True, reduction="batchmean"))
    for name in ("rul", "ttf"):
        if name in teacher and name in student:
            p = bin_mass(teacher[name].float(), *grids.get(name, (None, None)))
            q = bin_mass(student[name].float())
            kl = (p * (p.log() - q.log())).sum(-1)  # (B,) or (B, M)
            terms.append(kl.reshape(len(kl), -1).sum(-1).mean())
    if not terms:
        raise ValueError("teacher and student share no head to distil")
    return torch.stack(terms).sum()


def teacher_loss(
    teacher: PhmModel, student: PhmModel, alpha: float, temperature: float
) -> Callable[[dict[str, Tensor], dict[str, Tensor]], Tensor]:
    """`fit`'s extra_loss: alpha * distillation_loss against the frozen teacher's outputs on
    the same (augmented) batch, on the student's bins."""
    teacher.eval()
    grids = {}
    for name in ("rul", "ttf"):
        t_head, s_head = getattr(teacher, name), getattr(student, name)
        if t_head is not None and s_head is not None:
            if not math.isclose(float(t_head.grid[-1]), float(s_head.grid[-1])):
                raise ConfigError(f"teacher and student {name} horizons differ")
            grids[name] = (t_head.grid, s_head.grid)

    def loss(inputs: dict[str, Tensor], out: dict[str, Tensor]) -> Tensor:
        with torch.no_grad():
            target = teacher(inputs)
        on_device = {k: (a.to(out[k].device), b.to(out[k].device)) for k, (a, b) in grids.items()}
        return alpha * distillation_loss(target, out, temperature, on_device)

    return loss


@torch.no_grad()
def cpu_latency(model: PhmModel, windows: WindowSet, reps: int = 100) -> dict[str, float]:
    """p50 / p90 latency (ms) of one window and windows/s at batch 64, on the CPU with torch's
    current threads."""
    model = model.cpu().eval()
    data = windows.to(torch.device("cpu"))
    one, _ = data.batch(torch.arange(1))
    n64 = min(64, len(windows))
    batch, _ = data.batch(torch.arange(n64))
    for _ in range(10):
        model(one)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        model(one)
        times.append(time.perf_counter() - t0)
    model(batch)
    t0, runs = time.perf_counter(), max(5, reps // 5)
    for _ in range(runs):
        model(batch)
    per_batch = (time.perf_counter() - t0) / runs
    times.sort()
    return {
        "p50_ms_batch1": 1000 * statistics.median(times),
        "p90_ms_batch1": 1000 * times[int(0.9 * (len(times) - 1))],
        "windows_per_s_batch64": n64 / per_batch,
        "torch_threads": torch.get_num_threads(),
    }


@dataclass(frozen=True)
class DistillOptions:
    """What `distill` does: the teacher checkpoint, the student model TOML, where the student
    goes, the teacher's dataset options, and how to run."""

    teacher: Path
    config: Path
    out: Path
    data: DatasetOptions
    device: str = "cpu"
    seed: int | None = None  # split and student seed; None: the teacher's
    epochs: int | None = None  # overrides the student's [train] epochs
    alphas: tuple[float, ...] = ALPHAS
    temperature: float = TEMPERATURE
    threads: int = 0
    metrics_out: Path | None = None
    progress: bool = True


def scores(
    model: PhmModel, windows: WindowSet | None, device: str, horizon: float
) -> dict[str, float]:
    """Accuracy / macro-F1 (fault head) and RMSE (RUL head) of `model` on `windows`."""
    from phm.models.train import fault_report, predict, rul_report

    if windows is None or len(windows) == 0:
        return {}
    pred = predict(model, windows, device)
    out: dict[str, float] = {}
    if model.fault is not None and "fault" in windows.targets:
        out |= {f"fault_{k}": v for k, v in fault_report(pred, windows.targets["fault"]).items()}
    if model.rul is not None and "rul_true" in windows.targets:
        rul = rul_report(pred, windows.targets["rul_true"], horizon)
        out |= {f"rul_{k}": v for k, v in rul.items()}
    return out


def student_train_config(path: Path, teacher_tcfg: TrainConfig, epochs: int | None) -> TrainConfig:
    """The student's [train] with the teacher's data fields (DATA_FIELDS), one member, no init."""
    tcfg = load_train_config(path)
    same = {k: getattr(teacher_tcfg, k) for k in DATA_FIELDS}
    tcfg = dataclasses.replace(tcfg, **same, members=1, init="")
    return tcfg if epochs is None else dataclasses.replace(tcfg, epochs=epochs)


def distill(options: DistillOptions) -> dict[str, Any]:
    """Train the student once per alpha, keep the best alpha > 0 on validation, save it, and
    return the report (teacher vs student vs student alone). Prints progress."""
    from phm.models.train import (
        calibrate_interval,
        evaluate,
        fit,
        seed_everything,
        stop_score,
        torch_runtime,
    )

    torch_runtime(options.device, options.threads)
    if not any(a > 0 for a in options.alphas):
        raise ConfigError("--alphas: give at least one distillation weight > 0")
    device = options.device
    teacher, header = load_checkpoint(options.teacher, map_location=device)
    if header.dataset != options.data.dataset:
        raise ConfigError(
            f"{options.teacher}: the teacher was trained on {header.dataset}, "
            f"not {options.data.dataset}"
        )
    training = header.training
    if "train_config" not in training:
        raise ConfigError(f"{options.teacher}: no train_config in the header: retrain it")
    teacher_tcfg = from_mapping(
        TrainConfig, training["train_config"], str(options.teacher), "[train]"
    )
    seed = int(training.get("seed", 0)) if options.seed is None else options.seed
    tcfg = student_train_config(options.config, teacher_tcfg, options.epochs)
    t_start = time.perf_counter()
    prep: Prepared = DATASETS[header.dataset](options.data, teacher_tcfg, seed)
    for key, value in prep.config_updates.items():
        if getattr(teacher.config, key) != value:
            raise ConfigError(
                f"{options.teacher}: teacher's {key} = {getattr(teacher.config, key)!r} but the "
                f"data gives {value!r}: pass the teacher's dataset options"
            )
    config = dataclasses.replace(load_config(options.config), **prep.config_updates)
    for name, cfg in (("teacher", teacher.config), ("student", config)):
        if cfg.rul_head == "weibull":
            raise ConfigError(f"{name}: rul_head = 'weibull' cannot be distilled; use 'hazard'")
    horizon = config.rul_horizon
    runs: dict[float, dict[str, Any]] = {}
    models: dict[float, PhmModel] = {}
    for alpha in options.alphas:
        seed_everything(seed)
        student = PhmModel(config)
        extra = teacher_loss(teacher, student, alpha, options.temperature) if alpha > 0 else None
        t0 = time.perf_counter()
        result = fit(
            student, prep.fit, prep.val, tcfg, device, seed, options.progress, prep.augment, extra
        )
        if student.rul is not None:
            calibrate_interval(student, prep.val, device)
        val_score = stop_score(evaluate(student, prep.val, tcfg, device), student)
        runs[alpha] = {
            "alpha": alpha,
            "val_score": val_score,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "train_seconds": time.perf_counter() - t0,
        }
        models[alpha] = student
        print(f"alpha {alpha:g}: validation score {val_score:.4f} (epoch {result.best_epoch})")
    best = min((a for a in runs if a > 0), key=lambda a: runs[a]["val_score"])
    student = models[best]
    save_checkpoint(
        options.out,
        student,
        dataclasses.replace(
            header,
            training={
                "train_config": dataclasses.asdict(tcfg),
                "seed": seed,
                "distilled_from": str(options.teacher),
                "alpha": best,
                "temperature": options.temperature,
                "alphas": [runs[a] for a in options.alphas],
            },
        ),
    )
    entries: dict[str, PhmModel] = {"teacher": teacher, "student": student}
    if 0.0 in models:
        entries["student_alone"] = models[0.0]
    report: dict[str, Any] = {
        "dataset": header.dataset,
        "teacher": str(options.teacher),
        "student_config": str(options.config),
        "seed": seed,
        "alpha": best,
        "temperature": options.temperature,
        "alphas": [runs[a] for a in options.alphas],
    }
    latency_windows = prep.test if prep.test is not None and len(prep.test) else prep.val
    for name, model in entries.items():
        model.to(device)
        report[name] = {
            "config": model.config.name,
            "n_params": model.n_params(),
            "n_params_active": model.n_params(active=True),
            "val": scores(model, prep.val, device, horizon),
            "test": scores(model, prep.test, device, horizon),
            "cpu_latency": cpu_latency(model, latency_windows),
        }
        model.to(device)
    report["wall_seconds"] = time.perf_counter() - t_start
    print(f"wrote {options.out} (alpha {best:g})")
    return report


def finite(report: Any) -> Any:
    """The report with non-finite floats as None (strict JSON)."""
    if isinstance(report, dict):
        return {k: finite(v) for k, v in report.items()}
    if isinstance(report, list):
        return [finite(v) for v in report]
    if isinstance(report, float | np.floating) and not math.isfinite(report):
        return None
    return report
