"""`phm bench recordings --model moe|dense`: the network on the windows of manifest recordings.

    phm bench recordings --manifest M --train "rig=a" --test "rig=b" --model moe \
        [--target-labels K] [--init CKPT] [--epochs E]
    phm bench recordings --manifest M --train "rig=a" --test "rig=b" --model moe \
        --pretrain-to CKPT [--epochs E]

Inputs: the order-tracked envelope windows of the features path (phm.features.orders: each
recording resampled to 12 kHz, band-passed and demodulated, angle-resampled to 64 samples per
shaft revolution, windows of 16 revolutions every 8), divided by the recording's own envelope
RMS so gain never reaches the model; one vibration channel, cut into tokens of `SNAPSHOT`
samples (2 revolutions: the token spectra are in orders of shaft speed whatever the rpm).

Training: the training recordings; validation (early stopping) is one seeded recording per
class with >= 2 training recordings (else the last 30% of every training recording's windows).
Test: every window of the test recordings whose label trains. `--target-labels K`: as for the
linear model (`recordings.target_windows`): K labelled test windows per class join the fit
set; they and their overlapping neighbours are not scored.

`--pretrain-to CKPT`: masked reconstruction (phm.models.pretrain) on every window of every
recording of the manifests, train and test sides (labels unused: the test recordings'
unlabelled windows are used, a transductive choice), 10% of the windows (seeded) for the
held-out loss, with the [train] epochs, batch size and warmup of the config; writes a
`phm pretrain` checkpoint (source "recordings") for `--init`.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from phm.bench.recordings import (
    RecordingFeatures,
    _score,
    load_recordings,
    result_table,
    seed_summary,
    split,
    target_windows,
)
from phm.bench.results import write_result
from phm.datasets.recordings import Recording, read_signal
from phm.errors import ConfigError
from phm.features.orders import OrderConfig, angle_windows

NETWORK_MODELS = ("moe", "dense")
SNAPSHOT = 128  # envelope samples per token: 2 shaft revolutions at 64 samples per revolution
VAL_TAIL = 0.3
PRETRAIN_VAL = 0.1  # share of windows (seeded) held out for the pretraining loss
SOURCE = "recordings"  # the pretrained checkpoint's source name (CheckpointHeader.dataset)
CONFIGS = {"moe": "models/recordings.toml", "dense": "models/dense-recordings.toml"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the network path (the others are `phm bench recordings`' own)."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="moe/dense: model TOML (default: the shipped models/recordings.toml, "
        "dense-recordings.toml for dense)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="moe/dense: override epochs")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--init", default=None, help="moe/dense: start from a `phm pretrain` checkpoint"
    )
    parser.add_argument(
        "--pretrain-to",
        type=Path,
        default=None,
        help="moe/dense: pretrain on every manifest window (labels unused), write this checkpoint",
    )


def recording_windows(rec: Recording, cfg: OrderConfig) -> np.ndarray:
    """(W, L) float32: the recording's order-tracked envelope windows over its envelope RMS."""
    if rec.rpm is None:
        raise rec.error("rpm missing; order tracking needs the shaft speed", "rpm")
    w = angle_windows(read_signal(rec), rec.fs_hz, rec.rpm, cfg).envelope
    if w.shape[0] == 0:
        raise rec.error(
            f"shorter than one window at {rec.rpm:g} rpm",
            "path",
            expected=f">= {cfg.window_revs} shaft revolutions",
        )
    scale = float(np.sqrt(np.mean(w**2)))
    return (w / (scale if scale > 0 else 1.0)).astype(np.float32)


def window_set(
    windows: list[np.ndarray], labels: list[int], groups: list[str], snapshot: int = SNAPSHOT
):
    """WindowSet of (n_i, L) window blocks: `vibration` (N, S, 1, snapshot), target `fault`."""
    from phm.models.data import WindowSet

    x = np.concatenate(windows)
    n, length = x.shape
    s = length // snapshot
    vib = x[:, : s * snapshot].reshape(n, s, 1, snapshot)
    pairs = list(zip(windows, labels, groups, strict=True))
    y = np.concatenate([np.full(w.shape[0], lab, np.int64) for w, lab, _ in pairs])
    g = np.concatenate([np.full(w.shape[0], grp) for w, _, grp in pairs])
    return WindowSet({"vibration": np.ascontiguousarray(vib)}, {"fault": y}, g)


