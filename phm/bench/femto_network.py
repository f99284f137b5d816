"""`phm bench femto --model moe|dense`: the network path of the PRONOSTIA bench.

Trains the network per leave-one-bearing-out fold (or once, on the challenge protocol), predicts
at each cut, and scores the earlier of its RUL and the degradation model's (fitted on the same
training bearings) beside the network alone. Imported by phm.bench.femto only when a network is
asked for.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from phm.bench.femto import (
    PUBLISHED_WINNER,
    SMOOTH_SPAN,
    bearing_history,
    cut_accuracy,
    make_model,
    score_cut_rows,
)
from phm.bench.networks import NETWORKS, network_configs, spread
from phm.bench.results import fmt, markdown_table, write_result
from phm.datasets.femto import load_femto
from phm.datasets.run import Run
from phm.datasets.splits import (
    FEMTO_TRUNCATION_FRACTIONS,
    Truncation,
    femto_challenge,
    femto_leave_one_bearing_out,
    femto_truncations,
)
from phm.errors import ConfigError
from phm.models.degradation import DegradationRul


def network_cut_rows(
    pred: dict[str, np.ndarray],
    held: Run,
    unit_s: float,
    horizon: float,
    cuts: list[Truncation] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the held-out bearing's cuts (default: the lobo fractions) from per-snapshot
    network predictions (hours): the median of the last SMOOTH_SPAN point predictions, each
    moved to the cut, in seconds; the 90% interval of the cut's own window."""
    assert held.waveforms is not None
    times = held.waveforms.times
    rows = []
    if cuts is None:
        cuts = femto_truncations(held, FEMTO_TRUNCATION_FRACTIONS)
    for cut in cuts:
        last = np.arange(max(0, cut.index + 1 - SMOOTH_SPAN), cut.index + 1)
        point = np.clip(pred["point"][last], 0.0, horizon) * unit_s
        moved = point - (times[cut.index] - times[last])
        value = float(max(np.median(moved), 0.0))
        lower = float(pred["lower"][cut.index] * unit_s)
        upper = float(pred["upper"][cut.index] * unit_s)
        rows.append(
            {
                "bearing": held.asset_id,
                "condition": held.meta["condition"],
                "fraction": cut.fraction,
                "elapsed_s": float(times[cut.index]),
                "actual_rul_s": cut.actual_rul_s,
                "predicted_rul_s": value,
                "accuracy_a": cut_accuracy(cut.actual_rul_s, value),
                "lower_s": lower,
                "upper_s": upper,
                "covered_90": bool(lower <= cut.actual_rul_s <= upper),
            }
        )
    return rows


def with_degradation(
    rows: list[dict[str, Any]], prior: DegradationRul, runs: dict[str, Run]
) -> list[dict[str, Any]]:
    """Network cut rows joined with the degradation model (fitted on the same training
    bearings): the prediction becomes the earlier of the network's and the degradation
    model's RUL (the PHM 2012 score punishes a late prediction four times as hard as an early
    one, so of two estimates the earlier is the safer); the network's own figures are kept."""
    joined = []
    for r in rows:
        held = runs[r["bearing"]]
        assert held.waveforms is not None
        index = int(np.searchsorted(held.waveforms.times, r["elapsed_s"]))
        dist = prior.predict_distribution(bearing_history(held).prefix(index))
        fused = min(r["predicted_rul_s"], dist.point)
        joined.append(
            {
                **r,
                "network_rul_s": r["predicted_rul_s"],
                "network_accuracy_a": r["accuracy_a"],
                "degradation_rul_s": dist.point,
                "degradation_lower_s": dist.lower,
                "degradation_upper_s": dist.upper,
                "degradation_covered_90": bool(dist.lower <= r["actual_rul_s"] <= dist.upper),
                "predicted_rul_s": fused,
                "accuracy_a": cut_accuracy(r["actual_rul_s"], fused),
            }
        )
    return joined


