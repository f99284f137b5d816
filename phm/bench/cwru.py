"""`phm bench cwru`: CWRU bearing fault classification from drive-end vibration windows.

Protocols (phm.datasets.splits), both free of the leak of random window splits:
- time split (default): in every record the first 60% of the samples train and the last 40%
  test; no window crosses the cut.
- cross-load (`--train-load L --test-load M`): every window of the load-L records trains, every
  window of the load-M records tests, over the fault classes recorded at both loads.
Features: `spectral_features` per 2048-sample window (RMS, peak, crest, kurtosis, 16 log band
energies to 6 kHz, envelope-spectrum energy at BPFI/BPFO/BSF/FTF of the SKF 6205 at the
record's shaft speed). Model: `GbmFaultClassifier` with fixed hyperparameters.
Tasks: "10class" (normal + IR/B/OR@6 at 0.007/0.014/0.021 in, the commonly published task)
or "all" (every fault class in the folder).

`--model moe|dense` instead trains the network of `--config` on the raw waveform (windows of
2048 samples without overlap, each cut into spectral tokens; `--window`, `--stride`,
`--n-bands`, `--max-iter` and `--train-fraction` are the baseline's and do not apply) with
`phm.models.train`, once per seed (`--seeds N`); the last 20% (by time) of each training
record validates for early stopping. Accuracy and macro-F1: mean and std over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from phm.bench.networks import NETWORKS, add_network_arguments, network_configs, spread
from phm.bench.results import Stopwatch, fmt, markdown_table, write_result
from phm.datasets.cwru import DEFAULT_WINDOW, TEN_CLASSES, load_cwru
from phm.datasets.run import Run
from phm.datasets.splits import CWRU_TRAIN_FRACTION, cwru_cross_load, cwru_time_split
from phm.errors import ConfigError
from phm.features.spectral import SKF_6205, spectral_features
from phm.metrics import accuracy, macro_f1
from phm.models.classifiers import GbmFaultClassifier

PUBLISHED = (
    "random window splits, 10-class task (published, leaky: windows of one record on both sides)",
    "~0.99-1.00",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench cwru`."""
    parser.add_argument(
        "--data", type=Path, default=None, help="cwru folder or its parent (default: $PHM_DATA_DIR)"
    )
    parser.add_argument("--model", choices=("gbm", *NETWORKS), default="gbm")
    parser.add_argument("--train-load", type=int, default=None, help="cross-load: train load hp")
    parser.add_argument("--test-load", type=int, default=None, help="cross-load: test load hp")
    parser.add_argument("--task", choices=("10class", "all"), default="10class")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="samples per window")
    parser.add_argument("--stride", type=int, default=1024, help="samples between windows")
    parser.add_argument("--train-fraction", type=float, default=CWRU_TRAIN_FRACTION)
    parser.add_argument("--n-bands", type=int, default=16, help="FFT band energies per window")
    parser.add_argument("--max-iter", type=int, default=200, help="boosting iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    add_network_arguments(parser)


def run_features(run: Run, n_bands: int) -> tuple[np.ndarray, list[str]]:
    """(windows, features) matrix of one CWRU run and the feature names."""
    assert run.waveforms is not None
    return spectral_features(
        run.waveforms.data,
        run.waveforms.sampling_rate_hz,
        channels=run.waveforms.channels,
        n_bands=n_bands,
        shaft_hz=run.meta["rpm"] / 60.0,
        geometry=SKF_6205,
    )


def make_model(name: str, seed: int, max_iter: int = 200) -> GbmFaultClassifier:
    """The fixed-hyperparameter classifier named `name`."""
    if name == "gbm":
        return GbmFaultClassifier(max_iter=max_iter, random_state=seed)
    raise ConfigError(f"unknown model {name!r}; expected 'gbm'")


def _stack(parts: list[np.ndarray], width: int) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0, width))