def validation_recordings(train: list[Recording], seed: int) -> set[str]:
    """Keys of one seeded training recording per class that has >= 2 of them."""
    rng = np.random.default_rng(seed)
    out = set()
    for label in sorted({r.label for r in train}):
        recs = [r for r in train if r.label == label]
        if len(recs) >= 2:
            out.add(recs[int(rng.integers(len(recs)))].key)
    return out


def prepared(
    train: list[Recording],
    test: list[Recording],
    wins: dict[str, np.ndarray],
    classes: list[str],
    target_labels: int,
    seed: int,
):
    """(Prepared, per-test-recording mask of scored windows)."""
    from phm.models.checkpoint import CheckpointHeader
    from phm.models.data import Prepared

    held = validation_recordings(train, seed)
    fit_w, fit_y, fit_g, val_w, val_y, val_g = [], [], [], [], [], []
    for r in train:
        w, c = wins[r.key], classes.index(r.label)
        if held:
            parts = [(w, r.key not in held)]
        else:
            cut = round(w.shape[0] * (1 - VAL_TAIL))
            parts = [(w[:cut], True), (w[cut:], False)]
        for part, fits in parts:
            (fit_w if fits else val_w).append(part)
            (fit_y if fits else val_y).append(c)
            (fit_g if fits else val_g).append(r.key)
    masks: list[np.ndarray | None] = [None] * len(test)
    if target_labels:
        feats = {r.key: RecordingFeatures({"w": wins[r.key]}, {}, {}) for r in test}
        xt, yt, masks = target_windows(test, feats, "w", target_labels, seed)  # type: ignore[assignment]
        for label in sorted(set(yt)):
            fit_w.append(xt[yt == label].astype(np.float32))
            fit_y.append(classes.index(label))
            fit_g.append(f"target:{label}")
    test_w = [
        wins[r.key][m if m is not None else slice(None)] for r, m in zip(test, masks, strict=True)
    ]
    length = next(iter(wins.values())).shape[1]
    prep = Prepared(
        fit=window_set(fit_w, fit_y, fit_g),
        val=window_set(val_w, val_y, val_g),
        test=window_set(test_w, [classes.index(r.label) for r in test], [r.key for r in test]),
        config_updates={
            "vibration_channels": 1,
            "process_channels": 0,
            "max_positions": length // SNAPSHOT,
            "n_classes": len(classes),
            "rul_head": "none",
        },
        header=CheckpointHeader(
            dataset=SOURCE,
            asset_type="bearing",
            classes=tuple(classes),
            window=length,
            snapshot=SNAPSHOT,
        ),
        extra={"val_recordings": sorted(held)},
    )
    return prep, masks


