"""`phm bench recordings`: fault diagnosis on any labelled recordings, split by manifest columns.

    phm bench recordings --manifest M [--manifest M2] --train "rig=a,rpm=600|900" \
        --test "rig=b" [--label-column location] [--model linear|gbm|envelope|moe|dense] \
        [--context recording|window] --out DIR

`--manifest`: a manifest file (phm.datasets.recordings), or a folder holding `manifest.csv`, or a
CWRU folder (its catalogue becomes the manifest). With several manifests the column `dataset`
(the manifest's folder name, unless the manifest has one) tells them apart. Filters: `col=v1|v2`
joined by commas (and); a recording matching both sides is an error, and every window of a
recording stays on its side. Test recordings whose label never trains are listed and not scored.

Inputs (phm.features.orders): each recording resampled to 12 kHz, order-tracked by its rpm,
windows of 16 shaft revolutions; scale-free features (envelope line ratios at the defect orders,
order band shares, kurtosis, crest): the default (`--variant orders`), by design: they are the
inputs that do not move with speed, sampling rate or gain. `--variant auto` lets validation on
the training side choose between them and two controls in Hz on 2048-sample windows ("hz":
RMS-normalised per recording, "hz_raw": as recorded); a validation inside one rig cannot see a
change of rig, and picked "hz" where it then failed across rigs (docs/i17/recordings.md).
Validation: leave one value out of `--val-by` (default: the first of the columns of `--test`,
then dataset, rig, machine, load, rpm, that has >= 2 values among the training recordings and
whose every held-out group's labels train elsewhere), else the last 30% of the windows of every
training recording.

Model (default `--model linear`): logistic regression (C = 1, classes weighted equally) on the
standardised features; `--model gbm`: boosted trees. Context (default `--context recording`):
each window is described by the mean features of all windows of its recording: the recording's
own unlabelled windows, never its label (test recordings included: a transductive use of the
recording being diagnosed); `--context window`: each window alone. Linear + recording context
was chosen on training-side validation (docs/i17/recordings.md, part 2).

`--model moe|dense`: the network on order-tracked envelope windows, optionally from a
checkpoint pretrained on every manifest window (phm.bench.recordings_network).

`--model envelope`: no training; per window the largest defect-order line ratio (BPFO, BPFI,
2 x BSF; mean log peak-to-floor over harmonics 1..3) names the location, "normal" below the a
priori threshold 1.0 (a peak e times its neighbourhood). Labels must be locations (normal,
inner_race, outer_race, ball): use `--label-column location`.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from phm.bench.results import fmt, markdown_table, write_result
from phm.datasets.recordings import (
    KNOWN_BEARINGS,
    Recording,
    open_manifest,
    parse_filter,
    read_signal,
    select,
)
from phm.errors import ConfigError
from phm.features.orders import (
    OrderConfig,
    angle_windows,
    defect_lines,
    envelope_diagnosis,
    multiband_features,
    order_features,
    resample,
)
from phm.features.spectral import spectral_features
from phm.metrics import accuracy, macro_f1
from phm.models.classifiers import GbmFaultClassifier

VARIANTS = ("orders", "hz", "hz_raw")
LOCATIONS = ("normal", "inner_race", "outer_race", "ball")
ENVELOPE_THRESHOLD = 1.0
VAL_TAIL = 0.3
# Tried after the columns of --test for the validation split: conditions that change in use.
CONDITION_COLUMNS = ("dataset", "rig", "machine", "load", "rpm")
HZ_WINDOW, HZ_STRIDE = 2048, 1024
MODELS = ("linear", "gbm", "envelope", "moe", "dense")  # moe, dense: recordings_network
CONTEXTS = ("recording", "window")
LINEAR_C = 1.0  # inverse L2 strength of the logistic regression; fixed, chosen on validation


class LinearFaultClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression on standardised features, classes weighted equally; a missing
    feature (NaN) counts as 0. Deterministic: `random_state` is accepted and unused."""

    def __init__(self, C: float = LINEAR_C, random_state: int | None = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> LinearFaultClassifier:
        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=2000, class_weight="balanced"),
        ).fit(np.nan_to_num(np.asarray(X, dtype=np.float64)), y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.nan_to_num(np.asarray(X, dtype=np.float64)))