def run(args: argparse.Namespace) -> int:
    """Load, split by the chosen protocol, fit on train windows, score the test windows."""
    cross = args.train_load is not None or args.test_load is not None
    if cross and (args.train_load is None or args.test_load is None):
        raise ConfigError("cross-load needs both --train-load and --test-load")
    if args.model in NETWORKS:
        return run_network(args)
    watch = Stopwatch()
    with watch("load"):
        classes = TEN_CLASSES if args.task == "10class" else None
        runs = load_cwru(args.data, window=args.window, stride=args.stride, classes=classes)
    with watch("features"):
        feats = {r.asset_id: run_features(r, args.n_bands) for r in runs}
        names = next(iter(feats.values()))[1]
    Xtr, ytr, Xte, yte, files = [], [], [], [], {"train": [], "test": []}
    dropped: tuple[str, ...] = ()
    if cross:
        split = cwru_cross_load(runs, args.train_load, args.test_load)
        protocol = f"cross_load_{args.train_load}_to_{args.test_load}"
        dropped = split.dropped
        for side, group, X, y in (("train", split.train, Xtr, ytr), ("test", split.test, Xte, yte)):
            for r in group:
                X.append(feats[r.asset_id][0])
                y += [r.fault_class] * X[-1].shape[0]
                files[side].append(r.meta["file_number"])
    else:
        protocol = "time_split"
        for r in runs:
            s = cwru_time_split(r, args.train_fraction)
            Xtr.append(feats[r.asset_id][0][s.train])
            Xte.append(feats[r.asset_id][0][s.test])
            ytr += [r.fault_class] * s.train.size
            yte += [r.fault_class] * s.test.size
            files["train"].append(r.meta["file_number"])
            files["test"].append(r.meta["file_number"])
    X_train, X_test = _stack(Xtr, len(names)), _stack(Xte, len(names))
    if X_train.shape[0] == 0 or X_test.shape[0] == 0:
        raise ConfigError(f"protocol {protocol} leaves no train or no test windows here")
    with watch("fit"):
        model = make_model(args.model, args.seed, args.max_iter).fit(X_train, np.array(ytr))
    with watch("predict"):
        pred = model.predict(X_test)

    y_test = np.array(yte)
    labels = sorted(set(ytr) | set(yte))
    per_class = {c: float(np.mean(pred[y_test == c] == c)) for c in labels if np.any(y_test == c)}
    confusion = [[int(np.sum((y_test == t) & (pred == p))) for p in labels] for t in labels]
    acc, f1 = accuracy(y_test, pred), macro_f1(y_test, pred)
    headline = {
        "accuracy": acc,
        "macro_f1": f1,
        "protocol": protocol,
        "n_classes": len(set(yte)),
        "task": args.task,
        "model": args.model,
        "n_train_windows": int(X_train.shape[0]),
        "n_test_windows": int(X_test.shape[0]),
    }
    details = {
        "per_class_accuracy": per_class,
        "confusion": {"labels": labels, "rows_true_cols_pred": confusion},
        "dropped_classes": list(dropped),
        "files": files,
        "window": args.window,
        "stride": args.stride,
        "train_fraction": None if cross else args.train_fraction,
        "features": names,
        "model_params": model.get_params(),
        "seconds": watch.seconds,
        "seed": args.seed,
        "published": {"protocol": PUBLISHED[0], "accuracy": PUBLISHED[1]},
    }
    rows: list[list[Any]] = [[f"**ours: {args.model}, {protocol} (measured)**", acc, f1]]
    rows.append([PUBLISHED[0], PUBLISHED[1], "-"])
    table = markdown_table([f"CWRU {args.task}", "accuracy", "macro F1"], rows)
    table += (
        f"\n\n{headline['n_classes']} classes, {X_train.shape[0]} train / {X_test.shape[0]} test "
        f"windows of {args.window} samples (stride {args.stride}) at 12 kHz"
        + (f"; dropped (one load only): {', '.join(dropped)}" if dropped else "")
        + ". Lowest per-class accuracy: "
        + ", ".join(
            f"{c} {fmt(v, 3)}" for c, v in sorted(per_class.items(), key=lambda kv: kv[1])[:3]
        )
        + f". Total {sum(watch.seconds.values()):.1f} s."
    )
    write_result(args.out, result_name(args), headline, details, table)
    return 0


def result_name(args: argparse.Namespace) -> str:
    """cwru[_all][_loadLtoM][_moe|_dense]: one result file per task, protocol and model."""
    name = "cwru" + ("_all" if args.task == "all" else "")
    if args.train_load is not None:
        name += f"_load{args.train_load}to{args.test_load}"
    return name + ("" if args.model == "gbm" else f"_{args.model}")


