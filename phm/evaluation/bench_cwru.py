"""`phm bench cwru`: CWRU bearing fault classification from drive-end vibration windows.

Protocols (phm.evaluation.protocols), both free of the leak of random window splits:
- time split (default): in every record the first 60% of the samples train and the last 40%
  test; no window crosses the cut.
- cross-load (`--train-load L --test-load M`): every window of the load-L records trains, every
  window of the load-M records tests, over the fault classes recorded at both loads.
Features: `spectral_features` per 2048-sample window (RMS, peak, crest, kurtosis, 16 log band
energies to 6 kHz, envelope-spectrum energy at BPFI/BPFO/BSF/FTF of the SKF 6205 at the
record's shaft speed). Model: `GbmFaultClassifier` with fixed hyperparameters.
Tasks: "10class" (normal + IR/B/OR@6 at 0.007/0.014/0.021 in, the commonly published task)
or "all" (every fault class in the folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from phm.datasets.cwru import DEFAULT_WINDOW, TEN_CLASSES, load_cwru
from phm.datasets.run import Run
from phm.errors import ConfigError
from phm.evaluation.bench import Stopwatch, fmt, markdown_table, write_result
from phm.evaluation.metrics import accuracy, macro_f1
from phm.evaluation.protocols import CWRU_TRAIN_FRACTION, cwru_cross_load, cwru_time_split
from phm.features.spectral import SKF_6205, spectral_features
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
    parser.add_argument("--model", choices=("gbm",), default="gbm")
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
    name = "cwru" + ("_all" if args.task == "all" else "")
    name += f"_load{args.train_load}to{args.test_load}" if cross else ""
    write_result(args.out, name, headline, details, table)
    return 0
