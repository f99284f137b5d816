"""A running plant's own history as training data for its pump model (`--dataset lake`).

The lake (phm.store.lake, what ingest wrote) holds each pump's vibration snapshots and its
temperature and process rows; the plant's fault history (the CSV the knowledge graph reads,
phm.kg.fault_history, with a `mode` column: the failure mode the repair found) says when each
pump failed and how. Every snapshot becomes one window, built as the live monitor builds it
(`pump_rows_at` and `plant_windows`, shared with `--dataset plant`), labelled by the pump's
next failure (`label_rule`):

    "onset" (the default): snapshot time t, next failure of the asset at f >= t with mode m:
        the pump's own anomaly score (`health_scores`: the healthy-baseline features of its
        first LAKE_COMMISSION snapshots, as phm.monitor.baseline_scorer commissions them)
        walked back from f: the last run of snapshots above its healthy band within
        `onset_max_h` of f starts at s (s = f - `onset_min_h` where that is earlier)
        fault  m if t >= s; left out if f - onset_max_h < t < s (a fault may develop there
               unseen: neither label is sure); else healthy
    "fixed": fault m if f - t <= `fault_window_h`, else healthy (the `guard_h` before that
        window left out of the fit windows)
    either rule: RUL (f - t) hours, event
    no failure ahead (an asset that never failed):
        fault  healthy; RUL censored at the end of the asset's record (unknown beyond it)
    after an asset's last failure: left out (the log does not say when it was back in
    service, so the state of those snapshots is unknown)

Whole assets are held out: `test_fraction` of the plant's pumps (drawn from the seed) test,
`val_fraction` of the others validate (early stopping, RUL interval calibration); no asset
has windows on two sides. The checkpoint is a pump checkpoint of dataset "lake" (the pump
scorer takes it like a `--dataset plant` one); its header's `training` names the test assets.

The lake is handed in open (`LakeOptions.lake`: a phm.store.lake.Lake): the models layer
reads it through its methods only and never imports the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phm.errors import ConfigError
from phm.features.spectral import band_energies, crest_factor, kurtosis, rms
from phm.kg.fault_history import read_fault_history
from phm.models.data import Prepared, TrainConfig
from phm.models.prepare_plant import PLANT_CLASSES, PLANT_RUL_UNIT_S, pump_prepared
from phm.models.windows import pump_rows_at

LAKE_FAULT_WINDOW_H = 24.0  # a failure's mode labels the snapshots this close before it
LAKE_TEST_FRACTION = 0.25  # share of the plant's pumps held out to test
LAKE_GUARD_H = 0.0  # fit windows left out this long before the fault window (unsure labels)
LAKE_LABEL_RULES = ("fixed", "onset")  # how far before a failure its mode labels (module doc)
LAKE_LABEL_RULE = "onset"  # the default, chosen on validation pumps (docs/i18/lake.md)
LAKE_ONSET_MIN_H = 6.0  # "onset": a failure's mode labels at least this long before it ...
LAKE_ONSET_MAX_H = 48.0  # ... and at most this long (where the pump's score left its band)
LAKE_COMMISSION = 12  # "onset": the first snapshots of a pump are its healthy reference ...
LAKE_MARGIN = 3.0  # ... and its band is this times their highest anomaly score
HEALTH_BANDS = 8  # equal-width band energies of the anomaly score's features
LOG_FLOOR = 0.02  # least spread of a log10 feature (about 5%), as the baseline scorer's
SHAPE_FLOOR = 0.05  # least spread of kurtosis and crest factor, relative to their median
UNSURE_FIT = ("drop", "ignore")  # unsure fit snapshots: left out, or kept for RUL only
IGNORE_FAULT = -100  # a fault target the classifier's loss skips (torch cross_entropy's default)


@dataclass(frozen=True)
class Failure:
    """One failure of the fault history: asset, time (Unix s), failure mode, root cause."""

    asset_id: str
    time: float
    mode: str
    cause: str


def read_failures(path: str | Path, classes: Sequence[str] = PLANT_CLASSES) -> list[Failure]:
    """The failures of the fault-history CSV at `path` (asset, failed_at, cause and mode
    columns; a time without a zone is UTC), sorted by time. A missing or unknown mode fails
    naming the file, line and field."""
    modes = tuple(classes[1:])
    out = []
    for place, row in read_fault_history(path):
        mode = row.get("mode", "")
        if mode not in modes:
            found = f"{mode!r} is not a failure mode" if mode else "is empty or missing"
            raise ConfigError(
                f"{place}: field 'mode' {found}; `phm train --dataset lake` needs the failure "
                f"mode of each failure, one of {', '.join(modes)}"
            )
        at = datetime.fromisoformat(row["failed_at"])
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        out.append(Failure(row["asset"], at.timestamp(), mode, row["cause"]))
    return sorted(out, key=lambda f: (f.time, f.asset_id))


def lake_labels(
    times: np.ndarray,
    failures: Sequence[Failure],
    end: float,
    fault_window_s: float,
    classes: Sequence[str] = PLANT_CLASSES,
    guard_s: float = 0.0,
) -> dict[str, np.ndarray]:
    """Targets of one asset's snapshots at `times` (S,) Unix s from its `failures` and the
    end of its record `end` (see the module doc): fault class (S,), RUL hours (S,), event
    (S,) and `keep` (S,), False after the asset's last failure and, with `guard_s` > 0, for
    the snapshots between fault_window_s and fault_window_s + guard_s before a failure (a
    fault may already show there: neither label is sure)."""
    times = np.asarray(times, dtype=np.float64)
    fail_t = np.array(sorted(f.time for f in failures), dtype=np.float64)
    fail_c = np.array([classes.index(f.mode) for f in sorted(failures, key=lambda f: f.time)])
    fault = np.zeros(len(times), np.int64)
    rul = (end - times) / PLANT_RUL_UNIT_S
    event = np.zeros(len(times), bool)
    keep = np.ones(len(times), bool)
    unsure = np.zeros(len(times), bool)
    if len(fail_t):
        nxt = np.searchsorted(fail_t, times, side="left")  # the first failure at or after t
        ahead = nxt < len(fail_t)
        keep = ahead
        lead = fail_t[nxt[ahead]] - times[ahead]
        rul[ahead] = lead / PLANT_RUL_UNIT_S
        event[ahead] = True
        fault[ahead] = np.where(lead <= fault_window_s, fail_c[nxt[ahead]], 0)
        band = (lead > fault_window_s) & (lead <= fault_window_s + guard_s)
        keep[np.flatnonzero(ahead)[band]] = False
        unsure[np.flatnonzero(ahead)[band]] = True
    return {
        "fault": fault, "rul": rul.astype(np.float32), "event": event, "keep": keep,
        "unsure": unsure,
    }  # fmt: skip


def health_features(vib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Condition features of snapshots `vib` (S, C, L), as the healthy-baseline scorer's
    (phm.monitor.baseline_scorer): per channel log10 RMS, kurtosis, crest factor and log10
    energy of HEALTH_BANDS equal bands. Values (S, F) and whether each is a log (F,)."""
    tiny = 1e-20
    x = np.asarray(vib, dtype=np.float64)
    energy = np.log10(band_energies(x, 1.0, HEALTH_BANDS) + tiny)  # (S, C, B); bands relative
    cols = [np.log10(rms(x) + tiny), kurtosis(x), crest_factor(x)]
    values = np.concatenate([np.stack(cols, axis=2), energy], axis=2)  # (S, C, 3 + B)
    is_log = np.array([True, False, False] + [True] * HEALTH_BANDS)
    return values.reshape(len(x), -1), np.tile(is_log, x.shape[1])