def run_network(args: argparse.Namespace) -> int:
    """Leave one bearing out with `--model moe|dense`: train per fold and seed, score the cuts."""
    import dataclasses
    import time

    from phm.models.prepare import (
        FEMTO_RUL_HORIZON,
        FEMTO_RUL_UNIT_S,
        FemtoOptions,
        femto_windows,
        prepare_femto,
    )
    from phm.models.train import predict, train_prepared

    if args.scope != "all":
        raise ConfigError(
            f"--model {args.model} runs with --scope all only (a condition fold leaves one "
            "training bearing: nothing to validate on)"
        )
    cfg, tcfg = network_configs(args)
    seeds = list(range(args.seed, args.seed + args.seeds))
    t_start = time.perf_counter()
    challenge = args.protocol == "challenge"
    sets = ("Learning_set", "Test_set") if challenge else ("Learning_set",)
    runs = load_femto(args.data, sets=sets, cache_dir=args.cache)
    learning = [r for r in runs if r.meta["set"] == "Learning_set"]
    # (held-out learning bearing or None, [(bearing run to predict, its cuts)])
    plan: list[tuple[str | None, list[tuple[Run, list[Truncation]]]]]
    if challenge:
        tests = {r.asset_id: r for r in runs if r.meta["set"] == "Test_set"}
        plan = [(None, [(tests[t.bearing], [t]) for t in femto_challenge(runs).test])]
    else:
        by_id = {r.asset_id: r for r in learning}
        plan = [
            (f.test, [(by_id[f.test], femto_truncations(by_id[f.test]))])
            for f in femto_leave_one_bearing_out(learning, "all")
        ]
    per_seed: list[dict[str, Any]] = []
    model = None
    for seed in seeds:
        rows: list[dict[str, Any]] = []
        folds_info: list[dict[str, Any]] = []
        for holdout, targets in plan:
            t0 = time.perf_counter()
            prep = prepare_femto(FemtoOptions(runs=learning, holdout=holdout), tcfg, seed)
            model, fitted = train_prepared(prep, cfg, tcfg, args.device, seed, progress=False)
            train_runs = [r for r in learning if r.asset_id != holdout]
            prior = make_model("degradation", seed, args.max_iter)
            assert isinstance(prior, DegradationRul)
            prior.fit([bearing_history(r) for r in train_runs])
            cut_rows = []
            for held, cuts in targets:
                windows = prep.test
                if windows is None:  # a Test_set bearing: not part of the prepared split
                    windows = femto_windows([held], tcfg.snapshots, prep.header.samples)
                pred = predict(model, windows, args.device, tcfg.eval_batch_size)
                net_rows = network_cut_rows(pred, held, FEMTO_RUL_UNIT_S, FEMTO_RUL_HORIZON, cuts)
                cut_rows += with_degradation(net_rows, prior, {held.asset_id: held})
            rows += cut_rows
            info = {
                "held_out": holdout or "Test_set",
                "fit_bearings": prep.extra["fit_bearings"],
                "val_bearings": prep.extra["val_units"],
                "best_epoch": fitted.best_epoch,
                "epochs_run": len(fitted.history),
                "val_rmse_h": fitted.best_score,
                "train_windows_per_s": fitted.windows_per_s,
                "train_seconds": fitted.train_seconds,
                "seconds": time.perf_counter() - t0,
                "load_cv_per_layer": model.expert_load_cv(),
                "n_fit_windows": len(prep.fit),
                "n_val_windows": len(prep.val),
                "mean_accuracy_a": float(np.mean([r["accuracy_a"] for r in cut_rows])),
            }
            folds_info.append(info)
            print(
                f"seed {seed} {info['held_out']}: A {info['mean_accuracy_a']:.3f}, "
                f"{info['epochs_run']} epochs, {info['seconds']:.0f} s",
                flush=True,
            )
        score, err = score_cut_rows(rows, "predicted_rul_s")
        net_score, net_err = score_cut_rows(rows, "network_rul_s")
        per_seed.append(
            {
                "seed": seed,
                "phm2012_score": score,
                "rmse": err,
                "phm2012_score_network": net_score,
                "rmse_network": net_err,
                "coverage_90": float(np.mean([r["covered_90"] for r in rows])),
                "coverage_90_degradation": float(
                    np.mean([r["degradation_covered_90"] for r in rows])
                ),
                "folds": folds_info,
                "cuts": rows,
            }
        )
    assert model is not None
    (a_mean, a_std), (r_mean, r_std), (c_mean, c_std) = (
        spread([r[k] for r in per_seed]) for k in ("phm2012_score", "rmse", "coverage_90")
    )
    (n_mean, n_std), (nr_mean, nr_std), (dc_mean, dc_std) = (
        spread([r[k] for r in per_seed])
        for k in ("phm2012_score_network", "rmse_network", "coverage_90_degradation")
    )
    headline = {
        "phm2012_score": a_mean,
        "phm2012_score_std": a_std,
        "rmse": r_mean,
        "rmse_std": r_std,
        "phm2012_score_network": n_mean,
        "phm2012_score_network_std": n_std,
        "rmse_network": nr_mean,
        "rmse_network_std": nr_std,
        "coverage_90": c_mean,
        "coverage_90_std": c_std,
        "coverage_90_degradation": dc_mean,
        "coverage_90_degradation_std": dc_std,
        "protocol": "challenge" if challenge else "leave_one_bearing_out_all",
        "model": args.model,
        "config": model.config.name,
        "device": args.device,
        "n_seeds": len(seeds),
        "n_bearings": len({r["bearing"] for r in per_seed[0]["cuts"]}),
        "n_predictions": len(per_seed[0]["cuts"]),
        "n_params": model.n_params(),
        "n_params_active": model.n_params(active=True),
    }
    seconds = time.perf_counter() - t_start
    details = {
        "protocol": {
            "folds": "challenge: the six learning bearings train (one, chosen by seed, "
            "validates), each Test_set bearing is predicted at its last snapshot"
            if challenge
            else "leave one learning bearing out; the other five train, one of them "
            "(chosen by seed) validates: early stopping and the conformal 90% interval",
            "truncation_fractions": None if challenge else list(FEMTO_TRUNCATION_FRACTIONS),
            "prediction": "the earlier of the network's RUL (median of the last "
            f"{SMOOTH_SPAN} window predictions moved to the cut) and the degradation model's, "
            "fitted on the same training bearings; phm2012_score_network: the network alone",
            "coverage_90": "the network's conformal interval; coverage_90_degradation: the "
            "degradation model's",
            "target": f"RUL in hours (s / {FEMTO_RUL_UNIT_S:g}), horizon {FEMTO_RUL_HORIZON:g} h",
            "std": "sample standard deviation over seeds (0 for one seed)",
        },
        "seeds": seeds,
        "per_seed": per_seed,
        "model_config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(tcfg),
        "config_file": str(args.config or NETWORKS[args.model]),
        "seconds": seconds,
        "published": {"winner_phm2012_score": PUBLISHED_WINNER, "protocol": "challenge test set"},
    }
    label = f"{args.model} {model.config.name}, {len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
    table = markdown_table(
        ["PRONOSTIA (FEMTO)", "PHM 2012 score", "RMSE (s)", "90% interval coverage"],
        [
            [
                f"**ours: {label} + degradation (earlier of the two), {headline['protocol']} "
                "(measured)**",
                f"{fmt(a_mean, 3)} ± {fmt(a_std, 2)}",
                f"{fmt(r_mean)} ± {fmt(r_std, 3)}",
                f"{fmt(dc_mean, 3)} ± {fmt(dc_std, 2)} (degradation interval)",
            ],
            [
                f"ours: {label} alone, {headline['protocol']} (measured)",
                f"{fmt(n_mean, 3)} ± {fmt(n_std, 2)}",
                f"{fmt(nr_mean)} ± {fmt(nr_std, 3)}",
                f"{fmt(c_mean, 3)} ± {fmt(c_std, 2)}",
            ],
            [
                "PHM 2012 winner (published; different protocol: challenge test set)",
                "~0.31",
                "-",
                "-",
            ],
        ],
    )
    table += (
        f"\n\n{headline['n_predictions']} cuts over {headline['n_bearings']} bearings, "
        f"seeds {seeds}; "
        f"{headline['n_params']:,} parameters ({headline['n_params_active']:,} active per token) "
        f"on {args.device}. Total {seconds:.1f} s."
    )
    name = f"femto_challenge_{args.model}" if challenge else f"femto_{args.model}"
    write_result(args.out, name, headline, details, table)
    return 0