def run_network(args: argparse.Namespace) -> int:
    """Train `--model moe|dense` once per seed on the chosen protocol, score the test windows."""
    from phm.models.prepare import CwruOptions, prepare_cwru
    from phm.models.train import fault_report, predict, train_prepared

    cfg, tcfg = network_configs(args)
    cross = args.train_load is not None
    classes = TEN_CLASSES if args.task == "10class" else None
    seeds = list(range(args.seed, args.seed + args.seeds))
    t_start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    model = prep = None
    for seed in seeds:
        t0 = time.perf_counter()
        data_args = CwruOptions(
            data=args.data, train_load=args.train_load, test_load=args.test_load, classes=classes
        )
        prep = prepare_cwru(data_args, tcfg, seed)
        assert prep.test is not None
        model, fitted = train_prepared(prep, cfg, tcfg, args.device, seed)
        pred = predict(model, prep.test, args.device, tcfg.eval_batch_size)
        truth = prep.test.targets["fault"]
        report = fault_report(pred, truth)
        label = pred["fault_prob"].argmax(1)
        names = list(prep.header.classes)
        per_class = {
            c: float(np.mean(label[truth == i] == i))
            for i, c in enumerate(names)
            if np.any(truth == i)
        }
        confusion = [
            [int(np.sum((truth == t) & (label == q))) for q in range(len(names))]
            for t in range(len(names))
        ]
        runs.append(
            {
                "seed": seed,
                "accuracy": report["accuracy"],
                "macro_f1": report["macro_f1"],
                "per_class_accuracy": per_class,
                "confusion": {"labels": names, "rows_true_cols_pred": confusion},
                "best_epoch": fitted.best_epoch,
                "epochs_run": len(fitted.history),
                "val_loss": fitted.best_score,
                "val_accuracy": fitted.history[fitted.best_epoch].get("val_accuracy"),
                "train_windows_per_s": fitted.windows_per_s,
                "train_seconds": fitted.train_seconds,
                "seconds": time.perf_counter() - t0,
                "load_cv_per_layer": model.expert_load_cv(),
            }
        )
    assert model is not None and prep is not None and prep.test is not None
    (a_mean, a_std), (f_mean, f_std) = (
        spread([r[k] for r in runs]) for k in ("accuracy", "macro_f1")
    )
    protocol = f"cross_load_{args.train_load}_to_{args.test_load}" if cross else "time_split"
    headline = {
        "accuracy": a_mean,
        "accuracy_std": a_std,
        "macro_f1": f_mean,
        "macro_f1_std": f_std,
        "protocol": protocol,
        "n_classes": len(list(prep.header.classes)),
        "task": args.task,
        "model": args.model,
        "config": model.config.name,
        "device": args.device,
        "n_seeds": len(seeds),
        "n_train_windows": len(prep.fit) + len(prep.val),
        "n_test_windows": len(prep.test),
        "n_params": model.n_params(),
        "n_params_active": model.n_params(active=True),
    }
    details = {
        "protocol": prep.extra["protocol"],
        "dropped_classes": prep.extra["dropped_classes"],
        "files": {"train": prep.extra["train_files"], "test": prep.extra["test_files"]},
        "window": prep.header.window,
        "snapshot": prep.header.snapshot,
        "n_fit_windows": len(prep.fit),
        "n_val_windows": len(prep.val),
        "seeds": seeds,
        "per_seed": runs,
        "std": "sample standard deviation over seeds (0 for one seed)",
        "model_config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(tcfg),
        "config_file": str(args.config or NETWORKS[args.model]),
        "seconds": time.perf_counter() - t_start,
        "published": {"protocol": PUBLISHED[0], "accuracy": PUBLISHED[1]},
    }
    what = f"{args.model} {model.config.name}, {protocol}, {len(seeds)} seed(s)"
    rows: list[list[Any]] = [
        [
            f"**ours: {what} (measured)**",
            f"{fmt(a_mean)} ± {fmt(a_std, 2)}",
            f"{fmt(f_mean)} ± {fmt(f_std, 2)}",
        ],
        [PUBLISHED[0], PUBLISHED[1], "-"],
    ]
    table = markdown_table([f"CWRU {args.task}", "accuracy", "macro F1"], rows)
    dropped = prep.extra["dropped_classes"]
    table += (
        f"\n\n{headline['n_classes']} classes, {headline['n_train_windows']} train / "
        f"{headline['n_test_windows']} test windows of {prep.header.window} samples (no "
        f"overlap) at 12 kHz, tokens of {prep.header.snapshot} samples"
        + (f"; dropped (one load only): {', '.join(dropped)}" if dropped else "")
        + f"; {headline['n_params']:,} parameters ({headline['n_params_active']:,} active per "
        f"token) on {args.device}. Total {details['seconds']:.1f} s."
    )
    write_result(args.out, result_name(args), headline, details, table)
    return 0