def health_scores(vib: np.ndarray, commission: int = LAKE_COMMISSION) -> tuple[np.ndarray, float]:
    """Anomaly score of each snapshot of one pump (S,) and its healthy band: the first
    `commission` snapshots are the reference (per feature median and 1.4826 x MAD, floored);
    a snapshot's score is the root mean square of its robust z-scores, smoothed by a running
    median of 3; the band's top is LAKE_MARGIN x the highest reference score."""
    X, is_log = health_features(vib)
    ref = X[:commission]
    median = np.median(ref, axis=0)
    floor = np.where(is_log, LOG_FLOOR, SHAPE_FLOOR * np.abs(median) + 1e-3)
    scale = np.maximum(1.4826 * np.median(np.abs(ref - median), axis=0), floor)
    raw = np.sqrt(np.mean(((X - median) / scale) ** 2, axis=1))
    padded = np.concatenate([raw[:1], raw, raw[-1:]])
    smooth = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    return smooth, float(LAKE_MARGIN * raw[:commission].max())


def onset_labels(
    times: np.ndarray,
    scores: np.ndarray,
    band: float,
    failures: Sequence[Failure],
    end: float,
    min_s: float,
    max_s: float,
    classes: Sequence[str] = PLANT_CLASSES,
) -> dict[str, np.ndarray]:
    """Targets as `lake_labels`, with each failure's mode from a data-driven onset: walking
    back from the failure, the pump's anomaly `scores` (S,) stay above `band` since some
    snapshot (the last run of such snapshots, within `max_s` before the failure and after the
    previous failure); the mode labels from that snapshot, and at least the last `min_s`.
    Snapshots between that start and `max_s` before the failure are left out (`keep` False:
    a fault may develop there unseen by the score, so neither label is sure); earlier ones
    are healthy."""
    times = np.asarray(times, dtype=np.float64)
    out = lake_labels(times, failures, end, min_s, classes)
    previous = -np.inf
    for f in sorted(failures, key=lambda f: f.time):
        inside = np.flatnonzero((times > max(previous, f.time - max_s)) & (times <= f.time))
        previous = f.time
        start = f.time - min_s
        k = len(inside) - 1
        while k >= 0 and scores[inside[k]] > band:
            start = min(start, times[inside[k]])
            k -= 1
        mode = classes.index(f.mode)
        out["fault"][inside[times[inside] >= start]] = mode
        out["keep"][inside[times[inside] < start]] = False
        out["unsure"][inside[times[inside] < start]] = True
    return out