def make_model(name: str, max_iter: int, seed: int) -> ClassifierMixin:
    """A fresh trainable model: "linear" or "gbm"."""
    if name == "linear":
        return LinearFaultClassifier(random_state=seed)
    return GbmFaultClassifier(max_iter=max_iter, random_state=seed)


def in_context(X: np.ndarray, context: str) -> np.ndarray:
    """The windows (W, F) of one recording as the model sees them: as they are ("window") or
    each replaced by the mean over the recording's windows ("recording": its own unlabelled
    windows, never a label)."""
    if context == "window" or X.shape[0] == 0:
        return X
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
        mean = np.nanmean(X, axis=0, keepdims=True)
    return np.repeat(mean, X.shape[0], axis=0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `phm bench recordings`."""
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        required=True,
        help="manifest file or folder (repeat to combine)",
    )
    parser.add_argument("--train", required=True, help='training filter, e.g. "rig=a,rpm=600|900"')
    parser.add_argument("--test", required=True, help='test filter, e.g. "rig=b"')
    parser.add_argument("--label-column", default="label", help="manifest column to predict")
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="linear",
        help="linear (default): standardised logistic regression; gbm: boosted trees; "
        "envelope: no training; moe, dense: the network (phm.bench.recordings_network)",
    )
    parser.add_argument(
        "--context",
        choices=CONTEXTS,
        default="recording",
        help="recording (default): every window is described by the mean features of its "
        "recording's windows (no label used); window: each window on its own",
    )
    parser.add_argument(
        "--variant",
        choices=("auto", *VARIANTS),
        default="orders",
        help="inputs (default orders: order-tracked, scale-free); auto: chosen on validation",
    )
    parser.add_argument("--val-by", default=None, help="validation: leave one value out of this")
    parser.add_argument(
        "--bearing",
        default=None,
        help="bearing (e.g. 6205) of recordings whose manifest names none",
    )
    parser.add_argument(
        "--target-labels",
        type=int,
        default=0,
        help="labelled test windows per class added to training (scored: the others)",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=200, help="boosting iterations")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the trees")
    parser.add_argument("--out", type=Path, default=Path("data/bench"), help="result folder")
    from phm.bench.recordings_network import add_arguments as add_network_arguments

    add_network_arguments(parser)


# --- splits -------------------------------------------------------------------------------------
def split(recs: list[Recording], train: str, test: str) -> tuple[list[Recording], list[Recording]]:
    """(train, test) recordings; ConfigError if a recording is on both sides or a side is empty."""
    tr, te = select(recs, parse_filter(train)), select(recs, parse_filter(test))
    both = {r.key for r in tr} & {r.key for r in te}
    if both:
        names = ", ".join(sorted(Path(k).name for k in both)[:5])
        raise ConfigError(f"{len(both)} recording(s) match both --train and --test: {names}")
    if not tr or not te:
        raise ConfigError(f"the split leaves {len(tr)} training and {len(te)} test recordings")
    return tr, te


# --- features -----------------------------------------------------------------------------------
@dataclass
class RecordingFeatures:
    """Per-window features of one recording for every variant, and its envelope line ratios."""

    features: dict[str, np.ndarray]
    names: dict[str, list[str]]
    lines: dict[str, np.ndarray]


def recording_features(rec: Recording, cfg: OrderConfig) -> RecordingFeatures:
    """All variants' window features of one recording (DataFormatError naming its row)."""
    if rec.rpm is None:
        raise rec.error("rpm missing; order tracking needs the shaft speed", "rpm")
    if rec.defect_orders is None:
        raise rec.error(
            "no bearing geometry",
            "bearing",
            expected="a known bearing name or columns bpfi, bpfo, bsf, ftf",
        )
    x = read_signal(rec)
    w = angle_windows(x, rec.fs_hz, rec.rpm, cfg)
    if w.envelope.shape[0] == 0:
        raise rec.error(
            f"{x.size / rec.fs_hz:.2f} s at {rec.rpm:g} rpm is shorter than one window",
            "path",
            expected=f">= {cfg.window_revs} shaft revolutions",
        )
    feats, names = {}, {}
    F, n = order_features(w, rec.defect_orders)
    M, m = multiband_features(x, rec.fs_hz, rec.rpm, rec.defect_orders, cfg)
    feats["orders"], names["orders"] = np.hstack([F, M]), n + m
    common = resample(x, rec.fs_hz, cfg.common_fs_hz)
    starts = np.arange(0, common.size - HZ_WINDOW + 1, HZ_STRIDE)
    windows = np.stack([common[s : s + HZ_WINDOW] for s in starts])
    for variant, scale in (("hz_raw", 1.0), ("hz", np.sqrt(np.mean(common**2)))):
        feats[variant], names[variant] = spectral_features(windows / scale, cfg.common_fs_hz)
    return RecordingFeatures(feats, names, defect_lines(w, rec.defect_orders))


def stack(
    recs: list[Recording],
    feats: dict[str, RecordingFeatures],
    variant: str,
    tail: bool | None,
    context: str = "window",
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of the recordings' windows; tail True/False: only the last 30% / first 70% (the
    recording context is then that part's own)."""
    xs, ys = [], []
    for r in recs:
        X = feats[r.key].features[variant]
        if tail is not None:
            cut = round(X.shape[0] * (1 - VAL_TAIL))
            X = X[cut:] if tail else X[:cut]
        xs.append(in_context(X, context))
        ys += [r.label] * X.shape[0]
    return np.concatenate(xs), np.array(ys)


# --- validation ---------------------------------------------------------------------------------
def validation_column(train: list[Recording], test_filter: str, val_by: str | None) -> str | None:
    """The column whose values are left out one at a time, or None (time split)."""
    if val_by is not None:
        return val_by
    labels = {r.label for r in train}
    candidates = [*parse_filter(test_filter), *CONDITION_COLUMNS]
    for col in dict.fromkeys(candidates):
        groups: dict[str, set[str]] = {}
        for r in train:
            groups.setdefault(r.fields.get(col, ""), set()).add(r.label)
        if len(groups) < 2:
            continue
        if all(labels <= set().union(*(g for k, g in groups.items() if k != v)) for v in groups):
            return col
    return None


def validate(
    train: list[Recording],
    feats: dict[str, RecordingFeatures],
    column: str | None,
    max_iter: int,
    seed: int,
    model_name: str = "gbm",
    context: str = "window",
) -> dict[str, float]:
    """Mean validation accuracy of every variant on the training recordings only."""
    scores = {}
    for variant in VARIANTS:
        if column is None:
            Xf, yf = stack(train, feats, variant, False, context)
            Xv, yv = stack(train, feats, variant, True, context)
            folds = [(Xf, yf, Xv, yv)]
        else:
            folds = []
            for value in sorted({r.fields.get(column, "") for r in train}):
                held = [r for r in train if r.fields.get(column, "") == value]
                rest = [r for r in train if r.fields.get(column, "") != value]
                folds.append(
                    (
                        *stack(rest, feats, variant, None, context),
                        *stack(held, feats, variant, None, context),
                    )
                )
        accs = []
        for Xf, yf, Xv, yv in folds:
            model = make_model(model_name, max_iter, seed).fit(Xf, yf)
            accs.append(accuracy(yv, model.predict(Xv)))
        scores[variant] = float(np.mean(accs))
    return scores


# --- the bench ----------------------------------------------------------------------------------
def load_recordings(
    manifests: list[Path], label_column: str, bearing: str | None = None
) -> list[Recording]:
    """Every manifest's recordings; `dataset` = the manifest folder's name where absent;
    `bearing` (a KNOWN_BEARINGS name) for recordings without geometry."""
    from dataclasses import replace

    if bearing is not None and bearing.lower() not in KNOWN_BEARINGS:
        raise ConfigError(f"--bearing {bearing!r}: expected one of {sorted(KNOWN_BEARINGS)}")

    out: list[Recording] = []
    for m in manifests:
        recs = open_manifest(m, label_column=label_column, require_rpm=True)
        name = (m if m.is_dir() else m.parent).name
        out += [
            r if "dataset" in r.fields else replace(r, fields={**r.fields, "dataset": name})
            for r in recs
        ]
    if bearing is not None:
        orders = KNOWN_BEARINGS[bearing.lower()]
        out = [r if r.defect_orders else replace(r, defect_orders=orders) for r in out]
    if label_column != "label":
        out = [replace(r, label=r.fields[label_column]) for r in out]
    keys = [r.key for r in out]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(f"{dup} is listed in more than one manifest")
    return out


def run(args: argparse.Namespace) -> int:
    """Split, (validate and) fit on the training side, score the test recordings once."""
    from threadpoolctl import threadpool_limits

    if args.model in ("moe", "dense"):
        from phm.bench.recordings_network import run as run_network

        return run_network(args)
    if args.init is not None or args.pretrain_to is not None:
        raise ConfigError("--init and --pretrain-to need a network: --model moe or dense")
    t0 = time.perf_counter()
    recs = load_recordings(args.manifest, args.label_column, args.bearing)
    train, test = split(recs, args.train, args.test)
    train_labels = {r.label for r in train}
    dropped = sorted({r.label for r in test} - train_labels)
    test = [r for r in test if r.label in train_labels]
    if not test:
        raise ConfigError(f"no test recording has a label seen in training (test: {dropped})")
    if args.model == "envelope" and args.target_labels:
        raise ConfigError("--target-labels needs a trained model (--model linear or gbm)")
    if args.model == "envelope":
        bad = sorted({r.label for r in train + test} - set(LOCATIONS))
        if bad:
            raise ConfigError(
                f"--model envelope predicts locations {LOCATIONS}; labels {bad} are "
                "not: use --label-column location"
            )
    cfg = OrderConfig()
    feats = {r.key: recording_features(r, cfg) for r in train + test}
    t_feat = time.perf_counter() - t0
    val_column, val_scores = None, {}
    per_seed = []
    with threadpool_limits(args.threads):
        if args.model == "envelope":
            variant = "envelope"
            seeds = [args.seed]
            competing = tuple(loc for loc in LOCATIONS if loc in train_labels)
            preds = [
                envelope_diagnosis(feats[r.key].lines, competing, ENVELOPE_THRESHOLD) for r in test
            ]
            per_seed.append(_score(test, preds, args.seed))
        else:
            seeds = list(range(args.seed, args.seed + args.seeds))
            variant = args.variant
            if variant == "auto":
                val_column = validation_column(train, args.test, args.val_by)
                val_scores = validate(
                    train, feats, val_column, args.max_iter, args.seed, args.model, args.context
                )
                variant = max(VARIANTS, key=lambda v: val_scores[v])  # first wins ties
            X, y = stack(train, feats, variant, None, args.context)
            for seed in seeds:
                Xs, ys, masks = X, y, [None] * len(test)
                if args.target_labels:
                    Xt, yt, masks = target_windows(
                        test, feats, variant, args.target_labels, seed, args.context
                    )
                    Xs, ys = np.concatenate([X, Xt]), np.concatenate([y, yt])
                model = make_model(args.model, args.max_iter, seed).fit(Xs, ys)
                preds = []
                for r, m in zip(test, masks, strict=True):
                    Xr = in_context(feats[r.key].features[variant], args.context)
                    Xr = Xr if m is None else Xr[m]
                    # every window of a short recording can be labelled or next to one
                    preds.append(model.predict(Xr) if len(Xr) else np.array([], dtype=object))
                per_seed.append(_score(test, preds, seed))
    seconds = time.perf_counter() - t0
    headline = {
        **seed_summary(per_seed),
        "model": args.model,
        "context": args.context if args.model != "envelope" else None,
        "variant": variant,
        "train": args.train,
        "test": args.test,
        "label_column": args.label_column,
        "n_classes": len(train_labels),
        "n_train_recordings": len(train),
        "n_test_recordings": len(test),
        "n_seeds": len(seeds),
        "target_labels_per_class": args.target_labels,
    }
    details = {
        "manifests": [str(m) for m in args.manifest],
        "validation": {
            "column": val_column or f"time (last {VAL_TAIL:.0%} of each recording)",
            "accuracy_by_variant": val_scores,
        }
        if val_scores
        else None,
        "dropped_test_labels": dropped,
        "train_recordings": [r.key for r in train],
        "test_recordings": [r.key for r in test],
        "per_seed": per_seed,
        "order_config": cfg.__dict__,
        "envelope_threshold": ENVELOPE_THRESHOLD if args.model == "envelope" else None,
        "seconds": {"features": t_feat, "total": seconds},
    }
    validation = (
        f"; validation ({details['validation']['column']}): "
        + ", ".join(f"{k} {fmt(v, 3)}" for k, v in val_scores.items())
        if val_scores
        else ""
    )
    table = result_table(
        f"{args.model} ({variant})",
        headline,
        args,
        len(train),
        len(test),
        validation,
        dropped,
        seconds,
    )
    write_result(args.out, f"recordings_{args.model}", headline, details, table)
    return 0


def seed_summary(per_seed: list[dict[str, Any]]) -> dict[str, float]:
    """Window accuracy (mean, sample std over seeds), macro-F1 and recording vote (means)."""
    accs = [s["accuracy"] for s in per_seed]
    return {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
        "macro_f1": float(np.mean([s["macro_f1"] for s in per_seed])),
        "recording_accuracy": float(np.mean([s["recording_accuracy"] for s in per_seed])),
    }


def result_table(
    what: str,
    headline: dict[str, Any],
    args: argparse.Namespace,
    n_train: int,
    n_test: int,
    extra: str,
    dropped: list[str],
    seconds: float,
) -> str:
    """The markdown table and split line every `phm bench recordings` model prints; `extra`
    is appended to the split line (validation scores, epochs)."""
    rows: list[list[Any]] = [
        [
            what,
            f"{headline['accuracy']:.3f} ± {headline['accuracy_std']:.3f}",
            fmt(headline["macro_f1"], 3),
            fmt(headline["recording_accuracy"], 3),
        ]
    ]
    table = markdown_table(["model", "window accuracy", "macro F1", "recording vote"], rows)
    return table + (
        f"\n\ntrain `{args.train}` ({n_train} recordings) -> test `{args.test}` ({n_test}), "
        f"label `{args.label_column}`, {headline['n_classes']} classes, {headline['n_seeds']} "
        f"seed(s), {args.target_labels} labelled test windows per class{extra}"
        + (f"; test labels never trained, not scored: {', '.join(dropped)}" if dropped else "")
        + f". Total {seconds:.1f} s."
    )


def target_windows(
    test: list[Recording],
    feats: dict[str, RecordingFeatures],
    variant: str,
    per_class: int,
    seed: int,
    context: str = "window",
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Few-label transfer: `per_class` labelled test windows per class, (X, y), and per test
    recording the mask of windows still scored (none overlaps a labelled one).

    Per class, recordings in a seeded random order give one window each in turn; within a
    recording the labelled windows are every other window from a seeded random start (windows
    overlap by half), and every window overlapping them leaves the scored set."""
    rng = np.random.default_rng(seed)
    taken = {r.key: 0 for r in test}
    starts = {}
    for r in test:
        n = feats[r.key].features[variant].shape[0]
        starts[r.key] = int(rng.integers(0, n))
    for label in sorted({r.label for r in test}):
        recs = [test[i] for i in rng.permutation(len(test)) if test[i].label == label]
        need = per_class
        while need > 0:
            progress = False
            for r in recs:
                n = feats[r.key].features[variant].shape[0]
                if need and taken[r.key] < (n + 1) // 2:
                    taken[r.key] += 1
                    need -= 1
                    progress = True
            if not progress:
                raise ConfigError(
                    f"class {label!r} has fewer than {per_class} separate test windows"
                )
    xs, ys, masks = [], [], []
    for r in test:
        X = in_context(feats[r.key].features[variant], context)
        n, k = X.shape[0], taken[r.key]
        start = min(starts[r.key], max(n - 2 * k + 1, 0))
        labelled = start + 2 * np.arange(k)
        xs.append(X[labelled])
        ys += [r.label] * k
        keep = np.ones(n, dtype=bool)
        if k:
            keep[max(start - 1, 0) : start + 2 * k] = False
        masks.append(keep)
    return np.concatenate(xs), np.array(ys), masks


def _score(test: list[Recording], preds: list[np.ndarray], seed: int) -> dict[str, Any]:
    y = np.concatenate([[r.label] * p.shape[0] for r, p in zip(test, preds, strict=True)])
    p = np.concatenate(preds)
    vote = []
    for r, pr in zip(test, preds, strict=True):
        if pr.size == 0:
            continue
        values, counts = np.unique(pr, return_counts=True)
        vote.append(values[counts.argmax()] == r.label)
    labels = sorted(set(y) | set(p))
    return {
        "seed": seed,
        "accuracy": accuracy(y, p),
        "macro_f1": macro_f1(y, p),
        "recording_accuracy": float(np.mean(vote)),
        "confusion": {
            "labels": labels,
            "rows_true_cols_pred": [
                [int(np.sum((y == t) & (p == q))) for q in labels] for t in labels
            ],
        },
        "n_test_windows": int(y.size),
    }
