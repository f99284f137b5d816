"""`phm bench model`: cost of the MoE model and its dense ablation, and expert balance.

Measured in one process, on synthetic windows shaped like C-MAPSS FD001 (`--channels`
process channels, the config's `[train] window` cycles, one operating condition):
- training throughput (windows/s) of `phm.models.train.fit` over `--train-steps` optimiser
  steps, on CPU and on CUDA when one is available (else reported as not measured);
- CPU inference latency of one window (p50, p99 over `--latency-calls` calls after a warm-up)
  and windows/s of a forward on a batch of `--batch-windows`;
- parameters in total and active per token (top-k of the routed experts only);
- expert-load balance: one MoE layer of the config is trained alone for `--balance-steps`
  steps on a deliberately skewed input (every token is `--skew` times one unit direction
  plus noise of std 0.3, so the router sends most of them to the same few experts), once
  with the balancing bias frozen (gamma 0) and once with it updated (gamma = the config's,
  or `--gamma`); the coefficient of variation (CV, std / mean) of the per-expert load of
  the final forward is reported for both (0 = even, sqrt(E/k - 1) = every token on the same
  k experts). The default skew is one the bias can correct within the default steps
  (docs/BENCHMARKS.md says what a stronger one does).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phm.bench.results import fmt, markdown_table, write_result
from phm.errors import ConfigError
from phm.models.data import TrainConfig, WindowSet, load_train_config
from phm.models.model import ModelConfig, PhmModel, load_config
from phm.models.moe import MoE, load_cv
from phm.models.train import fit
from phm.resources import resource_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench model`."""
    parser.add_argument("--config", type=Path, default=resource_path("models/small.toml"))
    parser.add_argument(
        "--dense-config", type=Path, default=resource_path("models/dense-small.toml")
    )
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    parser.add_argument("--channels", type=int, default=15, help="process channels per window")
    parser.add_argument("--train-steps", type=int, default=10, help="steps timed for throughput")
    parser.add_argument("--latency-calls", type=int, default=200, help="timed one-window calls")
    parser.add_argument("--batch-windows", type=int, default=1024, help="windows per batch call")
    parser.add_argument("--balance-steps", type=int, default=1000, help="steps of the CV test")
    parser.add_argument(
        "--skew", type=float, default=2.0, help="norm of the direction all tokens share"
    )
    parser.add_argument(
        "--gamma", type=float, default=None, help="bias update speed (default: the config's)"
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--seed", type=int, default=0)


def synthetic_windows(n: int, window: int, channels: int, horizon: float, seed: int) -> WindowSet:
    """n random C-MAPSS-shaped windows: process (n, window, channels), one condition."""
    rng = np.random.default_rng(seed)
    rul = rng.uniform(0, 1.5 * horizon, n).astype(np.float32)
    return WindowSet(
        inputs={
            "process": rng.normal(size=(n, window, channels)).astype(np.float32),
            "process_mask": np.ones((n, window), bool),
            "context": np.zeros((n, 1), np.int64),
        },
        targets={
            "rul_time": np.minimum(rul, horizon),
            "rul_event": rul < horizon,
            "rul_true": rul,
        },
        groups=np.arange(n),
    )


def build(cfg: ModelConfig, tcfg: TrainConfig, channels: int) -> ModelConfig:
    """The config with the synthetic data's fields filled in."""
    return dataclasses.replace(
        cfg,
        process_channels=channels,
        context_cardinalities=(1,),
        max_positions=tcfg.window,
        n_classes=0,
    )


def train_throughput(
    cfg: ModelConfig, tcfg: TrainConfig, args: argparse.Namespace, device: str
) -> float:
    """Windows/s of `fit` over `args.train_steps` steps (after a one-step warm-up)."""
    torch.manual_seed(args.seed)
    model = PhmModel(cfg)
    n = tcfg.batch_size * args.train_steps
    data = synthetic_windows(n, tcfg.window, cfg.process_channels, cfg.rul_horizon, args.seed)
    warm = dataclasses.replace(tcfg, epochs=1)
    fit(model, data.take(np.arange(tcfg.batch_size)), None, warm, device, args.seed, False)
    return fit(model, data, None, warm, device, args.seed, progress=False).windows_per_s


@torch.inference_mode()
def inference_cost(model: PhmModel, data: WindowSet, calls: int) -> dict[str, float]:
    """CPU latency of one window (ms, p50 and p99) and windows/s of one batch forward."""
    model.eval()
    one = {k: torch.from_numpy(v[:1]) for k, v in data.inputs.items()}
    for _ in range(20):
        model(one)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        model(one)
        times.append(time.perf_counter() - t0)
    batch = {k: torch.from_numpy(v) for k, v in data.inputs.items()}
    model(batch)
    reps, t0 = 3, time.perf_counter()
    for _ in range(reps):
        model(batch)
    per_batch = (time.perf_counter() - t0) / reps
    ms = 1e3 * np.array(times)
    return {
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "batch_windows_per_s": len(data) / per_batch,
    }


def skewed_load_cv(
    cfg: ModelConfig, gamma: float, steps: int, seed: int, skew: float = 2.0
) -> dict[str, Any]:
    """Train one MoE layer alone on a skewed input; expert-load CV before and after.

    Tokens x = skew u + 0.3 noise share one unit direction u, so the router's scores rank the
    experts almost alike for every token. The layer learns a fixed random linear map of x
    (AdamW, lr 1e-3); after each step the bias moves by gamma (0: frozen)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    moe = MoE(dataclasses.replace(cfg, bias_update_speed=gamma)).train()
    d = cfg.d_model
    u = torch.randn(d, generator=gen)
    u = u / u.norm()
    x = skew * u + 0.3 * torch.randn(16, 32, d, generator=gen)  # (B, T, D)
    target = x @ (torch.randn(d, d, generator=gen) / d**0.5)
    opt = torch.optim.AdamW(moe.parameters(), lr=1e-3)
    with torch.no_grad():
        moe(x)
    start = load_cv(moe.last_load)
    moe.load_counts.zero_()
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(moe(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        moe.update_bias(gamma)
    with torch.no_grad():
        moe.eval()(x)
    return {
        "cv_start": start,
        "cv_end": load_cv(moe.last_load),
        "load_end": moe.last_load.tolist(),
        "bias_range": float(moe.gate.bias.max() - moe.gate.bias.min()),
    }


def run(args: argparse.Namespace) -> int:
    """Measure both configs, write model.json and model.md."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    results: dict[str, dict[str, Any]] = {}
    balance: dict[str, Any] = {}
    for kind, path in (("moe", args.config), ("dense", args.dense_config)):
        cfg, tcfg = load_config(path), load_train_config(path)
        if (kind == "dense") != cfg.dense:
            raise ConfigError(
                f"{path}: expected a {kind} config (n_dense_blocks = {cfg.n_dense_blocks}, "
                f"n_layers = {cfg.n_layers})"
            )
        cfg = build(cfg, tcfg, args.channels)
        torch.manual_seed(args.seed)
        model = PhmModel(cfg)
        data = synthetic_windows(
            args.batch_windows, tcfg.window, args.channels, cfg.rul_horizon, args.seed
        )
        r: dict[str, Any] = {
            "config": cfg.name,
            "config_file": str(path),
            "window": tcfg.window,
            "batch_size": tcfg.batch_size,
            "n_params": model.n_params(),
            "n_params_active": model.n_params(active=True),
            "train_windows_per_s_cpu": train_throughput(cfg, tcfg, args, "cpu"),
            "train_windows_per_s_cuda": (
                train_throughput(cfg, tcfg, args, "cuda") if cuda else "not measured (no CUDA)"
            ),
        }
        r |= inference_cost(model, data, args.latency_calls)
        results[kind] = r
        if kind == "moe":
            gamma = cfg.bias_update_speed if args.gamma is None else args.gamma
            balance = {
                "gamma": gamma,
                "steps": args.balance_steps,
                "skew": args.skew,
                "without_bias": skewed_load_cv(cfg, 0.0, args.balance_steps, args.seed, args.skew),
                "with_bias": skewed_load_cv(cfg, gamma, args.balance_steps, args.seed, args.skew),
                "n_routed_experts": cfg.n_routed_experts,
                "n_activated_experts": cfg.n_activated_experts,
            }
    headline: dict[str, Any] = {
        f"{kind}_{key}": value
        for kind, r in results.items()
        for key, value in r.items()
        if key not in ("config_file",)
    }
    headline |= {
        "load_cv_without_bias": balance["without_bias"]["cv_end"],
        "load_cv_with_bias": balance["with_bias"]["cv_end"],
        "load_cv_start": balance["without_bias"]["cv_start"],
        "cuda_measured": cuda,
        "threads": torch.get_num_threads(),
    }
    details = {
        "models": results,
        "balance": balance,
        "data": f"synthetic C-MAPSS-shaped windows: {args.channels} channels, 1 condition",
        "train_steps": args.train_steps,
        "latency_calls": args.latency_calls,
        "batch_windows": args.batch_windows,
        "seed": args.seed,
    }
    table = results_table(results, balance)
    write_result(args.out, "model", headline, details, table)
    return 0


def results_table(results: dict[str, dict[str, Any]], balance: dict[str, Any]) -> str:
    """Markdown: one column per model, then the balance figures."""
    rows = [
        ["parameters (total)", *(r["n_params"] for r in results.values())],
        ["parameters active per token", *(r["n_params_active"] for r in results.values())],
        ["train windows/s, CPU", *(r["train_windows_per_s_cpu"] for r in results.values())],
        ["train windows/s, CUDA", *(r["train_windows_per_s_cuda"] for r in results.values())],
        ["CPU latency, 1 window, p50 (ms)", *(r["latency_p50_ms"] for r in results.values())],
        ["CPU latency, 1 window, p99 (ms)", *(r["latency_p99_ms"] for r in results.values())],
        ["CPU inference windows/s (batch)", *(r["batch_windows_per_s"] for r in results.values())],
    ]
    header = ["measured", *(f"{k} ({r['config']})" for k, r in results.items())]
    table = markdown_table(header, rows)
    table += (
        f"\n\nExpert-load CV on a skewed input, one MoE layer trained alone for "
        f"{balance['steps']} steps ({balance['n_activated_experts']} of "
        f"{balance['n_routed_experts']} experts per token; 0 = even): at start "
        f"{fmt(balance['without_bias']['cv_start'], 3)}; without the balancing bias (gamma 0) "
        f"{fmt(balance['without_bias']['cv_end'], 3)}; with it (gamma {fmt(balance['gamma'])}) "
        f"{fmt(balance['with_bias']['cv_end'], 3)}. Window {results['moe']['window']} cycles."
    )
    return table