def lake_pump_record(
    lake: Any, plant: Any, asset_id: str, samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A pump's whole record in the lake: snapshot times (S,) Unix s, vibration (S, C,
    samples) and its PUMP_CHANNELS rows (S, 9) as of each snapshot; None without snapshots
    or rows."""
    times, _, data = lake.read_waveforms(asset_id)
    if len(times) == 0:
        return None
    rows = pump_rows_at(lake, plant, asset_id, times)
    if rows is None:
        return None
    return times, np.ascontiguousarray(data[:, :, :samples]), rows


def lake_history(
    record: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: dict[str, np.ndarray],
    unsure: str = "drop",
) -> dict[str, np.ndarray]:
    """A record and its labels in the layout of `pump_history` (the snapshots `keep` says);
    with `unsure` = "ignore" the unsure snapshots (`labels["unsure"]`) stay, with fault target
    IGNORE_FAULT: they train the RUL head and give the windows after them their context, but
    not the classifier."""
    times, vib, rows = record
    fault = labels["fault"].copy()
    keep = labels["keep"]
    if unsure == "ignore" and "unsure" in labels:
        keep = keep | labels["unsure"]
        fault[labels["unsure"]] = IGNORE_FAULT
    return {
        "times": times[keep],
        "vibration": vib[keep],
        "rows": rows[keep],
        "fault": fault[keep],
        "rul": labels["rul"][keep],
        "event": labels["event"][keep],
    }


def split_assets(
    assets: Sequence[str], test_fraction: float, val_fraction: float, seed: int
) -> tuple[list[str], list[str], list[str]]:
    """(fit, validation, test) assets: whole assets, drawn from `seed`; at least one asset
    validates, and one tests when `test_fraction` > 0."""
    n = len(assets)
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * (n - n_test)))
    if n - n_test - n_val < 1:
        raise ConfigError(
            f"{n} assets cannot be split into fit, validation ({n_val}) and test ({n_test}) "
            "assets: the lake needs more assets (or a smaller --test-fraction)"
        )
    order = np.random.default_rng(seed).permutation(n)
    test = sorted(assets[i] for i in order[:n_test])
    val = sorted(assets[i] for i in order[n_test : n_test + n_val])
    fit = sorted(assets[i] for i in order[n_test + n_val :])
    return fit, val, test


@dataclass(frozen=True)
class LakeOptions:
    """The plant's lake (an open phm.store.lake.Lake) and `plant`, its fault history
    `failures` (CSV), the pumps' asset type, the fault window and the test share."""

    dataset: ClassVar[str] = "lake"
    lake: Any = None
    plant: Any = None
    failures: Path | None = None
    asset_type: str = "pump"
    fault_window_h: float = LAKE_FAULT_WINDOW_H
    guard_h: float = LAKE_GUARD_H
    test_fraction: float = LAKE_TEST_FRACTION
    label_rule: str = LAKE_LABEL_RULE
    onset_min_h: float = LAKE_ONSET_MIN_H
    onset_max_h: float = LAKE_ONSET_MAX_H
    unsure_fit: str = "drop"  # UNSURE_FIT: the unsure fit snapshots (validation, test: dropped)


def check_options(options: LakeOptions) -> None:
    """A clear error for options that cannot label (flags named as `phm train` spells them)."""
    if options.lake is None or options.plant is None or options.failures is None:
        raise ConfigError("--dataset lake needs --store (the plant's lake) and --failures CSV")
    if options.fault_window_h <= 0 or options.guard_h < 0:
        raise ConfigError(
            f"need --fault-window-h > 0 and --guard-h >= 0, got {options.fault_window_h}, "
            f"{options.guard_h}"
        )
    if options.label_rule not in LAKE_LABEL_RULES:
        raise ConfigError(
            f"--label-rule {options.label_rule!r}: expected one of {', '.join(LAKE_LABEL_RULES)}"
        )
    if not 0 < options.onset_min_h <= options.onset_max_h:
        raise ConfigError(
            f"need 0 < --onset-min-h <= --onset-max-h, got {options.onset_min_h}, "
            f"{options.onset_max_h}"
        )
    if not 0 <= options.test_fraction < 1:
        raise ConfigError(f"--test-fraction must be in [0, 1), got {options.test_fraction}")
    if options.unsure_fit not in UNSURE_FIT:
        raise ConfigError(f"unsure_fit {options.unsure_fit!r}: expected one of {UNSURE_FIT}")