def pretrain_all(args: argparse.Namespace, recs: list[Recording], wins, cfg, tcfg) -> int:
    """Masked reconstruction on every window of every recording; writes `args.pretrain_to`."""
    from phm.models.pretrain import PretrainConfig, pretrain, save_pretrained, source_from_windows

    t0 = time.perf_counter()
    keys = [r.key for r in recs]
    x = [wins[k] for k in keys]
    ws = window_set(x, [0] * len(x), keys)
    rng = np.random.default_rng(args.seed)
    is_val = rng.random(len(ws)) < PRETRAIN_VAL
    src_cfg = dataclasses.replace(
        cfg,
        vibration_channels=1,
        process_channels=0,
        max_positions=x[0].shape[1] // SNAPSHOT,
        n_classes=0,
        rul_head="none",
    )
    pcfg = PretrainConfig(
        epochs=tcfg.epochs, batch_size=tcfg.batch_size, warmup_steps=tcfg.warmup_steps
    )
    source = source_from_windows(
        SOURCE,
        src_cfg,
        ws.take(np.flatnonzero(~is_val)),
        ws.take(np.flatnonzero(is_val)),
        pcfg.max_windows,
        args.seed,
    )
    model, result = pretrain([source], cfg, pcfg, args.device, args.seed)
    save_pretrained(
        args.pretrain_to,
        model,
        {
            "datasets": [SOURCE],
            "manifests": [str(m) for m in args.manifest],
            "n_windows": len(ws),
            "labels_used": False,
            "history": result.history,
            "seconds": time.perf_counter() - t0,
        },
    )
    print(f"pretrained on {len(ws)} windows of {len(recs)} recordings -> {args.pretrain_to}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Train the network per seed on the training recordings, score the test recordings."""
    from phm.bench.networks import network_configs
    from phm.models.train import predict, train_prepared

    t0 = time.perf_counter()
    from phm.resources import resource_path

    args.members = getattr(args, "members", None)
    if args.config is None:
        args.config = resource_path(CONFIGS[args.model])
    cfg, tcfg = network_configs(args)
    recs = load_recordings(args.manifest, args.label_column, args.bearing)
    ocfg = OrderConfig()
    if args.pretrain_to is not None:
        wins = {r.key: recording_windows(r, ocfg) for r in recs}
        return pretrain_all(args, recs, wins, cfg, tcfg)
    train, test = split(recs, args.train, args.test)
    train_labels = {r.label for r in train}
    dropped = sorted({r.label for r in test} - train_labels)
    test = [r for r in test if r.label in train_labels]
    if not test:
        raise ConfigError(f"no test recording has a label seen in training (test: {dropped})")
    wins = {r.key: recording_windows(r, ocfg) for r in train + test}
    classes = sorted(train_labels)
    seeds = list(range(args.seed, args.seed + args.seeds))
    per_seed = []
    model = prep = None
    for seed in seeds:
        prep, masks = prepared(train, test, wins, classes, args.target_labels, seed)
        model, fitted = train_prepared(prep, cfg, tcfg, args.device, seed, progress=False)
        assert prep.test is not None
        label = predict(model, prep.test, args.device, tcfg.eval_batch_size)["fault_prob"].argmax(1)
        preds, start = [], 0
        for r, m in zip(test, masks, strict=True):
            n = int(wins[r.key].shape[0] if m is None else m.sum())
            preds.append(np.array(classes)[label[start : start + n]])
            start += n
        score = _score(test, preds, seed)
        score |= {"best_epoch": fitted.best_epoch, "epochs_run": len(fitted.history)}
        per_seed.append(score)
    assert model is not None and prep is not None
    seconds = time.perf_counter() - t0
    headline = {
        **seed_summary(per_seed),
        "model": args.model,
        "config": model.config.name,
        "variant": "order_envelope_windows",
        "init": tcfg.init or None,
        "train": args.train,
        "test": args.test,
        "label_column": args.label_column,
        "n_classes": len(classes),
        "n_train_recordings": len(train),
        "n_test_recordings": len(test),
        "n_seeds": len(seeds),
        "target_labels_per_class": args.target_labels,
        "epochs": tcfg.epochs,
    }
    details: dict[str, Any] = {
        "manifests": [str(m) for m in args.manifest],
        "dropped_test_labels": dropped,
        "validation_recordings": prep.extra["val_recordings"] or f"last {VAL_TAIL:.0%} of each",
        "per_seed": per_seed,
        "order_config": ocfg.__dict__,
        "snapshot": SNAPSHOT,
        "model_config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(tcfg),
        "n_params": model.n_params(),
        "seconds": seconds,
    }
    what = f"{args.model} {model.config.name}" + (" + pretrained init" if tcfg.init else "")
    table = result_table(
        what, headline, args, len(train), len(test), f", {tcfg.epochs} epochs", dropped, seconds
    )
    write_result(args.out, f"recordings_{args.model}", headline, details, table)
    return 0
