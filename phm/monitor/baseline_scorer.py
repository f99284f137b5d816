"""The healthy-baseline scorer (`[types.X] scorer = "baseline"`): anomaly alerts for assets with
no failure history, hence no trained model.

Commissioning. The first `snapshots` vibration snapshots of an asset, or those of its first
`hours` (`[types.X.meta.baseline]`, `BaselineConfig`), are its healthy reference: per feature
(`condition_features`: log RMS, log ISO velocity RMS, kurtosis, crest factor, log band
energies, per channel; or, with `features = "shape"`, only what a sensor's gain cannot
change) the median and a robust spread (1.4826 x MAD, floored so a feature that barely moves
at commissioning does not turn noise into alarms). Each snapshot's anomaly score is the root
mean square of its robust z-scores; the alert threshold is `margin` x the `quantile` of the
commissioning snapshots' own scores, so it is set from healthy data only, never from faults.
With `method = "encoder"` the features are instead the reconstruction error of a small snapshot
encoder pretrained, by masked reconstruction, on the commissioning snapshots themselves
(`AssetEncoder`, `phm.models.snapshot_encoder`; its commissioning scores are out-of-fold);
`"both"` puts that error beside the statistical features in one score. The baseline (with the
encoder's weights) is written to `<store>/baselines/<asset>.json` and read back by a restarted
monitor.

Scoring. After commissioning, each call scores the snapshots that arrived since the asset's
last prediction (at most MAX_BATCH, the newest): the prediction's anomaly score is their median
score (one snapshot per monitor pass in a plant that sends a snapshot every few minutes; a
fast replay gives several, and one odd snapshot among them does not count), with their
maximum beside it. The score s maps to health = 2^(-s / threshold): at the threshold health is
0.5, the risk the monitor's `AlertPolicy` opens a watch at; at 2.3 x the threshold it reaches
the alarm risk (0.8). Where the type names an ISO 20816 machine group (`[types.X] iso20816`),
the snapshots' median velocity RMS and its zone ride along, and zone C caps health at 0.5,
zone D at 0.2. While commissioning, snapshots get a prediction with no health (no risk) and
top mode "commissioning".
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phm.config import from_mapping
from phm.errors import ConfigError
from phm.features.severity import ISO_BAND_HZ, SeverityZones, velocity_rms_mm_s
from phm.features.spectral import band_energies, crest_factor, kurtosis, rms
from phm.models.snapshot_encoder import SnapshotEncoder, SnapshotEncoderConfig, snapshot_bands
from phm.monitor.scorers import AssetScorer, ScoringModel
from phm.plant import Plant
from phm.store.lake import Lake
from phm.store.state import Prediction

log = logging.getLogger(__name__)

MODEL_NAME = "baseline"
N_BANDS = 8  # equal-width band energies up to Nyquist
MAD_TO_SD = 1.4826  # MAD of a normal distribution -> its standard deviation
LOG_FLOOR = 0.02  # least spread of a log10 feature (about 5%)
SHAPE_FLOOR = 0.05  # least spread of kurtosis and crest factor, relative to their median
ZONE_HEALTH = {"A": 1.0, "B": 1.0, "C": 0.5, "D": 0.2}  # the most health an ISO zone allows
BASELINE_DIR = "baselines"  # under the store, beside lake/ and state.sqlite
MAX_BATCH = 256  # newest snapshots one prediction looks at (a monitor far behind skips older)


@dataclass(frozen=True)
class BaselineConfig:
    """`[types.X.meta.baseline]`: how an asset of type X is commissioned and alerted."""

    snapshots: int = 32  # the first snapshots of an asset: its healthy reference ...
    hours: float = 0.0  # ... or, when > 0, all of its first hours (at least `snapshots` of them)
    quantile: float = 0.99  # of the commissioning snapshots' own scores ...
    margin: float = 3.0  # ... times this is the alert threshold (chosen on a validation rig)
    features: str = "level"  # "level" (scale-aware) or "shape" (gain-blind): condition_features
    method: str = "stats"  # "stats" (condition_features), "encoder" (SnapshotEncoder) or "both"
    seed: int = 0  # of the encoder's weights and masks (methods "encoder", "both")

    def __post_init__(self) -> None:
        if self.snapshots < 8:
            raise ValueError(f"snapshots = {self.snapshots}: expected at least 8")
        if not self.hours >= 0:
            raise ValueError(f"hours = {self.hours}: expected >= 0 (0: by snapshot count)")
        if not 0.5 <= self.quantile <= 1.0:
            raise ValueError(f"quantile = {self.quantile}: expected in [0.5, 1]")
        if not self.margin >= 1.0:
            raise ValueError(f"margin = {self.margin}: expected at least 1")
        if self.features not in FEATURE_SETS:
            raise ValueError(f"features = {self.features!r}: expected one of {FEATURE_SETS}")
        if self.method not in METHODS:
            raise ValueError(f"method = {self.method!r}: expected one of {METHODS}")


def baseline_config(plant: Plant, type_name: str) -> BaselineConfig:
    """The type's `[types.X.meta.baseline]` (defaults where absent); ConfigError names the file
    and the key of a bad value."""
    where = f"{plant.source}: [types.{type_name}.meta.baseline]"
    raw = plant.types[type_name].meta.get("baseline", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    try:
        return from_mapping(BaselineConfig, raw, where, "baseline")
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from None


FEATURE_SETS = ("level", "shape")
METHODS = ("stats", "encoder", "both")
ENCODER_FOLDS = 2  # the encoder's commissioning scores come from encoders fit on other folds


def condition_features(
    x: np.ndarray,
    fs: float,
    channels: tuple[str, ...],
    accel_unit: str = "g",
    features: str = "level",
) -> tuple[list[str], np.ndarray]:
    """Condition features of snapshots x (S, C, L) at `fs` Hz: names and values (S, F).

    Per channel, "level" (scale-aware): log10 RMS, log10 velocity RMS (mm/s, ISO band
    10-1000 Hz, or up to 0.45 fs where the rate is lower), kurtosis, crest factor, log10 energy
    of N_BANDS equal bands. "shape" (blind to the sensor's gain): kurtosis, crest factor and
    log10 of each band's share of the energy."""
    if features not in FEATURE_SETS:
        raise ValueError(f"features = {features!r}: expected one of {FEATURE_SETS}")
    x = np.asarray(x, dtype=np.float64)
    tiny = 1e-20  # an all-zero channel gives a finite (very low) log, not -inf
    energy = band_energies(x, fs, N_BANDS)  # (S, C, N_BANDS)
    parts: dict[str, np.ndarray] = {}
    if features == "level":
        band = ISO_BAND_HZ if fs >= 2 * ISO_BAND_HZ[1] else (ISO_BAND_HZ[0], 0.45 * fs)
        parts["log_rms"] = np.log10(rms(x) + tiny)
        parts["log_velocity"] = np.log10(velocity_rms_mm_s(x, fs, accel_unit, band) + tiny)
    else:
        energy = energy / (energy.sum(axis=-1, keepdims=True) + tiny)
    parts["kurtosis"] = kurtosis(x)
    parts["crest"] = crest_factor(x)
    energies = np.log10(energy + tiny)
    names, cols = [], []
    for c, channel in enumerate(channels):
        for name, values in parts.items():
            names.append(f"{channel}.{name}")
            cols.append(values[:, c])
        for b in range(N_BANDS):
            names.append(f"{channel}.log_band{b}")
            cols.append(energies[:, c, b])
    return names, np.stack(cols, axis=1)


@dataclass
class AssetEncoder:
    """An asset's `SnapshotEncoder`, pretrained on its commissioning snapshots, and the level
    its input is divided by: the commissioning median RMS per channel (`features = "level"`)
    or None, each snapshot's own RMS (`"shape"`, gain-blind). Its feature is the log10
    reconstruction error of a snapshot."""

    model: SnapshotEncoder
    reference: np.ndarray | None  # (C,)

    @classmethod
    def fit(cls, data: np.ndarray, features: str, seed: int = 0) -> AssetEncoder:
        """The encoder of commissioning snapshots `data` (N, C, L)."""
        reference = None
        if features == "level":
            reference = np.median(np.sqrt(np.mean(np.asarray(data, np.float64) ** 2, -1)), 0)
        cfg = SnapshotEncoderConfig(channels=data.shape[1], seed=seed)
        model = SnapshotEncoder(cfg).fit(snapshot_bands(data, reference, cfg.bands))
        return cls(model, reference)

    def features(self, data: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Names and values (S, 1) of snapshots (S, C, L): log10 reconstruction error."""
        _, error = self.model.embed(snapshot_bands(data, self.reference, self.model.config.bands))
        return ["encoder.log_recon_error"], np.log10(error + 1e-12)[:, None]

    def to_json(self) -> dict[str, Any]:
        reference = None if self.reference is None else self.reference.tolist()
        return {"model": self.model.to_json(), "reference": reference}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AssetEncoder:
        ref = raw["reference"]
        return cls(SnapshotEncoder.from_json(raw["model"]), None if ref is None else np.array(ref))


def encoder_commissioning_features(data: np.ndarray, features: str, seed: int = 0) -> np.ndarray:
    """Out-of-fold encoder features (N, 1) of commissioning snapshots (N, C, L): each snapshot
    scored by an encoder fit on the other folds (every ENCODER_FOLDS-th snapshot), since one
    fit on a few dozen snapshots reconstructs those very snapshots better than new healthy
    ones, and a threshold from them would alert on healthy data."""
    out = np.empty((len(data), 1))
    for k in range(ENCODER_FOLDS):
        held = np.arange(k, len(data), ENCODER_FOLDS)
        rest = np.setdiff1d(np.arange(len(data)), held)
        out[held] = AssetEncoder.fit(data[rest], features, seed + k + 1).features(data[held])[1]
    return out


def snapshot_features(
    data: np.ndarray,
    fs: float,
    channels: tuple[str, ...],
    cfg: BaselineConfig,
    encoder: AssetEncoder | None,
    accel_unit: str = "g",
) -> tuple[list[str], np.ndarray]:
    """The baseline's features of snapshots (S, C, L): `condition_features` with method
    "stats" or "both", the encoder's with "encoder" or "both" (then after the others)."""
    names: list[str] = []
    cols: list[np.ndarray] = []
    if cfg.method in ("stats", "both"):
        n, X = condition_features(data, fs, channels, accel_unit, cfg.features)
        names, cols = names + n, [*cols, X]
    if cfg.method in ("encoder", "both"):
        if encoder is None:
            raise ValueError(f"method = {cfg.method!r} needs the asset's encoder")
        n, X = encoder.features(data)
        names, cols = names + n, [*cols, X]
    return names, np.concatenate(cols, axis=1)


def fit_baseline(
    asset_id: str,
    data: np.ndarray,
    times: np.ndarray,
    fs: float,
    channels: tuple[str, ...],
    cfg: BaselineConfig,
    accel_unit: str = "g",
) -> HealthyBaseline:
    """The healthy baseline of commissioning snapshots `data` (N, C, L) taken at `times` (N,):
    with the encoder methods, the encoder is pretrained on them, and its commissioning scores
    are out-of-fold (`encoder_commissioning_features`)."""
    encoder = None
    if cfg.method in ("encoder", "both"):
        encoder = AssetEncoder.fit(data, cfg.features, cfg.seed)
    names, X = snapshot_features(data, fs, channels, cfg, encoder, accel_unit)
    if encoder is not None:
        X[:, -1:] = encoder_commissioning_features(data, cfg.features, cfg.seed)
    baseline = HealthyBaseline.fit(asset_id, names, X, times, cfg)
    baseline.encoder = encoder
    return baseline


@dataclass
class HealthyBaseline:
    """One asset's healthy reference: feature medians and spreads, the score threshold and the
    commissioning period it was learned on (times in Unix s)."""

    asset_id: str
    features: list[str]
    median: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    threshold: float
    start: float  # first commissioning snapshot
    until: float  # last commissioning snapshot
    snapshots: int
    scores: list[float] = field(default_factory=list)  # the commissioning snapshots' scores
    encoder: AssetEncoder | None = None  # with method "encoder" or "both"

    @classmethod
    def fit(
        cls, asset_id: str, names: list[str], X: np.ndarray, times: np.ndarray, cfg: BaselineConfig
    ) -> HealthyBaseline:
        """The baseline of commissioning features X (N, F) taken at `times` (N,)."""
        median = np.median(X, axis=0)
        mad = MAD_TO_SD * np.median(np.abs(X - median), axis=0)
        floor = np.array(
            [
                LOG_FLOOR if ".log_" in n else SHAPE_FLOOR * abs(m) + 1e-3
                for n, m in zip(names, median, strict=True)
            ]
        )
        out = cls(
            asset_id, list(names), median, np.maximum(mad, floor), 0.0,
            float(times[0]), float(times[-1]), len(times),
        )  # fmt: skip
        scores = out.score(X)
        out.scores = [float(s) for s in scores]
        out.threshold = float(cfg.margin * np.quantile(scores, cfg.quantile))
        return out

    def zscores(self, X: np.ndarray) -> np.ndarray:
        """Robust z-scores (S, F) of features X (S, F)."""
        return (np.asarray(X, dtype=np.float64) - self.median) / self.scale

    def score(self, X: np.ndarray) -> np.ndarray:
        """Anomaly scores (S,): the root mean square of the robust z-scores."""
        return np.sqrt(np.mean(self.zscores(X) ** 2, axis=1))

    def to_json(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "features": self.features,
            "median": self.median.tolist(),
            "scale": self.scale.tolist(),
            "threshold": self.threshold,
            "start": self.start,
            "until": self.until,
            "snapshots": self.snapshots,
            "scores": self.scores,
            "encoder": None if self.encoder is None else self.encoder.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HealthyBaseline:
        return cls(
            raw["asset_id"], list(raw["features"]), np.asarray(raw["median"], np.float64),
            np.asarray(raw["scale"], np.float64), float(raw["threshold"]), float(raw["start"]),
            float(raw["until"]), int(raw["snapshots"]), list(raw.get("scores", [])),
            AssetEncoder.from_json(raw["encoder"]) if raw.get("encoder") else None,
        )  # fmt: skip


def anomaly_health(score: float, threshold: float) -> float:
    """Health in (0, 1] of an anomaly score: 2^(-score / threshold) (0.5 at the threshold)."""
    return float(2.0 ** (-score / threshold)) if threshold > 0 else 0.0


class BaselineScorer(AssetScorer):
    """Anomaly scores against each asset's own healthy baseline; needs no checkpoint."""

    dataset = "baseline"  # no `phm train` dataset: the monitor never hands it a checkpoint
    graph_name = "rotating_equipment"

    def __init__(
        self, type_name: str, plant: Plant, lake: Lake, model: ScoringModel | None
    ) -> None:
        super().__init__(type_name, plant, lake, model)
        spec = plant.types[type_name]
        if "vibration" not in spec.streams or spec.streams["vibration"].kind != "waveform":
            raise ConfigError(
                f'{plant.source}: [types.{type_name}] scorer = "baseline" needs a waveform '
                "stream named vibration"
            )
        self.config = baseline_config(plant, type_name)
        self.channels = spec.streams["vibration"].channels
        self.severity = spec.iso20816
        self.zones = (
            SeverityZones(self.severity.group, self.severity.foundation) if self.severity else None
        )
        self.accel_unit = self.severity.accel_unit if self.severity else "g"
        self.folder = Path(lake.root).parent / BASELINE_DIR
        self.baselines: dict[str, HealthyBaseline] = {}

    def score(self, asset_id: str, after: float) -> Prediction | None:
        """The prediction of the asset's snapshots newer than `after` (s), at the newest one's
        time; None when there are none."""
        latest = self.lake.latest_time("vibration", asset_id)  # cheap: no waveform read
        if latest is None or latest <= after:
            return None
        start = after if math.isfinite(after) else None
        times, fs, data = self.lake.read_waveforms(asset_id, start=start)
        new = np.flatnonzero(times > after)[-MAX_BATCH:]
        if new.size == 0:
            return None
        baseline = self.baseline(asset_id)
        t = float(times[new[-1]])
        details: dict[str, Any] = {"unit": "anomaly score (RMS of robust z-scores)"}
        if self.zones is not None:
            band = ISO_BAND_HZ if fs >= 2 * ISO_BAND_HZ[1] else (ISO_BAND_HZ[0], 0.45 * fs)
            velocity = velocity_rms_mm_s(data[new], fs, self.accel_unit, band)  # (S, C)
            v = float(np.median(velocity.max(axis=1)))
            details["iso20816"] = {
                "velocity_mm_s": v,
                "zone": self.zones.zone(v),
                "group": self.zones.group,
                "foundation": self.zones.foundation,
            }
        scored = times[new] > (baseline.until if baseline is not None else np.inf)
        if not scored.any():
            learned = 0 if baseline is None else baseline.snapshots
            details |= {"top_mode": "commissioning", "baseline_snapshots": learned}
            return Prediction(asset_id, t, MODEL_NAME, {}, None, None, None, None, [], details)
        assert baseline is not None
        try:
            names, X = snapshot_features(
                data[new][scored], fs, self.channels, self.config, baseline.encoder,
                self.accel_unit,
            )  # fmt: skip
        except ValueError:
            names = []
        if names != baseline.features:
            raise ConfigError(
                f"{self.folder / (asset_id + '.json')}: baseline features differ from the "
                "scorer's; delete the file to commission the asset again"
            )
        scores = baseline.score(X)
        s = float(np.median(scores))
        health = anomaly_health(s, baseline.threshold)
        if "iso20816" in details:
            health = min(health, ZONE_HEALTH[details["iso20816"]["zone"]])
        mode = "healthy" if health > 0.5 else "anomaly"
        if mode == "anomaly" and s < baseline.threshold:
            mode = f"ISO 20816 zone {details['iso20816']['zone']}"
        details |= {
            "top_mode": mode,
            "anomaly_score": s,
            "anomaly_max": float(scores.max()),
            "snapshots": int(scored.sum()),
            "threshold": baseline.threshold,
            "deviations": self._deviations(baseline, np.median(X, axis=0)),
        }
        return Prediction(
            asset_id, t, MODEL_NAME, {"healthy": health, "anomaly": 1.0 - health},
            None, None, None, health, [], details,
        )  # fmt: skip

    def root_causes(self, asset_id: str, pred: Prediction) -> dict[str, Any]:
        """No failure history, no causes to rank: the features furthest from the baseline
        (`deviations`, robust z-scores) are what an anomaly alert can show."""
        return {"root_causes": [], "deviations": pred.details.get("deviations", {})}

    def baseline(self, asset_id: str) -> HealthyBaseline | None:
        """The asset's baseline: cached, else read from its file, else fitted on its
        commissioning snapshots in the lake and written: the first `snapshots`, or with
        `hours` every snapshot of the asset's first hours (extended to `snapshots` where that
        period holds fewer). None until the period is over."""
        if asset_id in self.baselines:
            return self.baselines[asset_id]
        path = self.folder / f"{asset_id}.json"
        if path.is_file():
            try:
                got = HealthyBaseline.from_json(json.loads(path.read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}: not a healthy baseline ({exc}); delete it to "
                                  "commission the asset again") from None  # fmt: skip
            self.baselines[asset_id] = got
            return got
        times, fs, data = self.lake.read_waveforms(asset_id)
        n = self.config.snapshots
        if len(times) < n:
            return None
        if self.config.hours > 0:
            until = float(times[0]) + 3600.0 * self.config.hours
            if times[-1] <= until:  # the commissioning period is not over yet
                return None
            n = max(n, int(np.searchsorted(times, until, side="right")))
        baseline = fit_baseline(
            asset_id, data[:n], times[:n], fs, self.channels, self.config, self.accel_unit
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(baseline.to_json()))
        os.replace(tmp, path)  # a crash leaves the old file or the new one, never half
        log.info("%s commissioned on %d snapshots: threshold %.2f", asset_id, n, baseline.threshold)
        self.baselines[asset_id] = baseline
        return baseline

    @staticmethod
    def _deviations(baseline: HealthyBaseline, feats: np.ndarray, top: int = 5) -> dict:
        z = baseline.zscores(feats[None, :])[0]
        order = np.argsort(-np.abs(z))[:top]
        return {baseline.features[i]: round(float(z[i]), 2) for i in order}