def lake_records(
    options: LakeOptions, samples: int
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], list[Failure]]:
    """Every pump's record in the lake (`lake_pump_record`, pumps without one left out) and
    the failures of the fault history."""
    check_options(options)
    plant = options.plant
    pumps = [a.asset_id for a in plant.assets.values() if a.type == options.asset_type]
    failures = read_failures(options.failures)  # type: ignore[arg-type]
    unknown = sorted({f.asset_id for f in failures} - set(pumps))
    if unknown:
        raise ConfigError(
            f"{options.failures}: assets {unknown} are not {options.asset_type!r} assets of "
            f"the plant {plant.source}"
        )
    records = {}
    for aid in pumps:
        record = lake_pump_record(options.lake, plant, aid, samples)
        if record is not None:
            records[aid] = record
    if not records:
        raise ConfigError(f"the lake has no {options.asset_type} snapshots with rows to train on")
    return records, failures


def record_labels(
    record: tuple[np.ndarray, np.ndarray, np.ndarray],
    failures: Sequence[Failure],
    options: LakeOptions,
    guard: bool = True,
) -> dict[str, np.ndarray]:
    """The labels of one pump's record by `options.label_rule` ("fixed": `lake_labels` with
    the fault window and, where `guard`, the guard band; "onset": `onset_labels` on the
    pump's own anomaly scores)."""
    times, vib, _ = record
    end = float(times[-1])
    if options.label_rule == "fixed":
        guard_s = options.guard_h * 3600.0 if guard else 0.0
        return lake_labels(times, failures, end, options.fault_window_h * 3600.0, guard_s=guard_s)
    scores, band = health_scores(vib)
    return onset_labels(
        times, scores, band, failures, end, options.onset_min_h * 3600.0,
        options.onset_max_h * 3600.0,
    )  # fmt: skip


def prepare_lake(options: LakeOptions, tcfg: TrainConfig, seed: int) -> Prepared:
    """The windows of every pump in the lake, labelled from the fault history (module doc),
    split by asset into fit, validation and test."""
    records, failures = lake_records(options, int(tcfg.snapshot))
    return prepare_lake_records(records, failures, options, tcfg, seed)


def prepare_lake_records(
    records: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    failures: Sequence[Failure],
    options: LakeOptions,
    tcfg: TrainConfig,
    seed: int,
) -> Prepared:
    """`prepare_lake` on records already read (`lake_records`)."""
    check_options(options)
    fit, val, test = split_assets(sorted(records), options.test_fraction, tcfg.val_fraction, seed)

    def histories(assets: list[str], guard: bool) -> list[dict[str, np.ndarray]]:
        own = [[f for f in failures if f.asset_id == aid] for aid in assets]
        return [
            lake_history(
                records[aid],
                record_labels(records[aid], fs, options, guard),
                options.unsure_fit if guard else "drop",
            )
            for aid, fs in zip(assets, own, strict=True)
        ]

    # the guard band thins the fit windows only (validation and test score every window);
    # the onset rule's unsure snapshots are left out of validation and test
    return pump_prepared(
        histories(fit, True),
        histories(val, False),
        histories(test, False),
        tcfg,
        "lake",
        {
            "source": "lake",
            "failures": str(options.failures),
            "n_failures": len(failures),
            "label_rule": options.label_rule,
            "fault_window_h": options.fault_window_h,
            "guard_h": options.guard_h,
            "onset_min_h": options.onset_min_h,
            "onset_max_h": options.onset_max_h,
            "fit_assets": fit,
            "val_units": val,
            "test_assets": test,
        },
    )


__all__ = [
    "IGNORE_FAULT",
    "LAKE_COMMISSION",
    "LAKE_FAULT_WINDOW_H",
    "LAKE_GUARD_H",
    "LAKE_LABEL_RULE",
    "LAKE_LABEL_RULES",
    "LAKE_MARGIN",
    "LAKE_ONSET_MAX_H",
    "LAKE_ONSET_MIN_H",
    "LAKE_TEST_FRACTION",
    "UNSURE_FIT",
    "Failure",
    "LakeOptions",
    "check_options",
    "health_features",
    "health_scores",
    "lake_history",
    "lake_labels",
    "lake_pump_record",
    "lake_records",
    "onset_labels",
    "prepare_lake",
    "prepare_lake_records",
    "read_failures",
    "record_labels",
    "split_assets",
]
