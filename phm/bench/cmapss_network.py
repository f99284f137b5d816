"""`phm bench cmapss --model moe|dense`: the network path of the C-MAPSS bench.

Trains the network of `--config` (default phm/configs/models/cmapss.toml or dense-cmapss.toml)
once per seed with `phm.models.train`, scores the test units once against the truth as is and
capped, reports the 90% interval's coverage and, on subsets of several operating conditions,
each MoE layer's expert load per condition (phm.models.expert_load). Imported by
phm.bench.cmapss only when a network is asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import numpy as np

from phm.bench.cmapss import (
    CMAPSS_NETWORKS,
    PUBLISHED,
    capped_truth_scores,
    results_table,
)
from phm.bench.networks import network_configs, spread
from phm.bench.results import fmt, markdown_table, write_result
from phm.datasets.cmapss import load_cmapss
from phm.errors import ConfigError


def run_network(args: argparse.Namespace) -> int:
    """Train `--model moe|dense` once per seed, score the test units, write the result."""
    from phm.models.expert_load import expert_load_by_condition
    from phm.models.model import PhmEnsemble
    from phm.models.prepare import CmapssOptions, prepare_cmapss
    from phm.models.train import member_seed, predict, rul_report, train_prepared

    if args.config is None:
        args = argparse.Namespace(**{**vars(args), "config": CMAPSS_NETWORKS[args.model]})
    cfg, tcfg = network_configs(args)
    if args.window is not None:
        tcfg = dataclasses.replace(tcfg, window=args.window)
    if args.condition_input is not None:
        tcfg = dataclasses.replace(tcfg, condition_input=args.condition_input)
    if args.val_fraction is not None:
        if not 0 < args.val_fraction < 1:
            raise ConfigError(
                f"--model {args.model} needs a validation split: --val-fraction in (0, 1), "
                f"got {args.val_fraction}"
            )
        tcfg = dataclasses.replace(tcfg, val_fraction=args.val_fraction)
    seeds = list(range(args.seed, args.seed + args.seeds))
    t_start = time.perf_counter()
    # expert load per condition: MoE on subsets of several operating conditions
    data = load_cmapss(args.data, args.subset) if args.model == "moe" else None
    if data is not None and data.n_conditions < 2:
        data = None
    runs: list[dict[str, Any]] = []
    model = None
    for seed in seeds:
        t0 = time.perf_counter()
        prep = prepare_cmapss(CmapssOptions(data=args.data, subset=args.subset), tcfg, seed)
        assert prep.test is not None
        model, fitted = train_prepared(prep, cfg, tcfg, args.device, seed)
        pred = predict(model, prep.test, args.device, tcfg.eval_batch_size)
        truth = prep.test.targets["rul_true"]
        cap = model.config.rul_horizon
        report = rul_report(pred, truth, cap)
        point = np.clip(pred["point"], 0.0, cap)
        capped = capped_truth_scores(truth, point, cap)
        t_capped = np.minimum(truth, cap)
        covered_capped = (pred["lower"] <= t_capped) & (t_capped <= pred["upper"])
        load = []
        if data is not None:  # validation cycles grouped by their operating condition
            load = expert_load_by_condition(
                model,
                prep.val,
                val_conditions(data, prep),
                data.n_conditions,
                args.device,
                tcfg.eval_batch_size,
            )
        members = []
        ensemble = model.members if isinstance(model, PhmEnsemble) else []
        for k, (member, res) in enumerate(zip(ensemble, fitted.members, strict=True)):
            member_pred = predict(member, prep.test, args.device, tcfg.eval_batch_size)
            members.append(
                {
                    "seed": member_seed(seed, k),
                    "best_epoch": res.best_epoch,
                    "epochs_run": len(res.history),
                    "val_rmse_capped": res.best_score,
                    "rmse": rul_report(member_pred, truth, model.config.rul_horizon)["rmse"],
                }
            )
        runs.append(
            {
                "seed": seed,
                "rmse": report["rmse"],
                "nasa_score": report["nasa_score"],
                **capped,
                "coverage_90": report["coverage"],
                "coverage_90_capped_truth": float(covered_capped.mean()),
                "interval_width_median": report["interval_width_median"],
                "open_ended_share": report["open_ended_share"],
                "best_epoch": fitted.best_epoch,
                "epochs_run": len(fitted.history),
                "val_rmse_capped": fitted.best_score,
                "members": members,  # ensemble only: each member alone (reported, not chosen)
                "train_windows_per_s": fitted.windows_per_s,
                "train_seconds": fitted.train_seconds,
                "seconds": time.perf_counter() - t0,
                "load_cv_per_layer": model.expert_load_cv(),
                # validation windows' cycles grouped by operating condition (several only)
                "expert_load_by_condition": [layer.to_dict() for layer in load],
                "conformal_factors": model.rul.conformal_factor.tolist() if model.rul else [],
                "val_units": prep.extra["val_units"],
                "n_fit_windows": len(prep.fit),
                "n_val_windows": len(prep.val),
                "test_units": [
                    {"unit": u, "rul_true": t, "rul_pred": p, "lower": lo, "upper": hi}
                    for u, t, p, lo, hi in zip(
                        prep.test.groups, truth, point, pred["lower"], pred["upper"], strict=True
                    )
                ],
            }
        )
    assert model is not None
    keys = (
        "rmse",
        "rmse_capped_truth",
        "nasa_score",
        "nasa_score_capped_truth",
        "coverage_90",
        "val_rmse_capped",
    )
    spreads = {k: spread([r[k] for r in runs]) for k in keys}
    headline = {
        **{f: v for k in keys for f, v in zip((k, f"{k}_std"), spreads[k], strict=True)},
        "subset": args.subset,
        "model": args.model,
        "config": model.config.name,
        "device": args.device,
        "n_seeds": len(seeds),
        "n_test_units": len(runs[0]["test_units"]),
        "members": tcfg.members,
        "condition_input": tcfg.condition_input,
        "n_params": model.n_params(),
        "n_params_active": model.n_params(active=True),
    }
    details = {
        "protocol": {
            "rul_cap": model.config.rul_horizon,
            "window_cycles": tcfg.window,
            "test_point": "last cycle of each test unit; truth from RUL file, uncapped",
            "predictions_clipped_to": [0, model.config.rul_horizon],
            "validation": f"{tcfg.val_fraction:g} of the training units per seed: early "
            "stopping and conformal calibration of the 90% interval; test never used for choices",
            "std": "sample standard deviation over seeds (0 for one seed)",
        },
        "seeds": seeds,
        "per_seed": runs,
        "model_config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(tcfg),
        "config_file": str(args.config),
        "seconds": time.perf_counter() - t_start,
        "published": {k: v[args.subset] for k, v in PUBLISHED.items()},
    }
    label = f"{args.model} {model.config.name}, {len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
    if tcfg.members > 1:
        label += f", ensembles of {tcfg.members}"
    digits = {"nasa_score": (4, 3), "nasa_score_capped_truth": (4, 3), "coverage_90": (3, 2)}
    cells = []
    for k in keys[:5]:
        (mean, std), (d_mean, d_std) = spreads[k], digits.get(k, (4, 2))
        cells.append(f"{fmt(mean, d_mean)} ± {fmt(std, d_std)}")
    table = results_table(args.subset, label, cells)
    table += expert_load_tables(runs[0]["expert_load_by_condition"])
    table += (
        f"\n\nC-MAPSS {args.subset}, {headline['n_test_units']} test units, RUL cap "
        f"{fmt(model.config.rul_horizon)} (truth capped: min(RUL, cap)), window {tcfg.window} "
        f"cycles, condition input {tcfg.condition_input}, mean ± std over seeds "
        f"{seeds}; {headline['n_params']:,} parameters ({headline['n_params_active']:,} active "
        f"per token) on {args.device}; published figures from DATASETS.md (their papers, not "
        f"rerun here). Total {details['seconds']:.1f} s."
    )
    write_result(args.out, f"cmapss_{args.model}_{args.subset}", headline, details, table)
    return 0


def val_conditions(data: Any, prep: Any) -> np.ndarray:
    """(N, T) operating condition of every cycle of `prep.val`'s windows (-1: padding): the
    validation units of `data.train`, in the order `prepare_cmapss` windows them."""
    from phm.models.windows import cmapss_token_conditions

    val_units = set(prep.extra["val_units"])
    val_runs = [r for r in data.train if r.asset_id in val_units]
    return cmapss_token_conditions(val_runs, prep.val.inputs["process"].shape[1])


def expert_load_tables(loads: list[dict[str, Any]]) -> str:
    """Markdown: per MoE layer of the first member, each condition's share of routed slots
    per expert and the condition-expert mutual information; "" when there is none."""
    out = ""
    for load in loads:
        if load["member"] != 0:
            continue
        fractions = load["fractions"]
        rows = [[f"condition {k}", *row] for k, row in enumerate(fractions)]
        header = ["expert load", *(f"e{e}" for e in range(len(fractions[0])))]
        out += (
            f"\n\nMoE layer {load['layer']} (validation cycles by operating condition; "
            f"mutual information {load['condition_information_bits']:.3f} bits):\n\n"
            + markdown_table(header, [[r[0], *(round(v, 3) for v in r[1:])] for r in rows])
        )
    return out
